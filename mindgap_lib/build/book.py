"""Build the Jupyter Book from executed notebooks (Jupyter Book itself never executes anything).

The executed chapters of ``build/<profile>/notebooks/`` are staged with ``_config.yml``, a table of
contents trimmed to the chapters that ran, and ``intro.md`` rendered from ``book/intro.md`` with the
"paper vs ours" table filled from ``build/<profile>/metrics.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

from ..claims import PAPER, metric
from ..config import load_profile
from ..errors import MindgapError

__all__ = ["BookError", "stage_book", "build_book", "paper_vs_ours", "render_intro", "TABLE_MARKER", "RUN_MARKER"]

TABLE_MARKER = "<!-- paper-vs-ours -->"
RUN_MARKER = "<!-- run-info -->"


class BookError(MindgapError, ValueError):
    """Nothing to build from (no executed chapters), or Jupyter Book failed."""


# ---------------------------------------------------------------- the "paper vs ours" table

def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, Mapping) and "value" in value:
        err = value.get("err")
        return _fmt(value["value"], digits) + (f" ± {_fmt(err, 2)}" if err is not None else "")
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _layers(m: Mapping) -> list[str]:
    return list(metric(m, "evaluation.layers.evaluated") or ["z128", "penultimate", "logits"])


def _auc(kind: str) -> Callable[[Mapping], str]:
    def ours(m: Mapping) -> str:
        return "; ".join(f"{layer} {_fmt(metric(m, f'evaluation.auc.{kind}.{layer}'))}" for layer in _layers(m))
    return ours


def _closure(m: Mapping) -> str:
    closure = metric(m, "evaluation.closure") or {}
    cells = [f"{name}: {_fmt(c.get('w1_excess_source'))} → {_fmt(c.get('w1_excess_calibrated'))} "
             f"(vertical {_fmt(c.get('w1_excess_vertical'))}; floor {_fmt(c.get('w1_null'))})"
             for name, c in closure.items() if isinstance(c, Mapping)]
    return "; ".join(cells) or "—"


def _post_activation(m: Mapping) -> str:
    row = metric(m, "evaluation.post_activation.auc.calibrated_post_vs_target") or {}
    return "; ".join(f"{layer} {_fmt(cell)}" for layer, cell in row.items()) or "—"


def _scan(m: Mapping) -> str:
    points = metric(m, "scan.points") or []
    return "; ".join(f"{p.get('variation')}: {_fmt(p.get('ess_fraction'))}" for p in points) or "—"


def _ratio(m: Mapping, a: str, b: str) -> str:
    return f"{_fmt(metric(m, a))} → {_fmt(metric(m, b))}"


# (what, the paper's figure/number, ours from metrics.json, chapter notebook)
ROWS: tuple[tuple[str, str, Callable[[Mapping], str], str], ...] = (
    ("Fig. 1: charged-track d0, robust width target / source", PAPER["d0_width"],
     lambda m: _fmt(metric(m, "chapters.01_datasets.d0_width_ratio")), "01_datasets"),
    ("Fig. 1 (authors' inputs): median σ(d0) target / source", PAPER["d0err"],
     lambda m: _fmt(metric(m, "chapters.01_datasets.d0err_median_ratio")), "01_datasets"),
    ("Authors' inputs: dz width target / source", PAPER["dz"],
     lambda m: _fmt(metric(m, "chapters.01_datasets.dz_width_ratio")), "01_datasets"),
    ("Fig. 1: jet constituents, mean source → target", PAPER["nparticles"],
     lambda m: _ratio(m, "chapters.01_datasets.nparticles_mean_source", "chapters.01_datasets.nparticles_mean_target"),
     "01_datasets"),
    ("Table 1: tagger accuracy (ten classes)", "not quoted (trained on 100 M JetClass jets)",
     lambda m: _fmt(metric(m, "tagger.accuracy")), "02_tagger"),
    ("Tagger macro AUC (one vs rest)", "not quoted", lambda m: _fmt(metric(m, "tagger.macro_auc")), "02_tagger"),
    ("Exact W2 (2000 eval jets) from source to target latent, before → after the map", "not quoted",
     lambda m: _ratio(m, "transport.w2_emd_before", "transport.w2_emd_after"), "03_transport"),
    ("Beyond the paper: directions of the latent the map acts in (variance > subspace_tol × largest)",
     "all 128 (standardised per dimension)", lambda m: _fmt(metric(m, "transport.map_dims")), "03_transport"),
    ("Fig. 3: PCA corner plots of the latent", "discrepancy visibly removed",
     lambda m: "see the figure" if metric(m, "evaluation") else "—", "04_closure"),
    ("Fig. 4a: AUC source vs target (cross-fitted, eval jets only)", PAPER["source_vs_target_z"],
     _auc("source_vs_target"), "04_closure"),
    ("Fig. 4a / 9: AUC calibrated vs target", PAPER["calibrated_vs_target"], _auc("calibrated_vs_target"),
     "04_closure"),
    ("Null test: AUC independent target vs target", "not shown", _auc("target_vs_target"), "04_closure"),
    ("Fig. 5 / 11: log-likelihood ratios, W1 excess over the floor (source → calibrated)", PAPER["llr"], _closure,
     "04_closure"),
    ("Fig. 4b / eq. 5: vertical-calibration ESS fraction", PAPER["ess"],
     lambda m: _fmt(metric(m, "evaluation.vertical.ess_fraction")), "05_vertical_vs_horizontal"),
    ("Eq. 5 vs overlap: vertical ESS fraction along the d0-smearing scan", "not shown", _scan,
     "05_vertical_vs_horizontal"),
    ("Beyond the paper: map fitted after the GELU, AUC calibrated vs target", "not studied",
     _post_activation, "05_vertical_vs_horizontal"),
)


def paper_vs_ours(metrics: Mapping[str, Any], chapters: set[str] | None = None) -> str:
    """The markdown table of every figure and number of the paper beside ours (``—``: not run)."""
    lines = ["| figure / number | paper | ours | chapter |", "| --- | --- | --- | --- |"]
    for what, paper, ours, chapter in ROWS:
        try:
            value = ours(metrics)
        except (TypeError, KeyError, AttributeError):
            value = "—"
        link = f"[{chapter[:2]}]({chapter}.ipynb)" if chapters is None or chapter in chapters else chapter[:2]
        lines.append(f"| {what} | {paper} | {value} | {link} |")
    return "\n".join(lines)


def render_intro(template: str, metrics: Mapping[str, Any], chapters: set[str] | None = None) -> str:
    """Fill the intro's markers: the table and a line saying which run the numbers come from."""
    versions = metrics.get("versions", {})
    folders = metrics.get("folders") or {}
    main = [folders[k] for k in folders if k.split("[")[0] in ("tagger", "transport", "evaluation")]
    hashes = (", ".join(f"`{v}`" for v in main) + f" ({len(folders)} stage folders in all)") if folders else "none yet"
    run = (f"Numbers below: profile **{metrics.get('profile', '?')}**, artifacts {hashes}; "
           f"mindgap_lib {versions.get('mindgap_lib', '?')}, torch {versions.get('torch', '?')}, "
           f"pythia8mc {versions.get('pythia8mc', '?')}.")
    text = template.replace(RUN_MARKER, run).replace(TABLE_MARKER, paper_vs_ours(metrics, chapters))
    if chapters is not None:  # links to chapters left out of this build become plain text
        text = re.sub(r"\[([^\]]+)\]\((\d\d_\w+)\.ipynb\)",
                      lambda m: m.group(0) if m.group(2) in chapters else f"{m.group(1)} (not in this build)", text)
    return text


