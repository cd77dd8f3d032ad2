"""Cache-aware chaining of the stages: generate → tagger → latents → transport → evaluation.

Every heavy stage writes into ``<build_dir>/<profile name>/artifacts/<stage>-<hash>/``; the hash
covers the stage's profile section (plus its own knobs) and the keys of the stages it reads, so a
changed knob reruns that stage and everything downstream of it, and nothing else. A folder without
its completion mark (:mod:`mindgap_lib.build.cache`) is partial: redone from scratch, or resumed where the
stage itself resumes (the generator skips finished shards, the tagger restarts from its checkpoint).

Chapters and the ``mindgap`` stage commands call the ``ensure_*`` functions, which return the
stage folder, running the stage only when needed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from . import cache
from ..config import load_profile
from .stages import (NOT_HASHED, PIPELINE_VERSION, Stage, _profile, _section, artifacts_dir, calib_stage,  # noqa: F401
                     dataset_stage, evaluation_stage, known_maps_stage, latents_stage, profile_name, profile_root,
                     scan_stage, tagger_stage, train_stage, transport_stage)
from .parallel import side_by_side
from .report import REGISTRY, _register, _write_json, collect_metrics, package_versions, save_chapter_numbers  # noqa: F401

__all__ = [
    "Stage", "profile_name", "profile_root", "artifacts_dir", "run_stage",
    "dataset_stage", "calib_stage", "tagger_stage", "latents_stage", "transport_stage", "evaluation_stage",
    "scan_stage", "known_maps_stage", "ensure_train_data", "ensure_known_maps",
    "ensure_dataset", "ensure_calib", "ensure_tagger", "ensure_latents", "ensure_transport", "ensure_transports",
    "ensure_evaluation", "ensure_scan", "save_chapter_numbers", "collect_metrics", "package_versions",
    "PIPELINE_VERSION",
]

# ---------------------------------------------------------------- running a stage

def run_stage(artifacts: str | os.PathLike, stage: Stage, work: Callable[[Path], Any], *, resume: bool = False,
              role: str | None = None, log: bool = True) -> Path:
    """Return ``artifacts/<stage.key>``, calling ``work(folder)`` first unless it is already complete.

    ``resume=True`` keeps a partial folder (for stages that resume themselves); otherwise it is
    emptied first. The completion mark records the config, inputs, wall time and versions.
    """
    artifacts = Path(artifacts)
    out = artifacts / stage.key
    if not cache.is_complete(out):
        if resume:
            out.mkdir(parents=True, exist_ok=True)
        else:
            cache.reset_partial(out)
        if log:
            print(f"[mindgap] running stage {stage.key}", flush=True)
        t0 = time.perf_counter()
        work(out)
        cache.mark_complete(out, stage.config, name=stage.name, inputs=stage.inputs,
                            seconds=round(time.perf_counter() - t0, 3), versions=package_versions())
    _register(artifacts, role or stage.name, stage.key)
    return out


# ---------------------------------------------------------------- the stages

def _count_files(out: Path) -> dict[str, Any]:
    import uproot

    counts: dict[str, int] = {}
    found = sorted(out.glob("*/*/*.root"))
    for f in found:
        key = f"{f.parent.parent.name}/{f.parent.name}/{f.stem.rsplit('_', 1)[0]}"
        with uproot.open(f) as fin:
            counts[key] = counts.get(key, 0) + int(fin["tree"].num_entries)
    return {"n_files": len(found), "jets": counts}


def _generated(out: Path, generate: Callable[[], Any]) -> None:
    t0 = time.perf_counter()
    generate()
    _write_json(out / "metrics.json", {**_count_files(out), "generation_time_s": round(time.perf_counter() - t0, 2)})


def ensure_train_data(profile, build_dir: str | os.PathLike = "build", workers: int | None = None,
                      progress: bool = True) -> Path:
    """A folder with ``train/nominal/<Class>_*.root`` (the tagger's jets)."""
    from ..generation.dataset import generate_dataset

    prof = _profile(profile)
    only_train = load_profile(prof)
    only_train["generate"]["calib_variations"] = []
    return run_stage(artifacts_dir(prof, build_dir), train_stage(prof),
                     lambda out: _generated(out, lambda: generate_dataset(only_train, out, workers, progress)),
                     resume=True)


def ensure_calib(profile, variation: str, build_dir: str | os.PathLike = "build", workers: int | None = None,
                 progress: bool = True) -> Path:
    """A folder with ``calib/<variation>/QCD_*.root`` (any variation preset, e.g. ``ip20`` for a scan)."""
    prof = _profile(profile)
    one = load_profile(prof)
    one["generate"]["calib_variations"] = [variation]
    workers = workers or int(prof["generate"].get("workers", 1))
    return run_stage(artifacts_dir(prof, build_dir), calib_stage(prof, variation),
                     lambda out: _generated(out, lambda: _generate_calib(one, out, workers, progress)),
                     resume=True, role=f"calib[{variation}]")


def ensure_dataset(profile, build_dir: str | os.PathLike = "build", workers: int | None = None,
                   progress: bool = True) -> Path:
    """The profile's dataset in the ``mindgap generate`` layout (``train/nominal``, ``calib/<variation>``).

    Train and calibration jets are separate stages (a new ``calib_jets`` does not retrain the
    tagger); this folder links them together.
    """
    prof = _profile(profile)
    parts = {"train": ensure_train_data(prof, build_dir, workers, progress)}
    for v in prof["generate"].get("calib_variations", ()):
        parts[f"calib/{v}"] = ensure_calib(prof, v, build_dir, workers, progress)

    def work(out: Path) -> None:
        (out / "calib").mkdir()
        metrics: dict[str, Any] = {"jets": {}, "generation_time_s": 0.0, "n_files": 0}
        for rel, src in parts.items():
            os.symlink(os.path.relpath(src / rel, (out / rel).parent), out / rel)
            part = json.loads((src / "metrics.json").read_text())
            metrics["jets"].update(part["jets"])
            metrics["n_files"] += part["n_files"]
            metrics["generation_time_s"] += part["generation_time_s"]
        _write_json(out / "metrics.json", metrics)

    return run_stage(artifacts_dir(prof, build_dir), dataset_stage(prof), work)


def _generate_calib(profile: Mapping[str, Any], out: Path, workers: int, progress: bool) -> None:
    """Only the ``calib`` shards of a profile's plan (same seeds as in the full dataset); resumable, via Dask."""
    from ..generation.dataset import generate_dataset

    generate_dataset(profile, out, workers=workers, progress=progress, splits=("calib",))


def ensure_tagger(profile, build_dir: str | os.PathLike = "build", device: str = "cpu", seed: int = 0,
                  progress: bool = True) -> Path:
    """The trained tagger (``tagger.pt``, ``metrics.json``), trained on the nominal jets of all classes."""
    from ..tagger import train_tagger

    prof = _profile(profile)
    data = ensure_train_data(prof, build_dir, progress=progress)
    return run_stage(artifacts_dir(prof, build_dir), tagger_stage(prof, seed),
                     lambda out: train_tagger(prof, data, out, device=device, seed=seed, progress=progress),
                     resume=True)


def ensure_latents(profile, build_dir: str | os.PathLike = "build", device: str = "cpu",
                   variations: Iterable[str] = ("nominal", "target"), progress: bool = True) -> Path:
    """Latents of the frozen tagger on each variation's calibration QCD (``nominal.npz``, ``target.npz``, ``<v>.npz``)."""
    from ..tagger import extract_latents

    prof = _profile(profile)
    variations = sorted(set(variations))
    tagger = ensure_tagger(prof, build_dir, device, progress=progress)
    data = {v: ensure_calib(prof, v, build_dir, progress=progress) for v in variations}

    def work(out: Path) -> None:
        for v, d in data.items():
            extract_latents(tagger, d, out, device=device, variations=[v])

    role = "latents" if variations == ["nominal", "target"] else f"latents[{','.join(variations)}]"
    return run_stage(artifacts_dir(prof, build_dir), latents_stage(prof, variations), work, role=role)


def _pair_dir(latents: Path, target: str, out: Path) -> Path:
    """``nominal.npz``/``target.npz`` links for a fit whose target is another variation."""
    from ..tagger import latent_file

    pair = out / "inputs"
    pair.mkdir(parents=True, exist_ok=True)
    for name, variation in (("nominal.npz", "nominal"), ("target.npz", target)):
        link = pair / name
        if not link.exists():
            link.symlink_to(os.path.relpath(latents / latent_file(variation), pair))
    return pair


def ensure_transport(profile, build_dir: str | os.PathLike = "build", device: str = "cpu", layer: str = "z128",
                     target: str = "target", seed: int = 0, progress: bool = True) -> Path:
    """The transport map source → `target` (a variation name) fitted on `layer` (``map/``, ``calibrated.npz``)."""
    from ..transport import fit_latents

    prof = _profile(profile)
    latents = ensure_latents(prof, build_dir, device, ("nominal", target), progress)

    def work(out: Path) -> None:
        src = latents if target == "target" else _pair_dir(latents, target, out)
        fit_latents(src, out, layer=layer, profile=prof, seed=seed, device=device, progress=progress)

    role = "transport" if (layer, target) == ("z128", "target") else f"transport[{layer}:{target}]"
    return run_stage(artifacts_dir(prof, build_dir), transport_stage(prof, layer, target, seed), work, role=role)


def ensure_transports(profile, build_dir: str | os.PathLike = "build", device: str = "cpu",
                      fits: Iterable[tuple[str, str]] = (("z128", "target"),), seed: int = 0, workers: int = 2,
                      progress: bool = True) -> list[Path]:
    """Several transport fits, each ``(layer, target)``, the missing ones side by side (one Dask process each).

    A fit uses ``[transport].threads`` torch threads (one in the ``cpu`` profile), so on a 2-core
    machine two fits at once take the wall time of one. Returns the stage folders in `fits` order.
    """
    prof = _profile(profile)
    fits = list(dict.fromkeys(fits))
    for target in dict.fromkeys(t for _, t in fits):
        ensure_latents(prof, build_dir, device, ("nominal", target), progress)
    todo = [(layer, target) for layer, target in fits
            if not cache.is_complete(artifacts_dir(prof, build_dir) / transport_stage(prof, layer, target, seed).key)]
    if len(todo) > 1 and workers > 1:
        if progress:
            print(f"[mindgap] fitting {len(todo)} transport maps side by side: {todo}", flush=True)
        side_by_side(ensure_transport, [((prof, build_dir, device, layer, target, seed), {"progress": False})
                                        for layer, target in todo], workers)
    return [ensure_transport(prof, build_dir, device, layer, target, seed, progress=progress) for layer, target in fits]


def ensure_known_maps(profile, build_dir: str | os.PathLike = "build", seed: int = 0, device: str = "cpu",
                      workers: int = 2) -> list:
    """The known-map validation (:func:`mindgap_lib.transport.fit_known_maps`), fitted once per configuration.

    Its fits (one torch thread each in the ``cpu`` profile) run `workers` at a time.
    """
    from ..transport import fit_known_maps, load_known_maps

    prof = _profile(profile)
    out = run_stage(artifacts_dir(prof, build_dir), known_maps_stage(prof, seed),
                    lambda out: fit_known_maps(prof, out, seed=seed, workers=workers))
    return load_known_maps(out, seed, device)


def ensure_evaluation(profile, build_dir: str | os.PathLike = "build", device: str = "cpu", layer: str = "z128",
                      post_layer: str | None = None, progress: bool = True) -> Path:
    """Discriminator AUCs, closure and vertical-calibration numbers (``metrics.json``, ``figures.json``, ``pca.json``).

    ``post_layer="z128_post"`` also fits a map on the post-activation latent and adds the
    ``post_activation`` study (a second transport fit).
    """
    from ..evaluate import evaluate

    prof = _profile(profile)
    tagger = ensure_tagger(prof, build_dir, device, progress=progress)
    latents = ensure_latents(prof, build_dir, device, progress=progress)
    maps = ensure_transports(prof, build_dir, device, [(layer, "target")] + ([(post_layer, "target")] if post_layer else []),
                             progress=progress)
    transport, post = maps[0], (maps[-1] if post_layer else None)
    return run_stage(artifacts_dir(prof, build_dir), evaluation_stage(prof, layer, post_layer),
                     lambda out: evaluate(tagger, latents, transport, out, profile=prof, device=device,
                                          progress=progress, post_transport_dir=post))


def ensure_scan(profile, build_dir: str | os.PathLike = "build", device: str = "cpu",
                variations: Iterable[str] | None = None, progress: bool = True) -> Path:
    """The smearing scan (vertical vs horizontal against weaker targets): ``scan.json``, ``scan_figures.json``.

    ``variations`` default to ``[evaluate].scan_variations``; each one not in the dataset gets its
    calibration QCD generated as a stage of its own, and its latents extracted beside the source's
    (``latents/<variation>.npz``); the scan's own fits use ``[evaluate].scan_transport``.
    """
    from ..evaluate import smearing_scan

    prof = _profile(profile)
    variations = sorted(set(variations if variations is not None else prof["evaluate"].get("scan_variations", ())))
    tagger = ensure_tagger(prof, build_dir, device, progress=progress)
    latents = ensure_latents(prof, build_dir, device, ("nominal", *variations), progress)

    def work(out: Path) -> None:
        result = smearing_scan(tagger, latents, variations, profile=prof, device=device, progress=progress, out_dir=out)
        _write_json(out / "metrics.json", result)

    return run_stage(artifacts_dir(prof, build_dir), scan_stage(prof, variations), work)
