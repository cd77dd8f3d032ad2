"""The optimality audit: it passes a true Brenier map and flags maps that are not gradients of convex functions."""

import numpy as np
import pytest
import torch

from mindgap_lib.transport import ICNN, ICNNConfig, TransportMap, gaussian_pair
from mindgap_lib.transport.audit import (audit_map, conjugate_residuals, cyclical_monotonicity, jacobian_audit,
                                         jacobians, transport_cost_audit)

torch.set_num_threads(1)


def _rotation(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def _affine_map(A: np.ndarray, b: np.ndarray) -> TransportMap:
    """A `TransportMap` that is exactly x ↦ Ax + b (A SPD): quadratic potentials, neural parts switched off."""
    d = len(b)
    nets = []
    for M, c in ((np.linalg.inv(A), -np.linalg.solve(A, b)), (A, b)):
        net = ICNN(ICNNConfig(dim=d, width=8, neural_init=0.0))
        net.quadratic.set_map(torch.tensor((M + M.T) / 2, dtype=torch.float32), torch.tensor(c, dtype=torch.float32))
        nets.append(net)
    return TransportMap(nets[0], nets[1], np.zeros(d), np.ones(d), {"map_refine_steps": 5, "conj_step_size": 1.0})


@pytest.fixture(scope="module")
def gauss():
    pair = gaussian_pair(2, seed=0)
    x = pair.sample_source(3000, np.random.default_rng(1)).astype(np.float32)
    y = pair.true_map(pair.sample_source(3000, np.random.default_rng(2))).astype(np.float32)
    return pair, x, y


def test_true_gaussian_map_passes_every_check(gauss):
    pair, x, y = gauss
    tmap = _affine_map(pair.info["A"], pair.info["b"])
    np.testing.assert_allclose(tmap.transport(x[:100]), pair.true_map(x[:100]), atol=1e-4)
    out = audit_map(tmap, x, y, n_emd=500, repeats=3, n_jacobian=64, n_cycles=5000)
    assert out["cm2_violation_fraction"] == 0 and out["cm3_violation_fraction"] == 0
    assert out["jac_asym_rel_max"] < 1e-5 and out["jac_negative_fraction"] == 0 and out["jac_min_eig_rel_min"] > 0.05
    assert out["conj_residual_max"] < 1e-8
    # the optimal map's cost is W2² up to the subsample spread, and its push-forward sits at the sampling floor
    assert abs(out["cost_minus_w2sq_mean"]) < 0.1 * out["w2sq_emd_mean"]
    assert out["pushforward_w2sq_mean"] < out["floor_w2sq_mean"] + 4 * out["floor_w2sq_std"] + 0.05
    assert out["w2sq_emd_std"] > 0                         # the spread is reported, not assumed away


def test_identity_is_cheap_but_misses_the_target(gauss):
    pair, x, y = gauss
    out = transport_cost_audit(x, x, y, n=500, repeats=3)
    assert out["cost_mean"] == 0 and out["cost_minus_w2sq_mean"] < 0
    assert out["pushforward_w2sq_mean"] > 5 * out["floor_w2sq_mean"]


@pytest.mark.parametrize("deg, cm2, cm3_positive, negative", [(120, 0.95, True, 1.0), (80, 0.0, True, 0.0),
                                                               (50, 0.0, False, 0.0)])
def test_rotations_are_flagged(deg, cm2, cm3_positive, negative):
    """A rotation is not a gradient map. 120° breaks monotonicity itself; 80° is monotone (⟨Rv, v⟩ > 0) but
    breaks cyclical monotonicity on 3-cycles (a triangle violates it iff tan θ · 4·area > Σ sides², which
    Weitzenböck's inequality Σ sides² ≥ 4√3·area allows only for θ > 60°, so 50° passes it); all three
    have an antisymmetric Jacobian, the only check that catches 50°."""
    R = _rotation(deg)
    x = np.random.default_rng(0).normal(size=(2000, 2))
    out = cyclical_monotonicity(x, x @ R.T, samples=20000)
    assert out["cm2_violation_fraction"] >= cm2 if cm2 else out["cm2_violation_fraction"] == 0
    assert (out["cm3_violation_fraction"] > 0.01) == cm3_positive
    J = jacobians(lambda v: v @ torch.tensor(R.T, dtype=v.dtype), torch.tensor(x[:50]))
    jac = jacobian_audit(J)
    assert jac["jac_asym_rel_mean"] == pytest.approx(abs(np.sin(np.deg2rad(deg))) / 1.0, rel=1e-6)
    assert jac["jac_negative_fraction"] == negative


def test_unsolved_conjugate_is_visible_in_the_residual(gauss):
    """Break the link between g and f (g's map scaled by 3): one refinement step leaves a large residual."""
    pair, x, _ = gauss
    A, b = pair.info["A"], pair.info["b"]
    tmap = _affine_map(A, b)
    with torch.no_grad():
        tmap.g.quadratic.L.mul_(np.sqrt(3.0))
    lazy = conjugate_residuals(tmap, x[:200], refine=1)
    solved = conjugate_residuals(tmap, x[:200], refine=50)
    assert lazy["conj_residual_mean"] > 1 and solved["conj_residual_max"] < 1e-6
    assert solved["amortization_gap_mean"] > 1              # once solved, ŷ is far from the (wrong) ∇g
