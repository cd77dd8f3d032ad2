"""A profile's whole dataset: plan the shards, generate them in parallel with Dask, list the files.

Layout (under DATA): ``train/nominal/<Class>_<shard:04d>.root`` for the ten classes, and
``calib/<variation>/QCD_<shard:04d>.root`` for each calibration variation. Every shard is a pure
function of (its plan entry, the generator code): its seed is derived from (profile seed, split,
variation, process, shard index), so splits and variations never share events, and a rerun skips
the shards already on disk (files appear only when complete; stale ``.tmp`` files are redone).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .. import config
from ..jetclass.io import read_metadata
from ..jetclass.schema import CLASSES
from .variations import get_variation

__all__ = ["GenerateConfig", "Shard", "DatasetError", "SPLITS", "plan", "shard_seed", "generate_dataset", "files",
           "MANIFEST"]

SPLITS = ("train", "calib")
MANIFEST = "manifest.json"


class DatasetError(ValueError):
    """A dataset request that cannot be served: bad split/variation/process, or missing files."""


@dataclass(frozen=True)
class GenerateConfig:
    """The [generate] section of a profile (sizes are jets; see the profile files for the why)."""

    jets_per_shard: int
    train_jets_per_class: int
    calib_jets: int
    calib_variations: list[str] = field(default_factory=lambda: ["nominal", "target"])
    calib_process: str = "QCD_multijet"  # the paper's calibration sample (Pythia QCD multijet), not JetClass's Z+jets
    workers: int = 1
    seed: int = 0
    max_batch: int = 200

    def __post_init__(self) -> None:
        for name in ("jets_per_shard", "train_jets_per_class", "calib_jets", "workers", "max_batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise config.ProfileError(f"[generate] {name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise config.ProfileError(f"[generate] seed must be an integer >= 0, got {self.seed!r}")
        for name in self.calib_variations:
            get_variation(name)  # unknown names raise, listing the presets
        from .processes import get_process

        if get_process(self.calib_process).cls != "QCD":
            raise config.ProfileError(f"[generate] calib_process {self.calib_process!r} does not give QCD jets")


@dataclass(frozen=True)
class Shard:
    split: str
    variation: str
    process: str
    index: int
    n_jets: int
    seed: int

    @property
    def relpath(self) -> Path:
        """``<split>/<variation>/<class>_<index>.root``: files are named by the jets' class, not the generator process."""
        from .processes import get_process

        return Path(self.split) / self.variation / f"{get_process(self.process).cls}_{self.index:04d}.root"


