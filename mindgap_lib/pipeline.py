"""Cache-aware chaining of the stages: generate → tagger → latents → transport → evaluation.

Every heavy stage writes into ``<build_dir>/<profile name>/artifacts/<stage>-<hash>/``; the hash
covers the stage's profile section (plus its own knobs) and the keys of the stages it reads, so a
changed knob reruns that stage and everything downstream of it, and nothing else. A folder without
its completion mark (:mod:`mindgap_lib.cache`) is partial: redone from scratch, or resumed where the
stage itself resumes (the generator skips finished shards, the tagger restarts from its checkpoint).

Chapters and the ``mindgap`` stage commands call the ``ensure_*`` functions, which return the
stage folder, running the stage only when needed.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from . import cache
from .config import ProfileError, load_profile

__all__ = [
    "Stage", "profile_name", "profile_root", "artifacts_dir", "run_stage",
    "dataset_stage", "calib_stage", "tagger_stage", "latents_stage", "transport_stage", "evaluation_stage",
    "scan_stage", "ensure_train_data",
    "ensure_dataset", "ensure_calib", "ensure_tagger", "ensure_latents", "ensure_transport",
    "ensure_evaluation", "ensure_scan", "save_chapter_numbers", "collect_metrics", "package_versions",
    "PIPELINE_VERSION",
]

PIPELINE_VERSION = 1  # bump to invalidate every cached artifact after a change of stage semantics
NOT_HASHED = {"generate": ("workers",)}  # knobs that change speed, never results
REGISTRY = "registry.json"  # role -> stage key of the most recent ensure_* call (read by collect_metrics)


@dataclass(frozen=True)
class Stage:
    """One stage instance: its name, what configures it and the keys of the stages it reads."""

    name: str
    config: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.name}-{cache.config_hash(self.config, self.inputs)}"


# ---------------------------------------------------------------- profile and locations

def _profile(profile: str | os.PathLike | Mapping[str, Any]) -> dict[str, Any]:
    prof = load_profile(profile)
    prof.setdefault("name", Path(str(profile)).stem if not isinstance(profile, Mapping) else "custom")
    return prof


def profile_name(profile: str | os.PathLike | Mapping[str, Any]) -> str:
    return str(_profile(profile)["name"])


def profile_root(profile: str | os.PathLike | Mapping[str, Any], build_dir: str | os.PathLike = "build") -> Path:
    """``build_dir/<profile name>``: notebooks, metrics.json and artifacts of one profile."""
    return Path(build_dir) / profile_name(profile)


def artifacts_dir(profile: str | os.PathLike | Mapping[str, Any], build_dir: str | os.PathLike = "build") -> Path:
    return profile_root(profile, build_dir) / "artifacts"


def _section(prof: Mapping[str, Any], name: str) -> dict[str, Any]:
    if name not in prof:
        raise ProfileError(f"profile {prof.get('name')!r} has no [{name}] section")
    skip = NOT_HASHED.get(name, ())
    return {k: v for k, v in prof[name].items() if k not in skip}


# ---------------------------------------------------------------- stage plans (no work done)

def _generate_config(prof: Mapping[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in _section(prof, "generate").items() if k not in drop}


def train_stage(profile) -> Stage:
    """Nominal jets of all ten classes (``train/nominal``), for the tagger."""
    config = _generate_config(_profile(profile), ("calib_jets", "calib_variations"))
    return Stage("train", {"generate": config, "version": PIPELINE_VERSION})


def calib_stage(profile, variation: str) -> Stage:
    """Calibration QCD of one variation (``calib/<variation>``); extra variations work the same way."""
    config = _generate_config(_profile(profile), ("train_jets_per_class", "calib_variations"))
    return Stage("calib", {"generate": config, "variation": variation, "version": PIPELINE_VERSION})


def dataset_stage(profile) -> Stage:
    """The profile's whole dataset: a folder of links to the train and calibration stages."""
    prof = _profile(profile)
    inputs = {"train": train_stage(prof).key}
    inputs.update({f"calib:{v}": calib_stage(prof, v).key for v in prof["generate"].get("calib_variations", ())})
    return Stage("dataset", {"version": PIPELINE_VERSION}, inputs)


