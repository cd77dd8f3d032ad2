"""The stage registry: every heavy stage of the book, declared once.

A stage states its name, its parameters, the stages it reads (:attr:`StageDef.inputs`), what
configures it (:attr:`StageDef.config`: a function of the typed profile), the code that decides its
results (:attr:`StageDef.code`: modules whose syntax trees are fingerprinted, plus its own run and
config functions), and its run function. Keys, the cache, the dry run (``mindgap stages``) and
the stage commands all come from this one declaration (:mod:`.engine`). Fields that change speed
only are left out of the keys by the sections themselves (:func:`~mindgap_lib.util.sections.speed_only`);
the device enters the key of the stages where it can change results (CUDA trains in bfloat16).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import artifacts as art
from ..config import Profile
from ..errors import BuildError
from ..tagger.config import layers_of
from ..util.atomic import atomic_write_json

__all__ = ["Ref", "Context", "StageDef", "REGISTRY", "book_refs", "device_kind"]


@dataclass(frozen=True)
class Ref:
    """One stage instance: a stage name and its parameters (``transport[layer=z128_post,target=target]``)."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}[{','.join(f'{k}={v}' for k, v in self.params)}]"

    @property
    def p(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def slug(self) -> str:
        """A folder-name prefix: ``transport.z128_post.target``."""
        return ".".join([self.name, *(re.sub(r"[^\w.-]", "_", str(v)) for _, v in self.params)])

    @classmethod
    def parse(cls, text: str) -> "Ref":
        """``name`` or ``name[k=v,k=v]`` (values read as int/float/bool when they look like one)."""
        m = re.fullmatch(r"\s*([\w]+)\s*(?:\[(.*)\])?\s*", text)
        if not m:
            raise BuildError(f"cannot read stage {text!r} (write NAME or NAME[key=value,...])")
        params = []
        for item in filter(None, (m.group(2) or "").split(",")):
            key, sep, value = item.partition("=")
            if not sep:
                raise BuildError(f"stage {text!r}: parameter {item!r} is not key=value")
            params.append((key.strip(), _literal(value.strip())))
        return cls(m.group(1), tuple(params))


def _literal(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def device_kind(device: Any) -> str:
    """``cpu`` / ``cuda`` / ``mps``: what enters a key (``cuda:1`` computes what ``cuda:0`` does)."""
    return str(device).split(":")[0]


@dataclass(frozen=True)
class Context:
    """What a run function gets: the profile, its instance, its folder and its inputs' artifacts."""

    profile: Profile
    ref: Ref
    out: Path
    inputs: dict[str, art.Artifact]
    device: str
    progress: bool


@dataclass(frozen=True)
class StageDef:
    name: str
    doc: str
    code: tuple[str, ...]                              # mindgap_lib modules/packages that decide its results
    config: Callable[[Profile, dict], dict]           # what configures it (hashed)
    run: Callable[[Context], None]
    artifact: type[art.Artifact]
    params: Callable[[Profile], dict[str, Any]] = lambda prof: {}  # parameter names and defaults
    inputs: Callable[[Profile, dict], dict[str, Ref]] = lambda prof, p: {}
    resume: bool = False                               # keeps a partial folder (the stage resumes itself)
    uses_device: bool = False


def _ref(name: str, **params: Any) -> Ref:
    return Ref(name, tuple(sorted(params.items())))


def _timed_metrics(out: Path, start: float, extra: dict[str, Any]) -> None:
    atomic_write_json(out / art.METRICS, {**extra, "seconds": round(time.perf_counter() - start, 2)})


# ---------------------------------------------------------------- generation

# the modules that make jets (knob samples and re-smearing have their own, below)
_GENERATION = tuple(f"generation/{m}" for m in ("generate", "detector", "jets", "truth", "processes", "variations",
                                                 "dataset", "config")) + ("jetclass/io", "jetclass/schema", "util/seeds")


def _count_jets(out: Path) -> dict[str, int]:
    import uproot

    counts: dict[str, int] = {}
    for f in sorted(out.glob("*/*/*.root")):
        key = f"{f.parent.parent.name}/{f.parent.name}/{f.stem.rsplit('_', 1)[0]}"
        with uproot.open(f) as fin:
            counts[key] = counts.get(key, 0) + int(fin["tree"].num_entries)
    return counts


def _train_data_config(prof: Profile, p: dict) -> dict:
    from ..generation.variations import get_variation

    gen = {k: v for k, v in prof.hashed("generate").items()
           if k not in ("calib_jets", "calib_variations", "calib_process", "scan_jets")}
    return {"generate": gen, "variation": get_variation("nominal").to_dict()}


def _train_data_run(ctx: Context) -> None:
    from ..generation.dataset import generate_dataset

    t0 = time.perf_counter()
    generate_dataset(ctx.profile.generate, ctx.out, splits=("train",), progress=ctx.progress)
    _timed_metrics(ctx.out, t0, {"jets": _count_jets(ctx.out)})


def _calib_data_config(prof: Profile, p: dict) -> dict:
    from ..generation.variations import get_variation

    gen = {k: v for k, v in prof.hashed("generate").items()
           if k not in ("train_jets_per_class", "calib_variations", "scan_jets")}
    return {"generate": gen, "variation": get_variation(p["variation"]).to_dict()}


def _calib_data_run(ctx: Context) -> None:
    from ..generation.dataset import generate_dataset

    t0 = time.perf_counter()
    generate_dataset(ctx.profile.generate, ctx.out, splits=("calib",), variations=(ctx.ref.p["variation"],),
                     progress=ctx.progress)
    _timed_metrics(ctx.out, t0, {"jets": _count_jets(ctx.out)})


def _scan_base_config(prof: Profile, p: dict) -> dict:
    from ..generation.variations import get_variation

    keep = ("jets_per_shard", "scan_jets", "calib_process", "seed", "max_batch")
    return {"generate": {k: v for k, v in prof.hashed("generate").items() if k in keep},
            "variation": get_variation("nominal").to_dict()}


def _scan_base_run(ctx: Context) -> None:
    from ..generation.dataset import generate_dataset

    t0 = time.perf_counter()
    generate_dataset(ctx.profile.generate, ctx.out, splits=("scan",), progress=ctx.progress)
    _timed_metrics(ctx.out, t0, {"jets": _count_jets(ctx.out)})


def _scan_data_config(prof: Profile, p: dict) -> dict:
    from ..generation.variations import get_variation

    return {"variation": get_variation(p["variation"]).to_dict(), "seed": prof.generate.seed}


def _scan_data_run(ctx: Context) -> None:
    """The scan's nominal sample with the d0 resolution of one d0-only variation (see generation.resmear)."""
    from ..generation.resmear import resmear_file

    t0 = time.perf_counter()
    v = ctx.ref.p["variation"]
    for f in ctx.inputs["base"].files("scan", "nominal", "QCD"):
        resmear_file(f, ctx.out / "calib" / v / f.name, v, ctx.profile.generate.seed)
    _timed_metrics(ctx.out, t0, {"jets": _count_jets(ctx.out), "resmeared_from": ctx.inputs["base"].path.name})


def _knobs_config(prof: Profile, p: dict) -> dict:
    from ..generation.knobs import knob_variations

    return {"knobs": prof.hashed("knobs"), "process": prof.generate.calib_process, "max_batch": prof.generate.max_batch,
            "variants": {label: v.to_dict() for label, v in knob_variations().items()}}


def _knobs_run(ctx: Context) -> None:
    from ..generation.knobs import generate_knob_samples

    t0 = time.perf_counter()
    index = generate_knob_samples(ctx.profile.knobs, ctx.out, ctx.profile.generate.calib_process,
                                  ctx.profile.generate.max_batch, ctx.progress)
    _timed_metrics(ctx.out, t0, {"variants": list(index), "jets_per_variant": ctx.profile.knobs.jets})


# ---------------------------------------------------------------- tagger

def _tagger_config(prof: Profile, p: dict) -> dict:
    return {"tagger": prof.hashed("tagger"), "seed": p["seed"]}


def _tagger_run(ctx: Context) -> None:
    from ..tagger.train import train_tagger

    train_tagger(ctx.profile.tagger, ctx.inputs["data"].path, ctx.out, device=ctx.device, seed=ctx.ref.p["seed"],
                 progress=ctx.progress)


def _latents_config(prof: Profile, p: dict) -> dict:
    return {"variation": p["variation"]}


def _latents_inputs(prof: Profile, p: dict) -> dict[str, Ref]:
    """d0-only variations (the scan's, ``ip_only``) come from the scan's own sample, re-smeared; the others are generated."""
    from ..generation.resmear import is_d0_only
    from ..generation.variations import get_variation

    v = p["variation"]
    derived = v not in prof.generate.calib_variations and is_d0_only(get_variation(v))
    data = _ref("scan_data", variation=v) if derived else _ref("calib_data", variation=v)
    return {"tagger": _ref("tagger", seed=0), "data": data}


def _latents_run(ctx: Context) -> None:
    from ..tagger.latents import extract_latents

    t0 = time.perf_counter()
    v = ctx.ref.p["variation"]
    info = extract_latents(ctx.inputs["tagger"].path, ctx.inputs["data"].path, ctx.out, [v], device=ctx.device)
    _timed_metrics(ctx.out, t0, {"variation": v, "n_jets": info[v]["n_jets"]})


# ---------------------------------------------------------------- transport

def _transport_params(prof: Profile) -> dict:
    return {"layer": layers_of(prof.tagger.model).z, "target": "target", "seed": 0}


def _transport_config(prof: Profile, p: dict) -> dict:
    return {"transport": prof.hashed("transport"), "split": prof.hashed("split"), **p}


def _transport_run(ctx: Context) -> None:
    from ..transport.fitting import fit_latents

    p = ctx.ref.p
    fit_latents(ctx.inputs["source"].file, ctx.inputs["target"].file, ctx.out, ctx.profile.transport, layer=p["layer"],
                split=ctx.profile.split, seed=p["seed"], device=ctx.device, progress=ctx.progress)


def _known_maps_config(prof: Profile, p: dict) -> dict:
    return {"transport": prof.hashed("transport"), "known_maps": prof.hashed("known_maps"), "seed": p["seed"]}


def _known_maps_run(ctx: Context) -> None:
    from ..transport.validation import fit_known_maps

    t0 = time.perf_counter()
    fit_known_maps(ctx.profile.known_maps, ctx.profile.transport, ctx.out, seed=ctx.ref.p["seed"])
    _timed_metrics(ctx.out, t0, {})


# ---------------------------------------------------------------- evaluation

_EVALUATION = ("evaluate", "splits", "transport", "tagger/model", "tagger/checkpoint", "tagger/features",
               "tagger/config", "util/seeds")


def _evaluation_config(prof: Profile, p: dict) -> dict:
    return {"evaluate": prof.hashed("evaluate"), "split": prof.hashed("split"), **p}


def _evaluation_inputs(prof: Profile, p: dict) -> dict[str, Ref]:
    layers = layers_of(prof.tagger.model)
    inputs = {"tagger": _ref("tagger", seed=0), "source": _ref("latents", variation="nominal"),
              "target": _ref("latents", variation="target"),
              "transport": _ref("transport", layer=layers.z, target="target", seed=0)}
    if p["post"]:
        inputs["post_transport"] = _ref("transport", layer=layers.z_post, target="target", seed=0)
    return inputs


def _evaluation_run(ctx: Context) -> None:
    from ..evaluate.run import evaluate

    i = ctx.inputs
    evaluate(i["tagger"].path, i["source"].file, i["target"].file, i["transport"].path, ctx.out,
             ctx.profile.evaluate, ctx.profile.split, post_transport=i["post_transport"].path if "post_transport" in i else None,
             device=ctx.device, progress=ctx.progress)


def _scan_config(prof: Profile, p: dict) -> dict:
    from ..generation.variations import get_variation

    return {"evaluate": prof.hashed("evaluate"), "scan": prof.hashed("scan"), "transport": prof.hashed("transport"),
            "split": prof.hashed("split"), "contents": {v: get_variation(v).to_dict() for v in prof.scan.variations}}


def _scan_inputs(prof: Profile, p: dict) -> dict[str, Ref]:
    return {"tagger": _ref("tagger", seed=0), "source": _ref("latents", variation="nominal"),
            **{f"target:{v}": _ref("latents", variation=v) for v in prof.scan.variations}}


def _scan_run(ctx: Context) -> None:
    from ..evaluate.scan import smearing_scan

    targets = {k.split(":", 1)[1]: a.file for k, a in ctx.inputs.items() if k.startswith("target:")}
    result = smearing_scan(ctx.inputs["tagger"].path, ctx.inputs["source"].file, targets, ctx.profile.evaluate,
                           ctx.profile.scan, ctx.profile.transport, ctx.profile.split, device=ctx.device,
                           progress=ctx.progress, out_dir=ctx.out)
    atomic_write_json(ctx.out / art.METRICS, result)


REGISTRY: dict[str, StageDef] = {s.name: s for s in (
    StageDef("train_data", "nominal jets of the ten classes, for the tagger", _GENERATION,
             _train_data_config, _train_data_run, art.JetsArtifact, resume=True),
    StageDef("calib_data", "calibration QCD jets of one variation", _GENERATION, _calib_data_config, _calib_data_run,
             art.JetsArtifact, params=lambda prof: {"variation": "nominal"}, resume=True),
    StageDef("knobs", "chapter 01's one-knob-at-a-time QCD samples",
             (*_GENERATION, "generation/knobs", "jetclass/summaries"), _knobs_config, _knobs_run,
             art.KnobsArtifact),
    StageDef("scan_base", "nominal QCD jets of the d0 scan (its own seeds)", _GENERATION, _scan_base_config,
             _scan_base_run, art.JetsArtifact, resume=True),
    StageDef("scan_data", "the scan's sample with one d0-only variation's resolution",
             ("generation/resmear", "generation/variations", "jetclass/io", "jetclass/schema", "util/seeds"),
             _scan_data_config, _scan_data_run, art.JetsArtifact, params=lambda prof: {"variation": "ip20"},
             inputs=lambda prof, p: {"base": _ref("scan_base")}),
    StageDef("tagger", "the trained tagger", ("tagger", "jetclass", "util/schedules"), _tagger_config, _tagger_run,
             art.TaggerArtifact, params=lambda prof: {"seed": 0}, inputs=lambda prof, p: {"data": _ref("train_data")},
             resume=True, uses_device=True),
    StageDef("latents", "the frozen tagger's head layers on one calibration sample", ("tagger", "jetclass"),
             _latents_config, _latents_run, art.LatentsArtifact, params=lambda prof: {"variation": "nominal"},
             inputs=_latents_inputs, uses_device=True),
    StageDef("transport", "the optimal-transport map nominal -> target on one layer, fitted on fit rows",
             ("transport", "splits", "util/schedules"), _transport_config, _transport_run, art.TransportArtifact,
             params=_transport_params,
             inputs=lambda prof, p: {"source": _ref("latents", variation="nominal"),
                                     "target": _ref("latents", variation=p["target"])}, uses_device=True),
    StageDef("known_maps", "chapter 03's check of the solver on pairs with a known Brenier map",
             ("transport", "util/seeds", "util/schedules"), _known_maps_config, _known_maps_run, art.KnownMapsArtifact,
             params=lambda prof: {"seed": 0}),
    StageDef("evaluation", "discriminators, closure and reweighting on the eval rows", _EVALUATION, _evaluation_config,
             _evaluation_run, art.EvaluationArtifact, params=lambda prof: {"post": True}, inputs=_evaluation_inputs,
             uses_device=True),
    StageDef("scan", "vertical vs horizontal as the d0 smearing grows", _EVALUATION, _scan_config, _scan_run,
             art.ScanArtifact, inputs=_scan_inputs, uses_device=True),
)}


def book_refs(prof: Profile) -> list[Ref]:
    """Every stage instance the book's chapters use, in pipeline order."""
    layers = layers_of(prof.tagger.model)
    from ..generation.resmear import is_d0_only
    from ..generation.variations import get_variation

    variations = list(dict.fromkeys([*prof.generate.calib_variations, *prof.scan.variations, *prof.beyond.variations]))
    extra = [v for v in variations if v not in prof.generate.calib_variations]
    derived = [v for v in extra if is_d0_only(get_variation(v))]
    generated = [*prof.generate.calib_variations, *[v for v in extra if v not in derived]]
    return [_ref("train_data"), *[_ref("calib_data", variation=v) for v in generated],
            _ref("scan_base"), *[_ref("scan_data", variation=v) for v in derived], _ref("knobs"),
            _ref("tagger", seed=0), *[_ref("latents", variation=v) for v in variations],
            _ref("known_maps", seed=0),
            *[_ref("transport", layer=layer, target="target", seed=0) for layer in (layers.z, layers.z_post)],
            _ref("evaluation", post=True), _ref("scan"), _ref("beyond", seed=0), _ref("geometry")]


# ---------------------------------------------------------------- geometry (chapter 07)

def _geometry_config(prof: Profile, p: dict) -> dict:
    return {"geometry": prof.hashed("geometry"), "split": prof.hashed("split")}


def _geometry_inputs(prof: Profile, p: dict) -> dict[str, Ref]:
    layers = layers_of(prof.tagger.model)
    return {"tagger": _ref("tagger", seed=0), "source": _ref("latents", variation="nominal"),
            "target": _ref("latents", variation="target"),
            "transport": _ref("transport", layer=layers.z, target="target", seed=0),
            "evaluation": _ref("evaluation", post=True), "jets": _ref("calib_data", variation="nominal"),
            "train": _ref("train_data")}


def _geometry_run(ctx: Context) -> None:
    from ..geometry.study import geometry_study
    from ..geometry.from_artifacts import geometry_inputs

    t0 = time.perf_counter()
    inputs = geometry_inputs(ctx.inputs, ctx.profile)
    study = geometry_study(*inputs, ctx.profile.geometry)
    atomic_write_json(ctx.out / "geometry.json", study)
    _timed_metrics(ctx.out, t0, {"correlation_dimension": study["correlation_dimension"],
                                 "sinkhorn_mean_abs_rel_error": study["sinkhorn"]["mean_abs_rel_error"],
                                 "spearman_displacement": study["link"].get("spearman_displacement"),
                                 "spearman_residual": study["link"].get("spearman_residual")})


REGISTRY["geometry"] = StageDef(
    "geometry", "chapter 07: correlation dimension of latents and jets, Sinkhorn vs EMD, the transport link",
    ("geometry", "jetclass", "splits", "util/seeds", "artifacts"), _geometry_config, _geometry_run,
    art.GeometryArtifact, inputs=_geometry_inputs)


# ---------------------------------------------------------------- beyond the paper (chapter 06)

def _beyond_config(prof: Profile, p: dict) -> dict:
    return {"beyond": prof.hashed("beyond"), "transport": prof.hashed("transport"), "split": prof.hashed("split"), **p}


def _beyond_inputs(prof: Profile, p: dict) -> dict[str, Ref]:
    z = layers_of(prof.tagger.model).z
    return {"tagger": _ref("tagger", seed=0), "transport": _ref("transport", layer=z, target="target", seed=0),
            **{f"latents:{v}": _ref("latents", variation=v)
               for v in dict.fromkeys(("nominal", "target", *prof.beyond.variations))}}


def _beyond_run(ctx: Context) -> None:
    from ..evaluate.beyond import beyond_study, save_study

    latents = {k.split(":", 1)[1]: a.arrays() for k, a in ctx.inputs.items() if k.startswith("latents:")}
    study, maps = beyond_study(ctx.inputs["tagger"].model(ctx.device), latents, ctx.inputs["transport"].map(ctx.device),
                               ctx.profile.beyond, ctx.profile.transport, ctx.profile.split, seed=ctx.ref.p["seed"],
                               device=ctx.device, progress=ctx.progress)
    save_study(ctx.out, study, maps)


REGISTRY["beyond"] = StageDef(
    "beyond", "chapter 06: conditional maps per pT bin, a tilted target, uncertainties, every other method",
    ("evaluate", "transport", "splits", "tagger/model", "tagger/checkpoint", "tagger/features", "tagger/config",
     "util/seeds"), _beyond_config, _beyond_run, art.BeyondArtifact, params=lambda prof: {"seed": 0},
    inputs=_beyond_inputs, uses_device=True)
