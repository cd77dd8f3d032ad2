"""What the paper says, and what this book sets out to show, with tolerances: read by the chapters,
the introduction's "paper vs ours" table and the tests.

A :class:`Goal` is a number of a build (a path into ``build/<profile>/metrics.json``) and the range
it must fall in. Goals are stated for the ``cpu`` profile (the book's default run); the tiny
profile's recorded numbers live in ``tests/reference/tiny.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

__all__ = ["PAPER", "PAPER_AUC", "AUTHORS_INPUTS", "JETCLASS_PUBLISHED", "Goal", "GOALS", "metric", "check_goals"]

# The paper's statements (its Sec. 3, 5.1 and Figs. 1, 4, 5); the AUCs are given in words or drawn only
PAPER: dict[str, str] = {
    "d0_width": "resolution worse by 10–30 % (the authors' input plots: 1.29, their core only)",
    "d0err": "σ(d0) follows the worse resolution (the authors' input plots: 1.12)",
    "dz": "unchanged (the authors' input plots: 0.997 ± 0.011)",
    "nparticles": "shifted by μR, μF × 2 (the authors' input plots: 37.5 → 35.4)",
    "source_vs_target_z": "nearly disjoint supports: AUC close to 1 (Fig. 4b)",
    "calibrated_vs_target": "z128 ≈ 1.0; penultimate ≈ 0.5; logits ≈ 0.5",
    "ess": "not quoted: reweighting is called hopeless where supports barely overlap",
    "llr": "clear discrepancy before, substantially reduced after (Figs. 5, 11)",
}

# Read off the authors' source-vs-target input plots (malteal/LatentCalibration, notebooks/figs/csts_input_*.pdf and
# jets_jet_nparticles.pdf; 100 000 jets per sample) from the PDFs' vector paths (bin contents exact to ~1e-8;
# the plots show the 13th-87th percentiles of each track feature and the 1st-99th of the multiplicity):
# target / source, as chapter 01 computes it
AUTHORS_INPUTS: dict[str, str] = {
    "d0_width_ratio": "1.29 (1.4826·MAD; 1.17 at half maximum; inside |d0| < 0.05 mm)",
    "d0err_median_ratio": "1.12 (0.99–1.38: the plot's range hides the lowest values; bin ratios 0.36 to 3.98)",
    "dz_width_ratio": "ratio panel 0.997 ± 0.011",
    "dzerr_median_ratio": "ratio panel 0.989 ± 0.017",
    "nparticles_mean_ratio": "0.946 (37.5 → 35.4 constituents)",
    "ncharged_mean_ratio": "0.902 (18.6 → 16.8 charged constituents)",
}

# Qu, Li, Qian, "Particle Transformer for Jet Tagging", ICML 2022, arXiv:2202.03772, Table 2 (JetClass, 100 M
# training jets): accuracy, macro AUC, then the QCD rejection at the JetClass working points
JETCLASS_PUBLISHED: dict[str, tuple[float, float, dict[str, int]]] = {
    "ParticleNet": (0.844, 0.9849, {"Hbb": 7634, "Hcc": 2475, "Hgg": 104, "H4q": 954, "Hqql": 3339,
                                    "Tbqq": 10526, "Tbl": 11173, "Wqq": 347, "Zqq": 283}),
    "ParT": (0.861, 0.9877, {"Hbb": 10638, "Hcc": 4149, "Hgg": 123, "H4q": 1864, "Hqql": 5479,
                             "Tbqq": 32787, "Tbl": 15873, "Wqq": 543, "Zqq": 402}),
}

PAPER_AUC: dict[str, dict[str, str]] = {
    "source_vs_target": {"z": "close to 1 (Fig. 4)", "penultimate": "smaller (Fig. 4a)", "logits": "smallest (Fig. 4a)"},
    "calibrated_vs_target": {"z": "≈ 1.0", "penultimate": "≈ 0.5", "logits": "≈ 0.5"},
    "target_vs_target": {"z": "not shown", "penultimate": "not shown", "logits": "not shown"},
}


def metric(metrics: Mapping[str, Any], path: str) -> Any:
    """``metrics["a"]["b"]["c"]`` for ``"a.b.c"``; None where the path does not exist."""
    node: Any = metrics
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


@dataclass(frozen=True)
class Goal:
    """A number of a build and the closed range [low, high] it must fall in (None: unbounded)."""

    name: str
    value: Callable[[Mapping[str, Any]], float | None]
    low: float | None = None
    high: float | None = None
    why: str = ""
    stricter: bool = False  # a reading beyond the goal (a smaller sample, a 95 % bound): shown, not required

    def check(self, metrics: Mapping[str, Any]) -> tuple[float | None, bool | None]:
        """(value, met); met is None when the number is missing from `metrics` (not run)."""
        try:
            v = self.value(metrics)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            v = None
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None, None
        return float(v), (self.low is None or v >= self.low) and (self.high is None or v <= self.high)

    @property
    def wanted(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in [{self.low:g}, {self.high:g}]"
        return f"≥ {self.low:g}" if self.low is not None else f"≤ {self.high:g}"


def _auc(comp: str, layer: str) -> Callable[[Mapping], float | None]:
    def get(m: Mapping) -> float | None:
        name = m["evaluation"]["layers"]["z"] if layer == "z" else layer
        return metric(m, f"evaluation.auc.{comp}.{name}.value")
    return get


def _min_reduction(m: Mapping) -> float:
    return min(c["w1_excess_reduction"] for c in m["evaluation"]["closure"].values())


def _min_reduction_lower(m: Mapping) -> float:
    return min(c["w1_excess_reduction_lower"] for c in m["evaluation"]["closure"].values())


def _horizontal_beats_vertical(m: Mapping) -> float:
    """The smallest ratio excess(vertical) / excess(calibrated) over the LLRs (> 1: horizontal closer)."""
    out = []
    for c in m["evaluation"]["closure"].values():
        cal = max(c["w1_excess_calibrated"], 1e-12)
        out.append(c["w1_excess_vertical"] / cal)
    return min(out)


# the paper-faithful target and its closure, for the cpu profile (issue "The paper's gap, for real")
GOALS: tuple[Goal, ...] = (
    Goal("d0 width ratio target/source", lambda m: m["chapters"]["01_datasets"]["d0_width_ratio"], 1.10, 1.35,
         "the target's d0 resolution is 10–30 % worse"),
    Goal("median σ(d0) ratio target/source", lambda m: m["chapters"]["01_datasets"]["d0err_median_ratio"], 1.10, 1.35,
         "σ(d0) follows the resolution, as Delphes stores it"),
    Goal("dz width ratio, d0-only variation / nominal (same events)",
         lambda m: m["chapters"]["01_datasets"]["dz_width_ratio_detector"], 0.97, 1.03,
         "the detector variation leaves dz untouched (target / source also moves with the scales' multiplicity)"),
    Goal("source-vs-target AUC at z, every calibration jet (the gap curve's last point)",
         lambda m: (m["evaluation"]["gap_curve"]["points"] or [{"auc": None}])[-1]["auc"], 0.85, None,
         "the paper's latents barely overlap; no map is involved, so every jet can be scored (out of fold)"),
    Goal("source-vs-target AUC at z, the closure table's eval rows alone", _auc("source_vs_target", "z"), 0.85, None,
         "half the jets: the figure the calibrated AUC is set beside", stricter=True),
    Goal("vertical ESS fraction", lambda m: m["evaluation"]["vertical"]["ess_fraction"], None, 0.3,
         "reweighting dilutes the sample where supports barely overlap"),
    Goal("calibrated-vs-target AUC, penultimate", _auc("calibrated_vs_target", "penultimate"), None, 0.55,
         "the residual does not reach the deeper layers"),
    Goal("calibrated-vs-target AUC, logits", _auc("calibrated_vs_target", "logits"), None, 0.55,
         "nor the output"),
    Goal("smallest LLR W1-excess reduction", _min_reduction, 5.0, None,
         "the map closes every physics discriminant"),
    Goal("smallest LLR W1-excess reduction (95 % lower bound)", _min_reduction_lower, 5.0, None,
         "the same, beyond the statistical error of the calibrated excess", stricter=True),
    Goal("horizontal over vertical: smallest excess(vertical)/excess(calibrated)", _horizontal_beats_vertical, 1.0, None,
         "horizontal closure beats vertical at the main target"),
)


def check_goals(metrics: Mapping[str, Any], goals: tuple[Goal, ...] = GOALS) -> list[dict[str, Any]]:
    """One row per goal: name, value, wanted range, met (None: not run), why, stricter (beyond the issue's goal)."""
    rows = []
    for g in goals:
        value, met = g.check(metrics)
        rows.append({"goal": g.name, "value": value, "wanted": g.wanted, "met": met, "why": g.why,
                     "stricter": g.stricter})
    return rows
