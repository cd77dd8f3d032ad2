"""The tiny end-to-end run against recorded reference numbers (``tests/reference/tiny.json``).

In the style of the Analysis Grand Challenge's reference histograms: the numbers the tiny run
(``mindgap run --profile tiny``, the session fixture ``tiny_build``) produced once are stored, and every
run must reproduce them within a stated tolerance: exact for counts (jets, rows, folds, parameters,
map dimensions), relative 5-20 % for AUCs, W1 distances, ESS, W2 and the chapter-01 ratios
(:data:`SPEC`). The tiny pipeline is bit-for-bit deterministic for a fixed seed on one machine and
torch version (two runs: 0 of 606 evaluation, 353 scan and 259 tagger numbers differed); the
tolerances are there for another CPU, BLAS or libm, not for another seed.

Regenerate the file after a change that is meant to move the numbers (and say why in the commit)::

    MINDGAP_REGENERATE_REFERENCE=1 .venv/bin/python -m pytest tests/test_reference.py

which runs the tiny book once and rewrites ``tests/reference/tiny.json`` with the values of every
entry of :data:`SPEC` (tolerances live here, values there; see ``tests/reference/README.md``).

Beside the numbers, what must hold at any seed of the tiny profile (checked at seeds 0, 1 and 2 of
``[generate]`` and ``[split]``): the null comparison sits at 0.5, the source is told from the target,
the transport map shrinks the W1 excess of log(pHbb/pQCD) and log(pHcc/pQCD) (calibrated/source
0.60, 0.65, 0.51 and 0.69, 0.70, 0.57 at the three seeds), and along the d0 scan the vertical ESS falls
and the source-vs-target AUC rises. The sum of the W1 excess over the four LLRs does *not* fall at
every seed (0.70, 1.31, 0.62 of the source's), so it is not asserted; the calibrated-vs-target AUC is
above the source-vs-target one at every seed (see the xfail below).
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parent / "reference" / "tiny.json"
REGENERATE = os.environ.get("MINDGAP_REGENERATE_REFERENCE", "") not in ("", "0")

pytestmark = pytest.mark.slow

T_Z = "stages.transport[layer=z128,seed=0,target=target]"
T_POST = "stages.transport[layer=z128_post,seed=0,target=target]"
LAYERS = ("z128", "penultimate", "logits")
COMPARISONS = ("source_vs_target", "calibrated_vs_target", "target_vs_target")
LLRS = ("log_pHbb_pQCD", "log_pHcc_pQCD", "log_pHcc_pTbqq", "log_pTbqq_pQCD")
SCAN = ("ip10", "ip20", "ip30")

EXACT = ("exact", 0.0)


def _rel(r: float) -> tuple[str, float]:
    return ("rel", r)


def _abs(a: float) -> tuple[str, float]:
    return ("abs", a)


# path in metrics.json (dots; list items by index) -> tolerance
SPEC: dict[str, tuple[str, float]] = {
    # chapter 01: the samples
    "chapters.01_datasets.n_source_jets": EXACT,
    "chapters.01_datasets.n_target_jets": EXACT,
    "chapters.01_datasets.d0_width_ratio": _rel(0.05),
    "chapters.01_datasets.d0err_median_ratio": _rel(0.05),
    "chapters.01_datasets.nparticles_mean_source": _rel(0.05),
    "chapters.01_datasets.nparticles_mean_ratio": _rel(0.05),
    # chapter 02: the tagger (100 test jets: one jet is 0.01 of accuracy)
    "tagger.n_train": EXACT, "tagger.n_val": EXACT, "tagger.n_test": EXACT, "tagger.n_params": EXACT,
    "tagger.accuracy": _abs(0.05),
    "tagger.macro_auc": _rel(0.05),
    # chapter 03: the maps
    f"{T_Z}.n_fit_source": EXACT, f"{T_Z}.n_fit_target": EXACT, f"{T_Z}.dim": EXACT, f"{T_Z}.map_dims": EXACT,
    f"{T_POST}.map_dims": EXACT,
    f"{T_Z}.w2_emd_before": _rel(0.1), f"{T_Z}.w2_emd_after": _rel(0.1),
    # chapter 04: closure on the eval rows
    **{f"evaluation.info.{k}": EXACT for k in ("n_source", "n_target", "n_source_eval", "n_target_eval", "n_null",
                                               "n_source_fit", "n_target_fit", "folds")},
    **{f"evaluation.auc.{c}.{layer}.value": _rel(0.1) for c in COMPARISONS for layer in LAYERS},
    **{f"evaluation.closure.{llr}.w1_{k}": _rel(0.2) for llr in LLRS for k in ("null", "source", "calibrated",
                                                                               "vertical")},
    "evaluation.vertical.ess_fraction": _rel(0.05),
    **{f"evaluation.post_activation.auc.calibrated_post_vs_target.{layer}.value": _rel(0.1)
       for layer in ("z128_post", "penultimate", "logits")},
    # chapter 05: the d0 scan
    **{f"scan.points.{i}.variation": EXACT for i in range(len(SCAN))},
    **{f"scan.points.{i}.n_fit": EXACT for i in range(len(SCAN))},
    **{f"scan.points.{i}.ess_fraction": _rel(0.05) for i in range(len(SCAN))},
    **{f"scan.points.{i}.auc_source_vs_target.value": _rel(0.1) for i in range(len(SCAN))},
}


def lookup(metrics: dict, path: str):
    """The value at dotted `path` (``scan.points.0.ess_fraction``); KeyError naming the missing part."""
    value = metrics
    for part in path.split("."):
        if isinstance(value, list):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(f"{path}: no {part!r} in metrics.json")
    return value


def within(value, reference, tolerance: tuple[str, float]) -> bool:
    kind, amount = tolerance
    if kind == "exact" or not isinstance(reference, float):
        return value == reference
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    allowed = amount * abs(reference) if kind == "rel" else amount
    return abs(value - reference) <= allowed


def _write_reference(metrics: dict) -> None:
    values = {path: lookup(metrics, path) for path in SPEC}
    doc = {"about": "numbers of `mindgap run --profile tiny`; tolerances in tests/test_reference.py SPEC; "
                    "regenerate with MINDGAP_REGENERATE_REFERENCE=1 pytest tests/test_reference.py",
           "profile": metrics["profile"],
           "made_with": {**{k: metrics.get("versions", {}).get(k) for k in ("python", "torch", "numpy", "pythia8mc",
                                                                             "mindgap_lib")},
                         "machine": platform.machine(), "system": platform.system()},
           "values": values}
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    tmp = REFERENCE.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, REFERENCE)


@pytest.fixture(scope="module")
def metrics(tiny_build) -> dict:
    if REGENERATE:
        _write_reference(tiny_build.metrics)
    return tiny_build.metrics


@pytest.fixture(scope="module")
def reference(metrics) -> dict:
    assert REFERENCE.is_file(), f"{REFERENCE} missing: MINDGAP_REGENERATE_REFERENCE=1 pytest tests/test_reference.py"
    doc = json.loads(REFERENCE.read_text())
    assert doc["profile"] == "tiny"
    stale = sorted(set(doc["values"]) ^ set(SPEC))
    assert not stale, f"{REFERENCE} and SPEC list different numbers {stale}: regenerate the reference"
    return doc["values"]


def test_every_reference_number_is_reproduced_within_its_tolerance(metrics, reference):
    off = []
    for path, tolerance in SPEC.items():
        value = lookup(metrics, path)
        if not within(value, reference[path], tolerance):
            off.append(f"{path}: {value!r}, reference {reference[path]!r} ({tolerance[0]} {tolerance[1]:g})")
    assert not off, "numbers off their reference (regenerate only if the change is meant):\n" + "\n".join(off)


def test_the_tolerances_can_fail():
    """The comparison itself: inside passes, outside fails, a count must be exact, NaN never passes."""
    assert within(0.54, 0.5, _rel(0.1)) and not within(0.56, 0.5, _rel(0.1))
    assert within(0.30, 0.28, _abs(0.05)) and not within(0.34, 0.28, _abs(0.05))
    assert within(200, 200, EXACT) and not within(201, 200, EXACT) and not within("ip20", "ip10", EXACT)
    assert not within(float("nan"), 0.5, _rel(0.2)) and within([200, 200], [200, 200], EXACT)


# ---------------------------------------------------------------- what holds at any seed of the tiny profile

def test_the_null_sits_at_half_and_the_source_is_told_from_the_target(metrics):
    auc = metrics["evaluation"]["auc"]
    for layer in LAYERS:  # seeds 0-2: |AUC - 0.5| <= 0.03, errors 0.029
        null = auc["target_vs_target"][layer]
        assert abs(null["value"] - 0.5) <= max(3 * null["err"], 0.05), (layer, null)
    src, null = auc["source_vs_target"]["z128"], auc["target_vs_target"]["z128"]
    assert src["value"] - null["value"] > 3 * math.hypot(src["err"], null["err"]), (src, null)  # seeds: 4-8 sigma


def test_the_map_shrinks_the_w1_excess_of_the_headline_llrs(metrics):
    closure = metrics["evaluation"]["closure"]
    for llr in ("log_pHbb_pQCD", "log_pHcc_pQCD"):  # calibrated / source at seeds 0-2: <= 0.70
        c = closure[llr]
        assert c["w1_excess_source"] > 0 and c["w1_excess_calibrated"] < 0.8 * c["w1_excess_source"], (llr, c)


def test_along_the_d0_scan_the_ess_falls_and_the_auc_rises(metrics):
    points = metrics["scan"]["points"]
    assert [p["variation"] for p in points] == list(SCAN)
    ess = [p["ess_fraction"] for p in points]
    auc = [p["auc_source_vs_target"]["value"] for p in points]
    assert ess[0] > ess[1] > ess[2] and ess[0] - ess[2] > 0.05, ess   # seeds: 0.86 -> 0.70, 0.84 -> 0.68, 0.81 -> 0.68
    assert auc[0] < auc[1] < auc[2] and auc[2] - auc[0] > 0.1, auc     # seeds: 0.62 -> 0.80, 0.55 -> 0.79, 0.60 -> 0.83
    assert all(0 < e < 1 for e in ess)


@pytest.mark.xfail(strict=True, reason=(
    "library bug (tiny profile): the fitted map makes the calibrated sample easier to tell from the target than "
    "the source is, at every evaluated layer (seed 0, logits: AUC 0.73 calibrated vs 0.56 source; seeds 1, 2: "
    "0.63 vs 0.57, 0.74 vs 0.59). With 200 fit jets per side and subspace_tol 1e-5 the map acts in 31 dimensions "
    "and its Gaussian start (best_step 0 at seed 0) is estimated from 200 points: it adds noise (the calibrated "
    "penultimate layer's spread 0.74 vs the target's 0.68). A larger subspace_tol alone does not cure it (1e-2: 6 "
    "dims, logits 0.71; 1e-1: 2 dims, 0.67); more calibration jets in mindgap_lib/profiles/tiny.toml ([generate] "
    "calib_jets) or a map that falls back to the identity when its held-out dual is not better"))
def test_the_calibrated_logits_are_closer_to_the_target_than_the_source_logits(metrics):
    auc = metrics["evaluation"]["auc"]
    assert auc["calibrated_vs_target"]["logits"]["value"] < auc["source_vs_target"]["logits"]["value"]
