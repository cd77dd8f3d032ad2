"""Code fingerprints: a hash of the code a stage runs, so that an edit re-keys its artifacts.

A stage names the modules and packages of :mod:`mindgap_lib` whose code decides its results (for
the tagger: ``tagger``, ``jetclass``) and the functions that wire it (its run and config
functions). The fingerprint hashes their *syntax trees*, with docstrings dropped, so a comment,
a docstring or a reformatting leaves the key alone while any change to what runs re-keys the
stage and, through the input keys, everything downstream; stages that do not run that code keep
their keys.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import textwrap
from pathlib import Path
from typing import Callable, Iterable

__all__ = ["PACKAGE_ROOT", "code_fingerprint", "source_files", "normalized_source"]

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def source_files(parts: Iterable[str], root: Path = PACKAGE_ROOT) -> list[Path]:
    """The ``.py`` files of `parts`: ``"transport"`` (a package, recursively) or ``"jetclass/io"`` (a module)."""
    files: set[Path] = set()
    for part in parts:
        base = root / part
        if base.is_dir():
            files.update(base.rglob("*.py"))
        elif base.with_suffix(".py").is_file():
            files.add(base.with_suffix(".py"))
        else:
            raise FileNotFoundError(f"code fingerprint: no module or package {part!r} under {root}")
    return sorted(files)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def normalized_source(text: str) -> str:
    """The syntax tree of Python source `text` without docstrings (comments never reach the tree);
    the stripped text itself for a fragment that does not parse alone (a lambda inside a call)."""
    try:
        return ast.dump(_strip_docstrings(ast.parse(textwrap.dedent(text))), include_attributes=False)
    except SyntaxError:
        return " ".join(text.split())


@functools.lru_cache(maxsize=None)
def _file_digest(path: Path, stamp: tuple[int, int]) -> str:
    return hashlib.sha256(normalized_source(path.read_text()).encode()).hexdigest()


def code_fingerprint(parts: Iterable[str], functions: Iterable[Callable] = (), root: Path = PACKAGE_ROOT) -> str:
    """16 hex digits over the normalised sources of `parts` (under `root`) and of `functions`."""
    h = hashlib.sha256()
    for f in source_files(sorted(set(parts)), root):
        st = f.stat()
        h.update(str(f.relative_to(root)).encode() + b"\0" + _file_digest(f, (st.st_mtime_ns, st.st_size)).encode())
    for fn in functions:
        h.update(fn.__qualname__.encode() + b"\0" + normalized_source(inspect.getsource(fn)).encode())
    return h.hexdigest()[:16]