def tagger_stage(profile, seed: int = 0) -> Stage:
    prof = _profile(profile)
    return Stage("tagger", {"tagger": _section(prof, "tagger"), "seed": seed}, {"data": train_stage(prof).key})


def latents_stage(profile, variations: Iterable[str] = ("nominal", "target"), seed: int = 0) -> Stage:
    prof = _profile(profile)
    variations = sorted(set(variations))
    inputs = {"tagger": tagger_stage(prof, seed).key, **{f"data:{v}": calib_stage(prof, v).key for v in variations}}
    return Stage("latents", {"variations": variations}, inputs)


def transport_stage(profile, layer: str = "z128", target: str = "target", seed: int = 0) -> Stage:
    prof = _profile(profile)
    config = {"transport": _section(prof, "transport"), "layer": layer, "target": target, "seed": seed}
    return Stage("transport", config, {"latents": latents_stage(prof, ("nominal", target)).key})


def evaluation_stage(profile, layer: str = "z128", post_layer: str | None = None) -> Stage:
    prof = _profile(profile)
    inputs = {"tagger": tagger_stage(prof).key, "latents": latents_stage(prof).key,
              "transport": transport_stage(prof, layer).key}
    if post_layer:
        inputs["post_transport"] = transport_stage(prof, post_layer).key
    return Stage("evaluation", {"evaluate": _section(prof, "evaluate"), "layer": layer}, inputs)


def scan_stage(profile, variations: Iterable[str]) -> Stage:
    prof = _profile(profile)
    variations = sorted(set(variations))
    inputs = {"tagger": tagger_stage(prof).key, "latents": latents_stage(prof, ("nominal", *variations)).key}
    return Stage("scan", {"evaluate": _section(prof, "evaluate"), "transport": _section(prof, "transport"),
                          "variations": variations}, inputs)


# ---------------------------------------------------------------- running a stage

