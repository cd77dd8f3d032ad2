"""Uncertainties of a calibration (issue #16): bootstrap ensembles, LLR bands, scale factors."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from mindgap_lib.evaluate.closure import LLRS
from mindgap_lib.evaluate.config import EvaluateError
from mindgap_lib.evaluate.systematics import (
    bootstrap_maps, cuts_at_efficiencies, efficiency, llr_bands, map_spread, scale_factors,
)
from mindgap_lib.evaluate.calibrated import IdentityMap
from mindgap_lib.transport.config import transport_config
from mindgap_lib.transport.fitting import fit
from mindgap_lib.transport.linear import fit_linear


def _linear(source: np.ndarray, target: np.ndarray, seed: int):
    return fit_linear(source, target)


def _icnn(source: np.ndarray, target: np.ndarray, seed: int, cfg):
    return fit(source, target, cfg, seed=seed, progress=False)


def _pair(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) * [1.0, 0.7, 1.4] + [0.5, 0.0, -0.3]


def test_bootstrap_spread_shrinks_with_sample_size():
    probe = np.random.default_rng(9).normal(size=(500, 3))
    spread = {n: map_spread(bootstrap_maps(_linear, *_pair(n, 1), n_boot=8, seed=0), probe) for n in (250, 4000)}
    assert spread[4000] < spread[250] / 2.5, spread  # ~1/√N: a factor 4 expected


def test_icnn_bootstrap_ensemble_runs_and_spreads():
    cfg = transport_config("tiny", steps=40, batch_size=64, val_every=20)
    x, y = _pair(400, 2)
    maps = bootstrap_maps(partial(_icnn, cfg=cfg), x.astype(np.float32), y.astype(np.float32), n_boot=5, seed=0)
    assert len(maps) == 5 and 0 < map_spread(maps, x[:100].astype(np.float32)) < 1.0


def _logits(n: int, shift: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.normal(size=(n, 10))
    out[:, 1] += shift                     # column 1 is Hbb (CLASSES order): moves log pHbb/pQCD
    return out


def test_identity_map_gives_the_raw_efficiency_ratio():
    target, source, reference = _logits(4000, 0.6, 0), _logits(4000, 0.0, 1), _logits(4000, 0.6, 2)
    calibrated = IdentityMap().transport(source)
    rows = scale_factors(target, calibrated, reference, (0.5, 0.3, 0.1))
    from mindgap_lib.evaluate.closure import physics_llrs

    t, s = physics_llrs(target)["log_pHbb_pQCD"], physics_llrs(source)["log_pHbb_pQCD"]
    for row in rows:
        assert row["sf"] == pytest.approx(efficiency(t, row["cut"])[0] / efficiency(s, row["cut"])[0])
        assert row["eff_target"] == pytest.approx(row["efficiency"], abs=0.03)
        assert row["sf_syst"] == 0.0 and row["sf_stat"] > 0


def test_scale_factor_errors_are_positive_and_finite():
    target, reference = _logits(3000, 0.5, 0), _logits(3000, 0.5, 1)
    nominal, variations = _logits(3000, 0.45, 2), {"a": _logits(3000, 0.3, 3), "b": _logits(3000, 0.6, 4)}
    boots = [_logits(3000, 0.45 + 0.02 * k, 10 + k) for k in range(5)]
    rows = scale_factors(target, nominal, reference, (0.5, 0.3, 0.1), variations=variations, bootstrap=boots,
                         weights=np.random.default_rng(0).uniform(0.5, 1.5, 3000))
    for row in rows:
        for key in ("sf", "sf_stat", "sf_syst_variations", "sf_syst_bootstrap", "sf_syst", "sf_total",
                    "eff_target_err", "eff_calibrated_err"):
            assert np.isfinite(row[key]) and row[key] > 0, (key, row)
        assert row["sf_total"] >= max(row["sf_stat"], row["sf_syst"]) and {"sf_a", "sf_b"} <= set(row)
    assert [r["cut"] for r in rows] == sorted(r["cut"] for r in rows)  # tighter cut at lower efficiency


def test_llr_bands():
    target, nominal = _logits(2000, 0.5, 0), _logits(2000, 0.45, 1)
    variants = {f"v{k}": _logits(2000, 0.3 + 0.1 * k, 5 + k) for k in range(4)}
    env, std = llr_bands(target, nominal, variants, bins=12), llr_bands(target, nominal, variants, bins=12, mode="std")
    assert set(env) == set(LLRS)
    for name in LLRS:
        lo, hi, nom = (np.array(env[name][k]) for k in ("lower", "upper", "nominal"))
        assert len(env[name]["edges"]) == 13 and (lo <= nom + 1e-12).all() and (nom <= hi + 1e-12).all()
        up, down = np.array(std[name]["upper"]) - nom, nom - np.array(std[name]["lower"])
        assert np.allclose(up, down) and (up >= 0).all() and up.sum() > 0   # nominal ± the variants' std
    with pytest.raises(EvaluateError):
        llr_bands(target, nominal, {}, bins=12)


def test_cuts_and_bad_efficiencies():
    values = np.arange(1000.0)
    assert cuts_at_efficiencies(values, [0.5, 0.1]) == pytest.approx([499.5, 899.1])
    with pytest.raises(EvaluateError):
        cuts_at_efficiencies(values, [1.2])