def shard_seed(base: int, split: str, variation: str, process: str, index: int) -> int:
    """Deterministic 62-bit seed of one shard (distinct inputs give independent seeds)."""
    blob = json.dumps([base, split, variation, process, index]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") >> 2


def _config(profile: str | os.PathLike | Mapping[str, Any]) -> GenerateConfig:
    values = config.section(profile, "generate")
    return config.build_dataclass(GenerateConfig, values, "[generate]")


def _split(total: int, per_shard: int) -> list[int]:
    full, rest = divmod(total, per_shard)
    return [per_shard] * full + ([rest] if rest else [])


def plan(profile: str | os.PathLike | Mapping[str, Any] | GenerateConfig) -> list[Shard]:
    """Every shard of a profile's dataset, in a fixed order (train classes, then calibration)."""
    cfg = profile if isinstance(profile, GenerateConfig) else _config(profile)
    groups = [("train", "nominal", c, cfg.train_jets_per_class) for c in CLASSES]
    groups += [("calib", v, cfg.calib_process, cfg.calib_jets) for v in cfg.calib_variations]
    shards = [Shard(split, var, proc, i, n, shard_seed(cfg.seed, split, var, proc, i))
              for split, var, proc, total in groups for i, n in enumerate(_split(total, cfg.jets_per_shard))]
    if len({s.seed for s in shards}) != len(shards):  # pragma: no cover - 62-bit hash collision
        raise DatasetError("shard seeds collide; change [generate] seed")
    return shards


def _contents_ok(path: Path, n_jets: int) -> bool:
    """The tree holds `n_jets` entries and every basket of every branch decompresses."""
    import uproot

    from ..jetclass.schema import TREE

    with uproot.open(path) as fin:
        tree = fin[TREE]
        if tree.num_entries != n_jets:
            return False
        tree.arrays(library="np")  # reads and decompresses every basket of every branch
    return True


def _is_done(path: Path, shard: Shard) -> bool:
    """A complete file: metadata matching the shard, the right entry count, every basket readable.

    Anything else (truncated, corrupt baskets behind intact metadata, a foreign file, any
    exception while checking) means the shard is regenerated.
    """
    if not path.is_file():
        return False
    try:
        meta = read_metadata(path)
        variation = meta.get("variation")
        if (meta.get("seed"), meta.get("n_jets"), meta.get("process"),
                variation.get("name") if isinstance(variation, dict) else None) != (
                shard.seed, shard.n_jets, shard.process, shard.variation):
            return False
        return _contents_ok(path, shard.n_jets)
    except Exception:  # noqa: BLE001 - any failure to read it back means "redo"
        return False


def _run_shard(shard: Shard, out: str, max_batch: int) -> int:
    """Dask task: generate and write one shard; returns its number of jets."""
    from .generate import generate_shard

    generate_shard(shard.process, shard.variation, shard.n_jets, shard.seed, Path(out) / shard.relpath,
                   max_batch=max_batch, extra_metadata={"shard": asdict(shard)})
    return shard.n_jets


def _compute(tasks: list, workers: int, bar) -> None:
    import dask
    from dask.callbacks import Callback

    class _Progress(Callback):  # runs in the scheduling process as each shard finishes
        def _posttask(self, key, result, dsk, state, worker_id):
            if isinstance(result, int):
                bar.update(result)

    with _Progress():
        if workers > 1:  # one shard per dispatch (dask batches 6 by default): balanced, live progress
            dask.compute(*tasks, scheduler="processes", num_workers=workers, chunksize=1)
        else:
            dask.compute(*tasks, scheduler="synchronous")


def generate_dataset(profile: str | os.PathLike | Mapping[str, Any], out: str | os.PathLike,
                     workers: int | None = None, progress: bool = True, splits: tuple[str, ...] = SPLITS) -> list[Path]:
    """Generate (or complete) a profile's dataset under `out`; returns every shard's path.

    `splits` restricts the work to some of ``("train", "calib")`` (same seeds as in the full plan).

    Shards run in parallel over `workers` processes (default: the profile's ``workers``) with
    Dask's multiprocessing scheduler; a tqdm bar counts jets and shows jets/s. Worker processes are
    spawned, so a script calling this with workers > 1 needs the ``if __name__ == "__main__":``
    guard (the ``mindgap`` command and notebooks need nothing).
    """
    import dask
    from tqdm.auto import tqdm

    cfg = _config(profile)
    workers = cfg.workers if workers is None else workers
    if not isinstance(workers, int) or workers <= 0:
        raise DatasetError(f"workers must be a positive integer, got {workers!r}")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetError(f"output folder {out}: cannot create ({err})") from None
    if not os.access(out, os.W_OK):
        raise DatasetError(f"output folder {out}: not writable")
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown or isinstance(splits, str):
        raise DatasetError(f"unknown split(s) {unknown or splits!r} (known: {', '.join(SPLITS)})")
    shards = [s for s in plan(cfg) if s.split in splits]
    for tmp in out.glob("*/*/*.root.tmp"):  # left by a killed run
        tmp.unlink()
    todo = [s for s in shards if not _is_done(out / s.relpath, s)]
    bar = tqdm(total=sum(s.n_jets for s in shards), initial=sum(s.n_jets for s in shards if s not in todo),
               unit="jet", desc=f"generate ({len(todo)}/{len(shards)} shards to do)", disable=not progress)
    tasks = [dask.delayed(_run_shard, pure=True)(s, str(out), cfg.max_batch) for s in todo]
    try:
        if tasks:
            _compute(tasks, workers, bar)
    finally:
        bar.close()
    manifest = {"config": asdict(cfg), "shards": [{**asdict(s), "path": str(s.relpath)} for s in shards]}
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / MANIFEST)
    return [out / s.relpath for s in shards]


def files(data_dir: str | os.PathLike, split: str, variation: str, process: str | None = None) -> list[Path]:
    """The shard files of one split/variation (optionally one process), sorted by name."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    if process is not None and process not in CLASSES:
        raise DatasetError(f"unknown process {process!r} (known: {', '.join(CLASSES)})")
    folder = Path(data_dir) / split / variation
    if not folder.is_dir():
        raise DatasetError(f"no folder {folder}: generate the dataset first (mindgap generate --profile ... --out {data_dir})")
    found = sorted(folder.glob(f"{process or '*'}_[0-9][0-9][0-9][0-9].root"))
    if not found:
        raise DatasetError(f"no {process or ''} shard files in {folder}")
    return found