def _register(artifacts: Path, role: str, key: str) -> None:
    path = artifacts / REGISTRY
    reg = json.loads(path.read_text()) if path.is_file() else {}
    if reg.get(role) == key:
        return
    reg[role] = key
    tmp = path.with_name(f"{REGISTRY}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(reg, indent=1, sort_keys=True))
    os.replace(tmp, path)


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


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


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
    from .dataset import generate_dataset

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
    from .dataset import generate_dataset

    generate_dataset(profile, out, workers=workers, progress=progress, splits=("calib",))


def ensure_tagger(profile, build_dir: str | os.PathLike = "build", device: str = "cpu", seed: int = 0,
                  progress: bool = True) -> Path:
    """The trained tagger (``tagger.pt``, ``metrics.json``), trained on the nominal jets of all classes."""
    from .tagger import train_tagger

    prof = _profile(profile)
    data = ensure_train_data(prof, build_dir, progress=progress)
    return run_stage(artifacts_dir(prof, build_dir), tagger_stage(prof, seed),
                     lambda out: train_tagger(prof, data, out, device=device, seed=seed, progress=progress),
                     resume=True)


def ensure_latents(profile, build_dir: str | os.PathLike = "build", device: str = "cpu",
                   variations: Iterable[str] = ("nominal", "target"), progress: bool = True) -> Path:
    """Latents of the frozen tagger on each variation's calibration QCD (``source.npz``, ``target.npz``, ``<v>.npz``)."""
    from .tagger import extract_latents

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
    """``source.npz``/``target.npz`` links for a fit whose target is another variation."""
    from .tagger import latent_file

    pair = out / "inputs"
    pair.mkdir(parents=True, exist_ok=True)
    for name, variation in (("source.npz", "nominal"), ("target.npz", target)):
        link = pair / name
        if not link.exists():
            link.symlink_to(os.path.relpath(latents / latent_file(variation), pair))
    return pair


def ensure_transport(profile, build_dir: str | os.PathLike = "build", device: str = "cpu", layer: str = "z128",
                     target: str = "target", seed: int = 0, progress: bool = True) -> Path:
    """The transport map source → `target` (a variation name) fitted on `layer` (``map/``, ``calibrated.npz``)."""
    from .transport import fit_latents

    prof = _profile(profile)
    latents = ensure_latents(prof, build_dir, device, ("nominal", target), progress)

    def work(out: Path) -> None:
        src = latents if target == "target" else _pair_dir(latents, target, out)
        fit_latents(src, out, layer=layer, profile=prof, seed=seed, device=device, progress=progress)

    role = "transport" if (layer, target) == ("z128", "target") else f"transport[{layer}:{target}]"
    return run_stage(artifacts_dir(prof, build_dir), transport_stage(prof, layer, target, seed), work, role=role)


def ensure_evaluation(profile, build_dir: str | os.PathLike = "build", device: str = "cpu", layer: str = "z128",
                      post_layer: str | None = None, progress: bool = True) -> Path:
    """Discriminator AUCs, closure and vertical-calibration numbers (``metrics.json``, ``figures.json``, ``pca.json``).

    ``post_layer="z128_post"`` also fits a map on the post-activation latent and adds the
    ``post_activation`` study (a second transport fit).
    """
    from .evaluate import evaluate

    prof = _profile(profile)
    tagger = ensure_tagger(prof, build_dir, device, progress=progress)
    latents = ensure_latents(prof, build_dir, device, progress=progress)
    transport = ensure_transport(prof, build_dir, device, layer, progress=progress)
    post = ensure_transport(prof, build_dir, device, post_layer, progress=progress) if post_layer else None
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
    from .evaluate import smearing_scan

    prof = _profile(profile)
    variations = sorted(set(variations if variations is not None else prof["evaluate"].get("scan_variations", ())))
    tagger = ensure_tagger(prof, build_dir, device, progress=progress)
    latents = ensure_latents(prof, build_dir, device, ("nominal", *variations), progress)

    def work(out: Path) -> None:
        result = smearing_scan(tagger, latents, variations, profile=prof, device=device, progress=progress, out_dir=out)
        _write_json(out / "metrics.json", result)

    return run_stage(artifacts_dir(prof, build_dir), scan_stage(prof, variations), work)


# ---------------------------------------------------------------- numbers

def save_chapter_numbers(profile, build_dir: str | os.PathLike, chapter: str, numbers: Mapping[str, Any]) -> Path:
    """A chapter's key numbers as ``<root>/chapters/<chapter>.json`` (gathered by :func:`collect_metrics`)."""
    path = profile_root(profile, build_dir) / "chapters" / f"{chapter}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(path, dict(numbers))
    return path


def package_versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    names = ("mindgap_lib", "numpy", "torch", "pythia8mc", "fastjet", "uproot", "awkward", "scikit-learn",
             "pot", "plotly", "papermill", "jupyter-book")
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


def collect_metrics(profile, build_dir: str | os.PathLike = "build") -> dict[str, Any]:
    """Gather every registered stage's ``metrics.json`` and the chapters' numbers into ``<root>/metrics.json``.

    The registry holds, per role (``dataset``, ``tagger``, ``transport[z128_post:target]``, …), the
    stage most recently ensured, so numbers always come from the configuration last run.
    """
    root = profile_root(profile, build_dir)
    artifacts = root / "artifacts"
    reg_path = artifacts / REGISTRY
    registry = json.loads(reg_path.read_text()) if reg_path.is_file() else {}
    stages, hashes = {}, {}
    for role, key in sorted(registry.items()):
        folder = artifacts / key
        if not cache.is_complete(folder):
            continue
        hashes[role] = key
        metrics = folder / "metrics.json"
        if metrics.is_file():
            stages[role] = json.loads(metrics.read_text())
    chapters = {p.stem: json.loads(p.read_text()) for p in sorted((root / "chapters").glob("*.json"))}
    out = {"profile": profile_name(profile), **stages, "chapters": chapters, "config_hashes": hashes,
           "versions": package_versions()}
    root.mkdir(parents=True, exist_ok=True)
    _write_json(root / "metrics.json", out)
    return out