# ---------------------------------------------------------------- staging and building

def _trim_toc(toc: str, present: set[str]) -> str:
    keep = []
    for line in toc.splitlines():
        stripped = line.strip()
        if stripped.startswith("- file: book/") and stripped.split("book/", 1)[1] not in present:
            continue
        keep.append(line)
    return "\n".join(keep) + "\n"


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# plotly's notebook renderer always adds MathJax 2 from a CDN to each figure; the site serves MathJax 3 itself
PLOTLY_CDN_MATHJAX = re.compile(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*"></script>')
MATHJAX = "mathjax/tex-svg.js"  # under _static: MathJax 3 with its fonts inline (the `mathjax_path` in _config.yml)


# log lines of the library (stage runs, worker counts) that belong in a terminal, not on a page
LOG_LINE = re.compile(r"^(\[mindgap\]|discriminators: |smearing scan: )")


def _tidy_outputs(cell: dict) -> None:
    """Drop stderr (progress bars, warnings) and the library's log lines from a cell's outputs."""
    kept = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            if out.get("name") == "stderr":
                continue
            text = "".join(out.get("text", ""))
            lines = [line for line in text.splitlines(keepends=True) if not LOG_LINE.match(line)]
            if not lines:
                continue
            out["text"] = "".join(lines)
        kept.append(out)
    cell["outputs"] = kept


def _relative_parameters(cell: dict, project: Path) -> None:
    """papermill's injected parameters hold this machine's absolute paths: show them relative to the project."""
    source = "".join(cell.get("source", ""))
    root = str(project.resolve())
    cell["source"] = source.replace(root + "/", "").replace(root, ".")


def _stage_notebook(path: Path, dest: Path, project: Path = Path(".")) -> None:
    """Copy an executed notebook, dropping what cannot render without a kernel or does not read well.

    Outputs of ``remove-output`` cells and live-widget views are removed here (papermill saves no
    widget state, so a static page could only show an empty box), which also keeps MyST-NB from
    adding require.js and the widget manager from a CDN to the page; so is the MathJax 2 that
    plotly links from a CDN into every figure (the page's own MathJax 3 serves both). Progress bars
    and the library's log lines are dropped, the injected parameters show relative paths, and every
    code cell but the parameters is collapsed (``hide-input``: a toggle shows it).
    """
    nb = json.loads(path.read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "remove-output" in tags:
            cell["outputs"] = []
        if "injected-parameters" in tags:
            _relative_parameters(cell, project)
        elif "parameters" not in tags and "hide-input" not in tags:
            tags.append("hide-input")
        cell["outputs"] = [o for o in cell.get("outputs", []) if WIDGET_VIEW not in o.get("data", {})]
        _tidy_outputs(cell)
        for out in cell["outputs"]:
            html = out.get("data", {}).get("text/html")
            if html is not None:
                text = "".join(html) if isinstance(html, list) else html
                out["data"]["text/html"] = PLOTLY_CDN_MATHJAX.sub("", text)
    nb.get("metadata", {}).pop("widgets", None)
    dest.write_text(json.dumps(nb))


SCRIPT_SRC = re.compile(r'^<script\b[^>]*\bsrc="([^"?]+)')


def _dedupe_scripts(html_dir: Path) -> None:
    """Drop a ``<script>`` line that repeats an earlier one: Jupyter Book 1.0 emits sphinx-thebe's config
    twice ("THEBE_JS_URL has already been declared") and, with a local ``mathjax_path``, loads MathJax a
    second time without ``defer`` ("Cannot set property Package"). The first of each is kept."""
    for page in html_dir.rglob("*.html"):
        lines, seen, changed = page.read_text().splitlines(keepends=True), set(), False
        out = []
        for line in lines:
            stripped = line.strip()
            src = SCRIPT_SRC.match(stripped)
            key = src.group(1) if src else stripped
            if (src or stripped.startswith("<script>const THEBE_JS_URL")) and key in seen:
                changed = True
                continue
            seen.add(key)
            out.append(line)
        if changed:
            page.write_text("".join(out))


def _copy_mathjax(static: Path) -> None:
    """MathJax 3 (the ``django-static-mathjax`` package's single-file ``tex-svg.js``) into the site: math renders offline."""
    from importlib.resources import files

    source = files("mathjax") / "static" / "mathjax" / "es5" / "tex-svg.js"
    if not source.is_file():
        raise BookError(f"MathJax not found at {source}: install the project (`make install`)")
    (static / MATHJAX).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(str(source), static / MATHJAX)


def stage_book(profile: str | os.PathLike = "cpu", build_dir: str | os.PathLike = "build",
               project_dir: str | os.PathLike = ".") -> Path:
    """Copy config, toc, the rendered intro and the executed notebooks into ``<root>/book_src``."""
    project, root = Path(project_dir), Path(build_dir) / load_profile(profile).name
    executed = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    executed = [p for p in executed if not p.name.endswith(".failed.ipynb")]
    if not executed:
        raise BookError(f"no executed chapters under {root / 'notebooks'}: run `mindgap run --profile {profile}` first")
    src = root / "book_src"
    shutil.rmtree(src, ignore_errors=True)
    (src / "book").mkdir(parents=True)
    shutil.copy2(project / "_config.yml", src / "_config.yml")
    _copy_mathjax(src / "_static")
    present = {p.stem for p in executed}
    toc = (project / "_toc.yml").read_text()
    missing = [line.split("book/", 1)[1].strip() for line in toc.splitlines() if "- file: book/" in line]
    for name in sorted(set(missing) - present):
        warnings.warn(f"chapter {name} has no executed notebook in {root / 'notebooks'}; left out of the book",
                      stacklevel=2)
    (src / "_toc.yml").write_text(_trim_toc(toc, present))
    for nb in executed:
        _stage_notebook(nb, src / "book" / nb.name, project)
    metrics_path = root / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    intro = (project / "book" / "intro.md").read_text()
    (src / "book" / "intro.md").write_text(render_intro(intro, metrics, present))
    return src


def _jupyter_book() -> list[str]:
    script = Path(sys.executable).with_name("jupyter-book")
    if script.is_file():
        return [str(script)]
    found = shutil.which("jupyter-book")
    if not found:
        raise BookError("jupyter-book not found: install the project (`make install`)")
    return [found]


def build_book(profile: str | os.PathLike = "cpu", build_dir: str | os.PathLike = "build",
               out: str | os.PathLike = ".", project_dir: str | os.PathLike = ".", quiet: bool = True) -> Path:
    """Stage and build the HTML book; returns ``<out>/_build/html``."""
    src = stage_book(profile, build_dir, project_dir)
    out = Path(out).resolve()
    cmd = [*_jupyter_book(), "build", str(src), "--path-output", str(out), "--all"] + (["-q"] if quiet else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BookError(f"jupyter-book build failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    html = out / "_build" / "html"
    if not (html / "index.html").is_file():
        raise BookError(f"jupyter-book finished but {html / 'index.html'} is missing:\n{proc.stdout[-2000:]}")
    _dedupe_scripts(html)
    return html
