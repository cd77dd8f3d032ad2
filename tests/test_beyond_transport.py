"""Conditional transport (issue #16): the PICNN is convex in x, a constant condition changes nothing,
and a pair whose shift depends on the condition is fitted far better conditionally."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mindgap_lib.transport.conditional import condition_weights, fit_conditional
from mindgap_lib.transport.conditional_map import ConditionalMap
from mindgap_lib.transport.config import TransportError, transport_config
from mindgap_lib.transport.fitting import fit
from mindgap_lib.transport.known_maps import make_pair
from mindgap_lib.transport.metrics import l2_uvp
from mindgap_lib.transport.picnn import PICNN, PICNNConfig

CFG = transport_config("tiny", steps=150, val_every=50, batch_size=128)


def _randomised(seed: int) -> PICNN:
    """A PICNN with every parameter redrawn (large, signed): convexity must not depend on the init."""
    torch.manual_seed(seed)
    net = PICNN(PICNNConfig(dim=3, context=2, layers=3, width=16, context_layers=2, context_width=8, neural_init=1.0))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 1.5)
    return net.double()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_picnn_hessian_is_psd_in_x(seed):
    net = _randomised(seed)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(6):
        x, c = torch.randn(3, generator=gen, dtype=torch.float64) * 2, torch.randn(1, 2, generator=gen, dtype=torch.float64) * 2
        hess = torch.autograd.functional.hessian(lambda v: net(v[None], c).sum(), x)
        assert torch.linalg.eigvalsh(hess).min() >= -1e-8 * max(1.0, float(hess.abs().max()))


def test_picnn_chord_inequality():
    net = _randomised(3)
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 3, generator=gen, dtype=torch.float64) * 3, torch.randn(500, 3, generator=gen, dtype=torch.float64) * 3
    c = torch.randn(500, 2, generator=gen, dtype=torch.float64) * 2
    lam = torch.rand(500, 1, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        mid = net(lam * a + (1 - lam) * b, c)
        chord = lam[:, 0] * net(a, c) + (1 - lam[:, 0]) * net(b, c)
    assert (mid <= chord + 1e-9 * chord.abs().clamp(min=1)).all()


def test_picnn_is_not_convex_in_the_condition_necessarily():
    """The condition path is free: the potential may be non-convex in c (that is the point)."""
    net = _randomised(4)
    x = torch.zeros(1, 3, dtype=torch.float64)
    hess = torch.autograd.functional.hessian(lambda c: net(x, c[None]).sum(), torch.tensor([0.3, -0.2], dtype=torch.float64))
    assert torch.isfinite(hess).all()


def _shifted_pair(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x ~ N(0, I) at c ~ U(-1, 1); the target at c is N(s(c), diag(1, 0.36)): T*(x | c) = diag(1, 0.6) x + s(c)."""
    c = rng.uniform(-1, 1, size=(n, 1))
    return rng.normal(size=(n, 2)), c, np.hstack([2.0 * c, -1.0 * c ** 2])


def test_condition_dependent_shift_is_fitted_conditionally():
    rng = np.random.default_rng(0)
    x, cx, _ = _shifted_pair(1500, rng)
    x2, cy, shift = _shifted_pair(1500, rng)
    y = x2 * [1.0, 0.6] + shift
    cond = fit_conditional(x, cx, y, cy, CFG, context_width=16, seed=0)
    plain = fit(x, y, CFG, seed=0, progress=False)
    xt, ct, st = _shifted_pair(2000, rng)
    truth = xt * [1.0, 0.6] + st
    uvp_c, uvp_u = l2_uvp(cond.transport(xt, ct), truth, y), l2_uvp(plain.transport(xt), truth, y)
    assert uvp_c < 3.0 and uvp_u > 10 * uvp_c, (uvp_c, uvp_u)


def test_constant_condition_reduces_to_the_unconditional_fit(tmp_path):
    """A constant condition column is dropped by the frame (the network reads nothing), and the fit on a
    known-map pair then matches the unconditional solver's L2-UVP."""
    pair = make_pair("gaussian", 2, seed=1)
    x, y = pair.samples(1500, seed=0)
    const = np.full((1500, 2), [650.0, 0.3])
    cond = fit_conditional(x, const, y, const, CFG, context_width=8, seed=0)
    assert cond.frame.c_keep.sum() == 0 and cond.g.config.context == 0
    plain = fit(x, y, CFG, seed=0, progress=False)
    xt, _ = pair.samples(2000, seed=5)
    truth = pair.true_map(xt)
    uvp_c = l2_uvp(cond.transport(xt, np.full((2000, 2), [650.0, 0.3])), truth, y)
    uvp_u = l2_uvp(plain.transport(xt), truth, y)
    assert uvp_c < 2.0 and abs(uvp_c - uvp_u) < 1.5, (uvp_c, uvp_u)
    # another constant value at transport time changes nothing either: the column is not read
    moved = cond.transport(xt[:50], np.full((50, 2), [650.0, 0.3]))
    assert np.allclose(moved, cond.transport(xt[:50], np.full((50, 2), [900.0, -1.0])), atol=1e-6)
    again = ConditionalMap.load(cond.save(tmp_path / "map"))
    assert np.allclose(again.transport(xt[:50], np.full((50, 2), [650.0, 0.3])), moved, atol=1e-6)


def test_condition_weights_match_the_source_spectrum():
    rng = np.random.default_rng(1)
    cs, ct = rng.exponential(1.0, (4000, 1)), rng.exponential(2.0, (4000, 1))
    w = condition_weights(cs, ct, bins=10)
    assert w.mean() == pytest.approx(1.0) and (w > 0).all()
    assert np.average(ct[:, 0], weights=w) == pytest.approx(cs.mean(), rel=0.1)


def test_conditional_fit_rejects_bad_input():
    x = np.zeros((300, 2), np.float32)
    with pytest.raises(TransportError, match="conditions"):
        fit_conditional(x, np.zeros((299, 1)), x, np.zeros((300, 1)), CFG)
    with pytest.raises(TransportError, match="target_weights"):
        fit_conditional(x, np.zeros((300, 1)), x, np.zeros((300, 1)), CFG, target_weights=-np.ones(300))
