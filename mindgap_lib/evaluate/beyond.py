"""Chapter 06's study: conditional maps per pT bin, a tilted target, uncertainties, every other method.

One function, :func:`beyond_study`, on one (tagger, latents, unconditional map) triple and the
``[beyond]`` section. The heavy parts are independent jobs (every map fit and every method; then
every discriminator) run side by side in ``[beyond] workers`` processes; each is a pure function
of its inputs, so the results do not depend on how they ran. Only eval rows are judged, as in
chapter 04 (:mod:`.samples`); maps see fit rows only.
"""

from __future__ import annotations

from pathlib import Path

import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Mapping

import numpy as np

from ..splits import SplitConfig, calibration_rows, take
from ..tagger.config import Layers
from ..transport.conditional import fit_conditional
from ..transport.config import TransportConfig
from ..transport.fitting import fit
from ..util.atomic import atomic_write_json
from ..util.parallel import side_by_side
from ..util.seeds import derive_seed
from .beyond_config import BeyondConfig
from .binned import bin_edges, bin_index, binned_closure, binned_tasks, conditions_of, tilt_rows
from .calibrated import calibrate, head_from
from .comparisons import run_discriminators
from .methods.base import MethodContext
from .methods.compare import METHODS, auc_tasks, available_methods, judge
from .samples import eval_samples
from .systematics import bootstrap_samples, llr_bands, map_spread, scale_factors

__all__ = ["save_study", "StudyData", "prepare", "beyond_study"]

Arrays = dict[str, np.ndarray]


@dataclass
class StudyData:
    """The rows of the study: fit and eval arrays of source and target, the null, the variations' fit rows,
    and the tilted target (its fit, eval and null rows)."""

    layers: Layers
    source_fit: Arrays
    source_eval: Arrays
    target_fit: Arrays
    target_eval: Arrays
    null: Arrays
    variations: dict[str, Arrays]
    tilted_fit: Arrays
    tilted_eval: Arrays
    tilted_null: Arrays


def prepare(latents: Mapping[str, Mapping[str, np.ndarray]], layers: Layers, cfg: BeyondConfig, split: SplitConfig,
            seed: int = 0) -> StudyData:
    """Cut every sample of `latents` (``nominal``, ``target``, the variations) into its fit and eval rows."""
    src, tgt = latents["nominal"], latents["target"]
    s = eval_samples(src, tgt, split, ("nominal", "target"), cfg.max_events, seed)
    variations = {v: take(latents[v], calibration_rows(len(latents[v][layers.z]), split, v).fit)
                  for v in cfg.variations if v in latents}
    pt = tgt["jet_pt"]
    tilt = {name: tilt_rows(pt, rows, cfg.tilt, seed, name)
            for name, rows in (("fit", s.target_fit_rows), ("eval", s.target.rows), ("null", s.null.rows))}
    return StudyData(layers, take(src, s.source_fit_rows), s.source.arrays, take(tgt, s.target_fit_rows),
                     s.target.arrays, s.null.arrays, variations, take(tgt, tilt["fit"]), take(tgt, tilt["eval"]),
                     take(tgt, tilt["null"]))


