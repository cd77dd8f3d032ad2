"""A profile's whole dataset: plan the shards, generate them in parallel with Dask, list the files.

Layout (under DATA): ``train/nominal/<Class>_<shard:04d>.root`` for the ten classes,
``calib/<variation>/QCD_<shard:04d>.root`` for each calibration variation, and
``scan/nominal/QCD_<shard:04d>.root`` for the d0 scan's own sample. Every shard is a pure
function of (its plan entry, the generator code): its seed is derived from (profile seed, split,
variation, process, shard index), so splits and variations never share events, and a rerun skips
the shards already on disk (files appear only when complete, through a unique temporary name).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import MindgapError
from ..jetclass.io import read_metadata
from ..jetclass.schema import CLASSES
from ..util.atomic import atomic_write_json, sweep_stale_temporaries, writable_folder
from ..util.locks import file_lock
from ..util.seeds import derive_seed
from .config import GenerateConfig

__all__ = ["Shard", "DatasetError", "SPLITS", "plan", "shard_seed", "generate_dataset", "files", "MANIFEST", "LOCK"]

SPLITS = ("train", "calib", "scan")
MANIFEST = "manifest.json"
LOCK = ".generate.lock"  # a dataset folder is written by one run at a time; a second waits, then resumes


class DatasetError(MindgapError, ValueError):
    """A dataset request that cannot be served: bad split/variation/process, or missing files."""


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
    return derive_seed(base, split, variation, process, index)


def _split(total: int, per_shard: int) -> list[int]:
    full, rest = divmod(total, per_shard)
    return [per_shard] * full + ([rest] if rest else [])


def plan(cfg: GenerateConfig) -> list[Shard]:
    """Every shard of a profile's dataset, in a fixed order (train classes, then calibration)."""
    groups = [("train", "nominal", c, cfg.train_jets_per_class) for c in CLASSES]
    groups += [("calib", v, cfg.calib_process, cfg.calib_jets) for v in cfg.calib_variations]
    groups += [("scan", "nominal", cfg.calib_process, cfg.scan_jets)]
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


def generate_dataset(cfg: GenerateConfig, out: str | os.PathLike, *, splits: tuple[str, ...] = ("train", "calib"),
                     variations: tuple[str, ...] | None = None, workers: int | None = None,
                     progress: bool = True) -> list[Path]:
    """Generate (or complete) the dataset of `cfg` under `out`; returns every shard's path.

    `splits` picks among ``("train", "calib", "scan")`` (the scan's nominal sample is made only on
    request) and `variations` restricts the calibration variations (same seeds as in the full plan,
    so the pieces add up to the whole).
    Shards run in parallel over `workers` processes (default: ``cfg.workers``) with Dask's
    multiprocessing scheduler; a tqdm bar counts jets and shows jets/s. The folder is locked while
    a run writes it: a second run on the same folder waits, then finds the shards done; the
    temporaries a writer killed outright left behind are removed then. Worker
    processes are spawned, so a script calling this with workers > 1 needs the
    ``if __name__ == "__main__":`` guard (the ``mindgap`` command and notebooks need nothing).
    """
    import dask
    from tqdm.auto import tqdm

    workers = cfg.workers if workers is None else workers
    if not isinstance(workers, int) or isinstance(workers, bool) or workers <= 0:
        raise DatasetError(f"workers must be a positive integer, got {workers!r}")
    unknown = sorted(set(splits) - set(SPLITS)) if not isinstance(splits, str) else [splits]
    if unknown:
        raise DatasetError(f"unknown split(s) {unknown} (known: {', '.join(SPLITS)})")
    if variations is not None:
        cfg = cfg.replace(calib_variations=tuple(variations))
    shards = [s for s in plan(cfg) if s.split in splits]
    out = Path(out)
    writable_folder(out, lambda reason: DatasetError(f"output folder {out}: {reason}"))
    with file_lock(out / LOCK, what=f"dataset {out}"):
        sweep_stale_temporaries(out)  # of a writer killed outright; under the lock, none of ours is running
        todo = [s for s in shards if not _is_done(out / s.relpath, s)]
        total = sum(s.n_jets for s in shards)
        bar = tqdm(total=total, initial=total - sum(s.n_jets for s in todo), unit="jet",
                   desc=f"generate ({len(todo)}/{len(shards)} shards to do)", disable=not progress)
        tasks = [dask.delayed(_run_shard, pure=True)(s, str(out), cfg.max_batch) for s in todo]
        try:
            if tasks:
                _compute(tasks, workers, bar)
        finally:
            bar.close()
        manifest = {"config": cfg.as_dict(), "shards": [{**asdict(s), "path": str(s.relpath)} for s in shards]}
        atomic_write_json(out / MANIFEST, manifest)
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
