"""Solver options of issue #15: reverse solve, L-BFGS conjugate, expectile regulariser, quadratic skips, MLP potentials."""

import numpy as np
import pytest
import torch

from mindgap_lib.transport import ICNN, ICNNConfig, TransportError, TransportMap, fit, gaussian_map_from_samples, l2_uvp
from mindgap_lib.transport import transport_config

TINY = transport_config("tiny")
from mindgap_lib.transport.audit import cyclical_monotonicity
from mindgap_lib.transport.conjugate import lbfgs_conjugate
from mindgap_lib.transport.dual import expectile_loss, solve_conjugate
from mindgap_lib.transport.icnn import MLPPotential, build_potential

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def reverse_map(ridge2):
    _, x, y, _, _ = ridge2
    return fit(x, y, TINY.replace(direction="reverse"), seed=0, progress=False)


def test_reverse_solve_learns_the_map_as_a_plain_gradient(ridge2, reverse_map, tmp_path):
    _, x, y, xt, tx = ridge2
    A, b = gaussian_map_from_samples(x, y)
    assert l2_uvp(reverse_map.transport(xt), tx, y) < 0.5 * l2_uvp(xt @ A.T + b, tx, y)
    # T = ∇f exactly (no conjugate solve): the map is the potential's gradient in the solver's coordinates
    u = torch.tensor((xt[:50] - reverse_map.shift) / reverse_map.scale, dtype=torch.float32)
    direct = reverse_map.f.grad(u).numpy() * reverse_map.scale + reverse_map.shift
    np.testing.assert_allclose(reverse_map.transport(xt[:50]), direct, rtol=1e-5, atol=1e-5)
    back = reverse_map.inverse(reverse_map.transport(xt))           # g refined into ∇f* = (∇f)⁻¹
    assert np.mean((back - xt) ** 2) < 1e-3 * np.mean(xt.var(0))
    reverse_map.save(tmp_path / "m")
    again = TransportMap.load(tmp_path / "m")
    assert again.reverse
    np.testing.assert_array_equal(again.transport(xt[:100]), reverse_map.transport(xt[:100]))


def test_recommended_options_on_a_reverse_solve(ridge2):
    """The options recommended for multimodal pairs together (buffer warm start, warm-up, mean-curvature
    checkpoint rule) still learn the non-linear part at tiny size, and the checkpoint is not stuck at the start."""
    _, x, y, xt, tx = ridge2
    A, b = gaussian_map_from_samples(x, y)
    m = fit(x, y, TINY.replace(direction="reverse", conj_warm="buffer", warmup_steps=50, val_curvature="mean",
                               conj_mask_tol=0.05), seed=0, progress=False)
    assert m.history["best_step"][0] > 0
    assert l2_uvp(m.transport(xt), tx, y) < 0.5 * l2_uvp(xt @ A.T + b, tx, y)


def _bent_icnn(dim: int, seed: int) -> ICNN:
    torch.manual_seed(seed)
    return ICNN(ICNNConfig(dim=dim, width=32, neural_init=4.0, quad_rank=1))


def test_lbfgs_learns_curvature_a_fixed_preconditioner_misses():
    """With the inverse-Hessian guess off by 10x, preconditioned steps crawl; L-BFGS reaches the same minimiser."""
    f = _bent_icnn(6, 0)
    x = torch.randn(256, 6) * 2
    y0 = x.clone()
    P = 0.1 * torch.eye(6)
    y_gd, r_gd = solve_conjugate(f, x, y0, P, 15)
    y_lb, r_lb = lbfgs_conjugate(f, x, y0, P, 15)
    assert r_lb.mean() < 1e-3 * r_gd.mean()
    y_ref, r_ref = solve_conjugate(f, x, y0, torch.eye(6), 200)
    assert r_ref.max() < 1e-8
    assert torch.allclose(y_lb, y_ref, atol=1e-3)


def test_expectile_loss_by_hand():
    """f = ½‖y‖²: the exact conjugate point is ŷ = x and D = −½‖x − y‖² ≤ 0 for every pair, weighted by 1 − τ."""
    net = ICNN(ICNNConfig(dim=3, neural_init=0.0))                 # quadratic part only: ½‖y‖²
    x, y = torch.randn(64, 3), torch.randn(64, 3)
    tau = 0.9
    want = (1 - tau) * ((0.5 * ((x - y) ** 2).sum(-1)) ** 2).mean()
    assert float(expectile_loss(net, x, y, x, tau).detach()) == pytest.approx(float(want), rel=1e-5)
    # an amortised point worse than y for x: D > 0 gets weight τ
    lazy = x + 3.0
    d = (x * y).sum(-1) - 0.5 * (y * y).sum(-1) - ((x * lazy).sum(-1) - 0.5 * (lazy * lazy).sum(-1))
    want = (torch.where(d >= 0, tau, 1 - tau) * d * d).mean()
    assert float(expectile_loss(net, x, y, lazy, tau).detach()) == pytest.approx(float(want), rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_quadratic_skips_keep_the_potential_convex(seed):
    net = _bent_icnn(5, seed).double()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    a, b = torch.randn(300, 5, dtype=torch.float64) * 3, torch.randn(300, 5, dtype=torch.float64) * 3
    t = torch.rand(300, 1, dtype=torch.float64)
    with torch.no_grad():
        assert (net(t * a + (1 - t) * b) <= t[:, 0] * net(a) + (1 - t[:, 0]) * net(b) + 1e-9).all()


def test_mlp_potential_is_not_monotone_and_the_audit_sees_it():
    """The price of dropping convexity: a random MLP potential's gradient violates monotonicity; an ICNN's never does."""
    torch.manual_seed(0)
    cfg = dict(dim=2, width=32, neural_init=300.0)      # a strongly bent potential (default init is near-quadratic)
    mlp, icnn = build_potential(ICNNConfig(kind="mlp", **cfg)), build_potential(ICNNConfig(**cfg))
    assert isinstance(mlp, MLPPotential) and not isinstance(icnn, MLPPotential)
    x = torch.randn(2000, 2) * 2
    frac = {name: cyclical_monotonicity(x.numpy(), net.grad(x).numpy())["cm2_violation_fraction"]
            for name, net in (("mlp", mlp), ("icnn", icnn))}
    assert frac["mlp"] > 0.01 and frac["icnn"] == 0
    with pytest.raises(ValueError, match="unknown potential kind"):
        build_potential(ICNNConfig(kind="nope", **cfg))


def test_new_options_validate():
    x = np.random.default_rng(0).normal(size=(500, 2))
    for bad, match in [({"direction": "sideways"}, "direction"), ({"conj_solver": "newton"}, "conj_solver"),
                       ({"expectile": 1.5}, "expectile"), ({"potential": "kan"}, "potential"),
                       ({"betas": [0.9]}, "betas"), ({"conj_warm": "cold"}, "conj_warm"),
                       ({"val_curvature": "max"}, "val_curvature"), ({"conj_mask_tol": -1}, "conj_mask_tol")]:
        with pytest.raises(TransportError, match=match):
            fit(x, x, TINY.replace(**bad), progress=False)
