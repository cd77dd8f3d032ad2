"""Reading and writing jets in the JetClass ROOT layout (our files and real JetClass files alike)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import awkward as ak
import numpy as np
import uproot

from ..errors import MindgapError
from ..util.atomic import temp_name
from .schema import BRANCHES, LABELS, PARTICLE_BRANCHES, TREE

__all__ = ["JetFileError", "write_jets", "read_jets", "read_metadata", "METADATA_KEY"]

METADATA_KEY = "mindgap_metadata"  # a TObjString beside the tree: the generating config, seed and versions


class JetFileError(MindgapError, ValueError):
    """A jet file that cannot be used: missing, not ROOT, truncated, or with a missing/mistyped branch."""


def _as_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _validate(path: Path, jets: Mapping[str, Any], n: int) -> None:
    """Finite values, one label per jet, and jet_nparticles equal to the number of particles."""
    for b in BRANCHES:
        arr = ak.to_numpy(ak.flatten(ak.Array(jets[b]), axis=None)) if b in PARTICLE_BRANCHES else np.asarray(jets[b])
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            bad = np.flatnonzero(~np.isfinite(arr))
            raise JetFileError(f"{path}: cannot write, branch {b} holds {bad.size} non-finite value(s) (first at {bad[0]})")
    labels = np.stack([np.asarray(jets[b], dtype=np.float64) for b in LABELS], axis=1) if n else np.zeros((0, len(LABELS)))
    rows = np.flatnonzero((labels.sum(1) != 1) | ~np.isin(labels, (0.0, 1.0)).all(1))
    if rows.size:
        first = rows[0]
        sets = " and ".join(f"{b}={labels[first, i]:g}" if labels[first, i] != 1 else b
                            for i, b in enumerate(LABELS) if labels[first, i] != 0) or "no label_*"
        raise JetFileError(f"{path}: cannot write, labels must be one-hot (exactly one label_* per jet); "
                           f"jet {first} sets {sets}" + (f" ({rows.size} such jets)" if rows.size > 1 else ""))
    counts = ak.to_numpy(ak.num(ak.Array(jets["part_px"]), axis=1)) if n else np.zeros(0)
    declared = np.asarray(jets["jet_nparticles"])
    if (declared != counts).any():
        rows = np.flatnonzero(declared != counts)
        raise JetFileError(f"{path}: cannot write, jet_nparticles differs from the particle count at jet(s) "
                           f"{rows[:5].tolist()} ({declared[rows[:5]].tolist()} vs {counts[rows[:5]].tolist()})")


def write_jets(path: str | os.PathLike, jets: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> Path:
    """Write one file of jets in the JetClass layout, atomically, after checking what it writes.

    `jets` maps every branch of :data:`mindgap_lib.jetclass.schema.BRANCHES` to an array (jagged
    for ``part_*``). Non-finite values, labels that are not one-hot and a ``jet_nparticles`` that
    differs from the particle count are errors naming the branch and the first jets. The file is written under a unique temporary name and renamed when complete, so a
    killed writer never leaves a file that looks finished.
    """
    path = Path(path)
    missing = [b for b in BRANCHES if b not in jets]
    if missing:
        raise JetFileError(f"{path}: cannot write, missing branch(es) {', '.join(missing)}")
    n = len(jets["jet_pt"])
    part = ak.zip({b[len("part_"):]: ak.values_astype(ak.Array(jets[b]), BRANCHES[b]) for b in PARTICLE_BRANCHES})
    flat = {b: np.asarray(jets[b], dtype=dt) for b, dt in BRANCHES.items() if b not in PARTICLE_BRANCHES}
    for b, arr in [("part", part), *flat.items()]:
        if len(arr) != n:
            raise JetFileError(f"{path}: branch {b} has {len(arr)} entries, jet_pt has {n}")
    _validate(path, jets, n)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)  # unique per writer: concurrent writers never share a temporary
    try:
        with uproot.recreate(tmp) as fout:
            fout.mktree(TREE, {"part": part.type.content, **{b: a.dtype for b, a in flat.items()}},
                        counter_name=lambda name: f"n{name}", field_name=lambda outer, inner: f"{outer}_{inner}")
            if n:
                fout[TREE].extend({"part": part, **flat})
            fout[METADATA_KEY] = json.dumps(dict(metadata or {}), sort_keys=True, default=str)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _one_line(err: Exception) -> str:
    """An error's type and text on one line (uproot's messages span several: the CLI prints ours as they are)."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


def _open_tree(path: Path):
    if not path.is_file():
        raise JetFileError(f"{path}: no such file")
    try:
        fin = uproot.open(path)
        has_tree = TREE in fin
        keys = [] if has_tree else fin.keys()
        tree = fin[TREE] if has_tree else None
    except Exception as err:  # uproot raises several types for a non-ROOT or truncated file
        raise JetFileError(f"{path}: not a readable ROOT file ({_one_line(err)})") from None
    if not has_tree:
        raise JetFileError(f"{path}: no TTree named {TREE!r} (keys: {', '.join(keys) or 'none'})")
    if not isinstance(tree, uproot.TTree):
        raise JetFileError(f"{path}: {TREE!r} is a {type(tree).__name__}, not a TTree (RNTuple files are not JetClass files)")
    return tree


def _check_branch(path: Path, tree, branch: str) -> None:
    if branch not in tree:
        raise JetFileError(f"{path}: branch {branch!r} missing from tree {TREE!r}")
    want = BRANCHES.get(branch)
    if want is None:
        return
    interp = tree[branch].interpretation
    got = getattr(getattr(interp, "content", interp), "to_dtype", None)
    if got is None or np.dtype(got) != want:
        raise JetFileError(f"{path}: branch {branch!r} has type {tree[branch].typename}, expected {want}"
                           + (" (jagged)" if branch in PARTICLE_BRANCHES else ""))


def read_jets(paths: str | os.PathLike | Iterable[str | os.PathLike], branches: Sequence[str] | None = None) -> ak.Array:
    """Read jets from one or more JetClass-layout files into one awkward Array.

    Fields are named as the branches (default: all of :data:`BRANCHES`). Every file is
    checked before reading; a problem raises :class:`JetFileError` naming the file and branch.
    """
    files = _as_paths(paths)
    if not files:
        raise JetFileError("read_jets: no files given")
    branches = list(BRANCHES if branches is None else branches)
    chunks = []
    for path in files:
        tree = _open_tree(path)
        for b in branches:
            _check_branch(path, tree, b)
        try:
            chunks.append(tree.arrays(branches, library="ak"))
        except Exception as err:
            raise JetFileError(f"{path}: failed reading branches ({_one_line(err)}); truncated file?") from None
    return chunks[0] if len(chunks) == 1 else ak.concatenate(chunks)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The generating config, seed and versions stored beside the tree ({} for real JetClass files)."""
    path = Path(path)
    _open_tree(path)
    try:
        with uproot.open(path) as fin:
            if METADATA_KEY not in fin:
                return {}
            return json.loads(str(fin[METADATA_KEY]))
    except Exception as err:  # a truncated file: OSError, uproot's DeserializationError, bad JSON
        raise JetFileError(f"{path}: unreadable metadata ({_one_line(err)}); truncated file?") from None
