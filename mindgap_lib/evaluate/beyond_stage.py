"""The ``beyond`` stage (chapter 06): its declaration pieces, its artifact, and a draft runner.

:mod:`mindgap_lib.build.stages` declares the stage from :func:`stage_config`, :func:`stage_inputs`
and :func:`stage_run` (the registry entry is written out in :data:`STAGE_DECLARATION`). Until it
does, :func:`draft_study` runs the same study from a chapter on the artifacts of a ``Build`` and
keeps its result in ``<build>/<profile>/drafts/beyond-<hash>/``.

The stage folder holds ``beyond.json`` (the study), ``metrics.json`` (the numbers gathered into the
run's ``metrics.json``: the methods table, the per-bin AUCs, the scale factors) and ``maps/<name>/``
(every map it fitted, for the chapter's live control).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts import Artifact
from ..build.stages import Ref
from ..errors import BuildError
from ..util.atomic import atomic_write_json
from .beyond_config import BeyondConfig, beyond_config

__all__ = ["CODE", "STAGE_DECLARATION", "BeyondArtifact", "stage_params", "stage_config", "stage_inputs", "stage_run",
           "save_study", "draft_study"]

# the mindgap_lib modules that decide the stage's results (fingerprinted into its key)
CODE = ("evaluate", "transport", "splits", "tagger/model", "tagger/checkpoint", "tagger/features", "tagger/config",
        "util/seeds")

STAGE_DECLARATION = '''
REGISTRY["beyond"] = StageDef(
    "beyond", "chapter 06: conditional maps per pT bin, a tilted target, uncertainties, every other method",
    beyond_stage.CODE, beyond_stage.stage_config, beyond_stage.stage_run, beyond_stage.BeyondArtifact,
    params=beyond_stage.stage_params, inputs=beyond_stage.stage_inputs, uses_device=True)
'''


def _ref(name: str, **params: Any) -> Ref:
    return Ref(name, tuple(sorted(params.items())))


def _section(prof: Any) -> BeyondConfig:
    return beyond_config(prof)


def stage_params(prof: Any) -> dict[str, Any]:
    return {"seed": 0}


def stage_config(prof: Any, p: dict) -> dict[str, Any]:
    """What enters the key: ``[beyond]``, ``[transport]`` (the study's fits) and ``[split]``."""
    from ..util.sections import hashed

    return {"beyond": hashed(_section(prof)), "transport": prof.hashed("transport"), "split": prof.hashed("split"), **p}


def stage_inputs(prof: Any, p: dict) -> dict[str, Ref]:
    """The tagger, the latents of nominal, target and every ``[beyond] variations``, the z-layer map."""
    from ..tagger.config import layers_of

    z = layers_of(prof.tagger.model).z
    return {"tagger": _ref("tagger", seed=0), "transport": _ref("transport", layer=z, target="target", seed=0),
            **{f"latents:{v}": _ref("latents", variation=v)
               for v in dict.fromkeys(("nominal", "target", *_section(prof).variations))}}


@dataclass(frozen=True)
class BeyondArtifact(Artifact):
    """``beyond.json``, ``metrics.json`` and ``maps/<name>/`` of the beyond stage."""

    def study(self) -> dict[str, Any]:
        path = self.path / "beyond.json"
        if not path.is_file():
            raise BuildError(f"{path}: missing (the beyond stage did not finish)")
        return json.loads(path.read_text())

    def map_names(self) -> list[str]:
        maps = self.path / "maps"
        return sorted(p.name for p in maps.iterdir() if p.is_dir()) if maps.is_dir() else []

    def map(self, name: str, device: str = "cpu") -> Any:
        """A saved map by name (``conditional``, ``variation-ip_only``, ``bootstrap-0``, ...)."""
        from ..transport.conditional_map import ConditionalMap
        from ..transport.map import TransportMap

        folder = self.path / "maps" / name
        if not folder.is_dir():
            raise BuildError(f"{folder}: no such map (have: {', '.join(self.map_names()) or 'none'})")
        kind = json.loads((folder / "config.json").read_text())
        return (ConditionalMap if "picnn" in kind else TransportMap).load(folder, device=device)


def save_study(out: Path, study: dict[str, Any], maps: dict[str, Any]) -> None:
    """Write the maps, ``beyond.json`` and the summary ``metrics.json`` into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for name, m in maps.items():
        m.save(out / "maps" / name.replace(":", "-"))
    atomic_write_json(out / "beyond.json", study, sort_keys=False)
    cond = study["conditional"]["bins"]
    atomic_write_json(out / "metrics.json", {
        "methods": study["methods"]["table"],
        "conditional_auc": [{"low": b["low"], "high": b["high"],
                             **{n: s["auc"] for n, s in b["samples"].items()}} for b in cond],
        "scale_factors": study["systematics"]["scale_factors"],
        "seconds": study["info"]["seconds"]}, sort_keys=False)


def _run(inputs: dict[str, Any], prof: Any, out: Path, seed: int, device: str, progress: bool) -> None:
    from .beyond import beyond_study

    latents = {k.split(":", 1)[1]: a.arrays() for k, a in inputs.items() if k.startswith("latents:")}
    study, maps = beyond_study(inputs["tagger"].model(device), latents, inputs["transport"].map(device), _section(prof),
                               prof.transport, prof.split, seed=seed, device=device, progress=progress)
    save_study(out, study, maps)


def stage_run(ctx: Any) -> None:
    """The stage's run function (a :class:`~mindgap_lib.build.stages.Context`)."""
    _run(ctx.inputs, ctx.profile, ctx.out, ctx.ref.p["seed"], ctx.device, ctx.progress)


def draft_study(build: Any, seed: int = 0) -> BeyondArtifact:
    """Chapter 06 before the stage exists: ensure the inputs through `build`, run the study once per
    configuration (``<root>/drafts/beyond-<hash>``), and return its artifact."""
    from ..build.cache import config_hash

    prof = build.profile
    inputs = {k: build.ensure(r) for k, r in stage_inputs(prof, {"seed": seed}).items()}
    key = config_hash({"config": stage_config(prof, {"seed": seed}), "device": str(build.device).split(":")[0]},
                      {k: a.path.name for k, a in inputs.items()})
    out = build.root / "drafts" / f"beyond-{key}"
    if not (out / "beyond.json").is_file():
        t0 = time.perf_counter()
        _run(inputs, prof, out, seed, build.device, build.progress)
        print(f"[mindgap] beyond study: {time.perf_counter() - t0:.0f} s -> {out}", flush=True)
    return BeyondArtifact(out)