def _capped(cfg: TransportConfig, steps: int, *samples: np.ndarray) -> TransportConfig:
    """`cfg` with `steps`, and a batch no larger than the smallest sample's training part allows."""
    limit = int(min(len(s) for s in samples) * (1 - cfg.val_fraction)) - 1
    return cfg.replace(steps=steps, batch_size=max(8, min(cfg.batch_size, limit)))


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the Dask worker processes)."""
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def _timed_job(kind: str, payload: dict[str, Any]) -> tuple[Any, float, float]:
    """:func:`_job` with its wall and CPU seconds (the CPU time says what it costs on an idle machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = _job(kind, payload)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _job(kind: str, payload: dict[str, Any]) -> Any:
    """One independent piece of work (picklable: it runs in a Dask process when workers > 1)."""
    if kind == "icnn":
        return fit(payload["x"], payload["y"], payload["cfg"], seed=payload["seed"], device=payload["device"],
                   progress=False)
    if kind == "conditional":
        p = payload
        return fit_conditional(p["x"], p["cx"], p["y"], p["cy"], p["cfg"], context_width=p["width"],
                               context_layers=p["layers"], seed=p["seed"], device=p["device"])
    if kind == "method":
        p = payload
        return METHODS[p["name"]](p["source_fit"], p["target_fit"], p["source_eval"], p["ctx"])
    raise ValueError(f"unknown job {kind!r}")


def _fit_jobs(d: StudyData, cfg: BeyondConfig, transport: TransportConfig, seed: int, device: str) -> dict[str, tuple]:
    z, cond = d.layers.z, partial(conditions_of, names=cfg.conditions, logs=cfg.log_conditions)
    common = {"width": cfg.context_width, "layers": cfg.context_layers, "device": device}
    xs, ys, yt = d.source_fit[z], d.target_fit[z], d.tilted_fit[z]
    jobs: dict[str, tuple] = {
        "conditional": ("conditional", {"x": xs, "cx": cond(d.source_fit), "y": ys, "cy": cond(d.target_fit), **common,
                                        "cfg": _capped(transport, cfg.conditional_steps, xs, ys),
                                        "seed": derive_seed(seed, "conditional")}),
        "tilted_unconditional": ("icnn", {"x": xs, "y": yt, "cfg": _capped(transport, cfg.tilted_steps, xs, yt),
                                          "seed": derive_seed(seed, "tilted"), "device": device}),
        "tilted_conditional": ("conditional", {
            "x": xs, "cx": cond(d.source_fit), "y": yt, "cy": cond(d.tilted_fit), **common,
            "cfg": _capped(transport, cfg.tilted_steps, xs, yt), "seed": derive_seed(seed, "tilted")})}
    for v, arrays in d.variations.items():
        jobs[f"variation:{v}"] = ("icnn", {"x": xs, "y": arrays[z], "seed": derive_seed(seed, "variation", v),
                                           "cfg": _capped(transport, cfg.variation_steps, xs, arrays[z]), "device": device})
    boot_cfg = _capped(transport, cfg.bootstrap_steps, xs, ys)
    for k, (x, y, s) in enumerate(bootstrap_samples(xs, ys, cfg.bootstrap, derive_seed(seed, "bootstrap"))):
        jobs[f"bootstrap:{k}"] = ("icnn", {"x": x, "y": y, "cfg": boot_cfg, "seed": s, "device": device})
    return jobs


def _method_jobs(d: StudyData, ctx: MethodContext, names: list[str]) -> dict[str, tuple]:
    return {f"method:{n}": ("method", {"name": n, "source_fit": d.source_fit, "target_fit": d.target_fit,
                                       "source_eval": d.source_eval, "ctx": ctx}) for n in names}


def _latent_sample(model, layers: Layers, z: np.ndarray) -> Arrays:
    return {layers.z: z.astype(np.float32), **head_from(model, z, layers.z)}


def _binned_samples(model, d: StudyData, cfg: BeyondConfig, umap, cmap) -> dict[str, Arrays]:
    """identity / unconditional / conditional calibrations of the source eval rows."""
    z = d.layers.z
    c = conditions_of(d.source_eval, cfg.conditions, cfg.log_conditions)
    return {"identity": {k: d.source_eval[k] for k in (z, d.layers.penultimate, d.layers.logits)},
            "unconditional": calibrate(model, umap, d.source_eval[z], z),
            "conditional": _latent_sample(model, d.layers, cmap.transport(d.source_eval[z], c))}


def _binning(d: StudyData, target: Arrays, null: Arrays, bins: int) -> dict[str, Any]:
    edges = bin_edges(target["jet_pt"], bins)
    return {"edges": edges, "source": bin_index(d.source_eval["jet_pt"], edges),
            "target": bin_index(target["jet_pt"], edges), "null": bin_index(null["jet_pt"], edges)}


def _systematics(model, d: StudyData, cfg: BeyondConfig, maps: Mapping[str, Any], nominal) -> dict[str, Any]:
    """Bands of the calibrated LLRs over the variation maps and the bootstrap, and the scale factors."""
    z, lg = d.layers.z, d.layers.logits
    logits = lambda m: calibrate(model, m, d.source_eval[z], z)[lg]  # noqa: E731
    nom = logits(nominal)
    var = {k.split(":", 1)[1]: logits(m) for k, m in maps.items() if k.startswith("variation:")}
    boot = [logits(m) for k, m in sorted(maps.items()) if k.startswith("bootstrap:")]
    boot_maps = [m for k, m in sorted(maps.items()) if k.startswith("bootstrap:")]
    sf = lambda cal, **kw: scale_factors(d.target_eval[lg], cal, d.null[lg], cfg.efficiencies, **kw)  # noqa: E731
    return {"variations": list(var), "bootstrap": len(boot),
            "bands_variations": llr_bands(d.target_eval[lg], nom, var, cfg.llr_bins) if var else {},
            "bands_bootstrap": llr_bands(d.target_eval[lg], nom, {str(k): b for k, b in enumerate(boot)}, cfg.llr_bins,
                                         mode="std"),
            "map_spread_bootstrap": map_spread(boot_maps, d.source_eval[z][:2000]),
            "scale_factors": sf(nom, variations=var, bootstrap=boot),
            "scale_factors_uncalibrated": sf(d.source_eval[lg])}


def _tasks(model, d: StudyData, cfg: BeyondConfig, res: Mapping[str, Any], umap) -> tuple[dict, dict, dict]:
    """Every discriminator of the study: per pT bin (nominal and tilted target) and per method."""
    layers = [getattr(d.layers, role) for role in cfg.auc_layers]
    binned = {"conditional": (_binned_samples(model, d, cfg, umap, res["conditional"]),
                              d.target_eval, d.null),
              "tilted": (_binned_samples(model, d, cfg, res["tilted_unconditional"], res["tilted_conditional"]),
                         d.tilted_eval, d.tilted_null)}
    binnings = {k: _binning(d, target, null, cfg.pt_bins) for k, (_, target, null) in binned.items()}
    tasks = {}
    for key, (samples, target, _) in binned.items():
        b = binnings[key]
        tasks |= binned_tasks(samples, target, {n: b["source"] for n in samples}, b["target"], layers, key)
    cals = {k.split(":", 1)[1]: v for k, v in res.items() if k.startswith("method:")}
    tasks |= {("methods", *key): task for key, task in auc_tasks(cals, d.target_eval, layers).items()}
    return tasks, {"binned": binned, "binnings": binnings, "layers": layers}, cals


def _binned_section(d: StudyData, parts: dict, key: str, fits: Mapping, cfg: BeyondConfig, seed: int) -> dict[str, Any]:
    samples, target, null = parts["binned"][key]
    b = parts["binnings"][key]
    rows = binned_closure(samples, target, null, {n: b["source"] for n in samples}, b["target"], b["null"], b["edges"],
                          fits, d.layers.logits, parts["layers"], key, hist_bins=cfg.llr_bins, repeats=cfg.null_repeats,
                          seed=seed)
    return {"variable": "jet_pt", "edges": [float(e) for e in b["edges"]], "bins": rows,
            "n_target": len(target[d.layers.z]), "mean_pt_target": float(np.mean(target["jet_pt"])),
            "mean_pt_source": float(np.mean(d.source_eval["jet_pt"]))}


def _fit_info(maps: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for key, m in maps.items():
        h = getattr(m, "history", {}) or {}
        out[key] = {"seconds": (h.get("train_time") or [None])[0], "best_step": (h.get("best_step") or [None])[0],
                    "steps": m.config.get("steps") if hasattr(m, "config") else None,
                    "diverged": "diverged_at" in h}
    return out


def beyond_study(model, latents: Mapping[str, Mapping[str, np.ndarray]], icnn_map, cfg: BeyondConfig,
                 transport: TransportConfig, split: SplitConfig, *, seed: int = 0, device: str = "cpu",
                 progress: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the study; returns (study, maps).

    Arguments:
        model: the frozen tagger. latents: per sample name (``nominal``, ``target``, the
            ``[beyond] variations``) its latents dict (every head layer, ``jet_pt``, ``jet_eta``).
        icnn_map: the unconditional map nominal → target on the first head layer (the transport stage's).
        transport: the ``[transport]`` section (the study's fits change only ``steps`` and, for small
            samples, ``batch_size``).
    Returns:
        study: JSON-ready sections ``conditional``, ``tilted``, ``systematics``, ``methods``, ``info``.
        maps: the fitted maps by name (``conditional``, ``tilted_*``, ``variation:<v>``, ``bootstrap:<k>``).
    """
    t0, c0 = time.perf_counter(), _cpu()
    layers: Layers = model.head.names
    d = prepare(latents, layers, cfg, split, seed)
    names = available_methods(cfg.methods.names)
    ctx = MethodContext(layers, partial(head_from, model, layer=layers.z), cfg.methods, transport, cfg.discriminator,
                        derive_seed(seed, "methods"), device, {} if cfg.methods.refit_icnn else {"icnn": icnn_map})
    jobs = _fit_jobs(d, cfg, transport, seed, device) | _method_jobs(d, ctx, names)
    done = side_by_side(_timed_job, [(job, {}) for job in jobs.values()], cfg.workers)
    res = {key: out for key, (out, _, _) in zip(jobs, done)}
    job_times = {key: {"wall_s": wall, "cpu_s": cpu} for key, (_, wall, cpu) in zip(jobs, done)}
    t_fit, c_fit = time.perf_counter(), _cpu()
    tasks, parts, cals = _tasks(model, d, cfg, res, icnn_map)
    fits = run_discriminators(tasks, cfg.discriminator, seed, device, progress, cfg.workers)
    t_disc, c_disc = time.perf_counter(), _cpu()
    table, details = judge(cals, d.target_eval, d.null, parts["layers"], layers.logits, cfg.discriminator,
                           bins=cfg.llr_bins, repeats=cfg.null_repeats, seed=seed,
                           fits={k[1:]: v for k, v in fits.items() if k[0] == "methods"})
    maps = {k: v for k, v in res.items() if not k.startswith("method:")}
    study = {"conditional": _binned_section(d, parts, "conditional", fits, cfg, seed),
             "tilted": {**_binned_section(d, parts, "tilted", fits, cfg, seed), "tilt": cfg.tilt},
             "systematics": _systematics(model, d, cfg, maps, icnn_map),
             "methods": {"table": table, **details},
             "info": {"n_source_fit": len(d.source_fit[layers.z]), "n_source_eval": len(d.source_eval[layers.z]),
                      "n_target_fit": len(d.target_fit[layers.z]), "n_target_eval": len(d.target_eval[layers.z]),
                      "n_tilted_fit": len(d.tilted_fit[layers.z]), "n_tilted_eval": len(d.tilted_eval[layers.z]),
                      "layers": parts["layers"], "methods": names, "fits": _fit_info(maps),
                      "seconds": {"fits_and_methods": t_fit - t0, "discriminators": t_disc - t_fit,
                                  "total": time.perf_counter() - t0},
                      "cpu_seconds": {"fits_and_methods": c_fit - c0, "discriminators": c_disc - c_fit,
                                      "total": _cpu() - c0},
                      "jobs": job_times,
                      "discriminators": len(tasks) * cfg.discriminator.folds, "workers": cfg.workers,
                      "seed": seed, "device": str(device), "config": cfg.as_dict()}}
    return study, maps


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
