"""Run the book's chapters with papermill, in order, with one profile and device.

Each chapter's ``parameters`` cell receives ``profile``, ``device``, ``build_dir`` and any ``-p``
override it declares. An override no selected chapter declares is an error before anything runs.
Executed notebooks go to ``<out>/notebooks/`` through a temporary name, so a failing chapter never
replaces a good earlier output: it is kept as ``<name>.failed.ipynb`` for inspection.
"""

from __future__ import annotations

import ast
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..config import load_profile
from ..errors import MindgapError
from ..util.atomic import sweep_stale_temporaries, temp_name
from .report import collect_metrics

__all__ = ["CHAPTERS", "ChapterError", "RunResult", "find_chapters", "chapter_parameters", "check_parameters",
           "parse_value", "run_chapters"]

# the book's chapters, in reading order; a chapter whose notebook does not exist yet is skipped with a warning
CHAPTERS = ("01_datasets", "02_tagger", "03_transport", "04_closure", "05_vertical_vs_horizontal", "06_beyond",
            "07_geometry")
FIXED = ("profile", "device", "build_dir")  # passed to every chapter that declares them


class ChapterError(MindgapError, ValueError):
    """A chapter selection or parameter that cannot be run (unknown chapter, unknown parameter)."""


@dataclass
class RunResult:
    """What a run did: executed notebooks, the failure (if any), and seconds per chapter."""

    executed: list[Path] = field(default_factory=list)
    failed: Path | None = None
    error: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.failed is None


def find_chapters(book_dir: str | os.PathLike = "book", select: Iterable[str] | None = None,
                  chapters: Iterable[str] = CHAPTERS) -> list[Path]:
    """The chapter notebooks to run, in book order; ``select`` holds prefixes such as ``01`` or ``03_transport``."""
    book_dir = Path(book_dir)
    chapters = list(chapters)
    if select:
        wanted = []
        for s in select:
            match = [c for c in chapters if c == s or c.split("_", 1)[0] == s.split("_", 1)[0]]
            if not match:
                raise ChapterError(f"unknown chapter {s!r} (chapters: {', '.join(chapters)})")
            wanted += [m for m in match if m not in wanted]
        chapters = [c for c in chapters if c in wanted]
    found = []
    for c in chapters:
        path = book_dir / f"{c}.ipynb"
        if path.is_file():
            found.append(path)
        else:
            warnings.warn(f"chapter {c}: {path} does not exist yet, skipped", stacklevel=2)
    return found


def chapter_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """Names (and defaults) of a chapter's ``parameters`` cell, read with papermill."""
    import nbformat
    from papermill.translators import papermill_translators

    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        return {}
    translator = papermill_translators.find_translator("python3", "python")  # chapters are Python notebooks
    return {p.name: p.default for p in translator.inspect(cells[0])}


def check_parameters(notebooks: Iterable[Path], overrides: Mapping[str, Any]) -> dict[Path, dict[str, Any]]:
    """Per notebook, its declared parameter names; an override no notebook declares is a ChapterError."""
    declared = {nb: chapter_parameters(nb) for nb in notebooks}
    known = set().union(*declared.values()) if declared else set()
    unknown = sorted(set(overrides) - known - set(FIXED))
    if unknown:
        raise ChapterError(f"unknown parameter(s) {', '.join(unknown)}: not in the parameters cell of any selected "
                           f"chapter ({', '.join(nb.stem for nb in declared)}); known: {', '.join(sorted(known))}")
    return declared


def parse_value(text: str) -> Any:
    """``-p NAME VALUE``: a Python literal (1, 0.5, True, None, [1, 2], "x") or else the plain string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def _describe_failure(err: Exception) -> str:
    cell = getattr(err, "exec_count", None)
    index = getattr(err, "cell_index", None)
    where = f"cell [{cell}]" if cell is not None else "a cell"
    if index is not None:
        where += f" (index {index})"
    ename, evalue = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", str(err))
    source = (getattr(err, "source", "") or "").strip().splitlines()
    snippet = ("\n    " + "\n    ".join(source[:6])) if source else ""
    return f"{where}: {ename}: {evalue}{snippet}"


def _execute(nb: Path, out_dir: Path, params: dict[str, Any], cwd: Path, progress: bool) -> tuple[Path, str | None]:
    """Execute one notebook to a temp name; rename to its final name, or to ``.failed.ipynb`` on error."""
    import papermill

    final = out_dir / nb.name
    failed = out_dir / f"{nb.stem}.failed.ipynb"
    tmp = temp_name(out_dir / f"{nb.stem}.ipynb").with_suffix(".ipynb")  # unique: runs never share a half-written notebook
    try:
        papermill.execute_notebook(str(nb), str(tmp), parameters=params, cwd=str(cwd), kernel_name="python3",
                                   progress_bar=progress, log_output=False)
    except Exception as err:  # papermill's PapermillExecutionError, or a kernel that died
        if tmp.exists():
            os.replace(tmp, failed)
        return failed, _describe_failure(err)
    os.replace(tmp, final)
    failed.unlink(missing_ok=True)
    return final, None


def run_chapters(profile: str | os.PathLike = "cpu", chapters: Iterable[str] | None = None, device: str = "cpu",
                 overrides: Mapping[str, Any] | None = None, out: str | os.PathLike | None = None,
                 book_dir: str | os.PathLike = "book", progress: bool = True) -> RunResult:
    """Execute the selected chapters in order into ``<out>/notebooks/``, then gather ``<out>/metrics.json``.

    ``out`` defaults to ``build/<profile name>`` and must end in the profile's name (the chapters
    receive ``build_dir = out.parent`` and keep their artifacts under ``out/artifacts``).
    Stops at the first failing chapter: the result names it and the cell, the partially executed
    notebook is kept as ``<name>.failed.ipynb``, earlier outputs are untouched.
    """
    overrides = dict(overrides or {})
    name = load_profile(profile).name  # an unknown or invalid profile fails here, before any kernel starts
    out = Path(out) if out is not None else Path("build") / name
    if out.name != name:
        raise ChapterError(f"--out {out}: must end in the profile name {name!r} (artifacts live in <build_dir>/<profile>)")
    notebooks = find_chapters(book_dir, chapters)
    declared = check_parameters(notebooks, overrides)
    given = Path(str(profile))  # a TOML path must survive the chapters' working directory (the repo root)
    fixed = {"profile": str(given.resolve()) if given.suffix == ".toml" else str(profile), "device": device,
             "build_dir": str(out.parent.resolve())}
    nb_dir = out / "notebooks"
    nb_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale_temporaries(nb_dir)  # a killed run's half-written notebook; a live run's is kept by its pid
    cwd = Path(book_dir).resolve().parent
    result = RunResult()
    for nb in notebooks:
        params = {k: v for k, v in {**fixed, **overrides}.items() if k in declared[nb]}
        print(f"[mindgap run] {nb.stem} ({', '.join(f'{k}={v!r}' for k, v in params.items())})", flush=True)
        t0 = time.perf_counter()
        path, error = _execute(nb, nb_dir, params, cwd, progress)
        result.seconds[nb.stem] = round(time.perf_counter() - t0, 2)
        if error is not None:
            result.failed, result.error = path, f"chapter {nb.stem} failed in {error}"
            break
        result.executed.append(path)
        print(f"[mindgap run] {nb.stem} done in {result.seconds[nb.stem]:.1f} s -> {path}", flush=True)
    result.metrics = collect_metrics(out, name)
    return result
