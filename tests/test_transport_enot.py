"""ENOT mode of the solver (issue #15): bidirectional expectile-regularised training of two MLP potentials."""

import numpy as np
import pytest
import torch

from mindgap_lib.transport import TransportError, TransportMap, fit, gaussian_map_from_samples, l2_uvp
from mindgap_lib.transport import transport_config
from mindgap_lib.transport.audit import cyclical_monotonicity
from mindgap_lib.transport.dual import expectile_from_values, expectile_loss, f_loss
from mindgap_lib.transport.icnn import ICNNConfig, MLPPotential, build_potential
from mindgap_lib.transport.train import Solver

torch.set_num_threads(1)

TINY = transport_config("tiny")
# the benchmark's `enot-mlp` preset (benchmarks/transport_w2bench.py) at tiny size, lr 1e-2
ENOT = TINY.replace(potential="mlp", mlp_activation="elu", conj_steps=0, g_loss="objective", expectile=0.99,
                    expectile_coef=2.0, bidirectional=True, betas=(0.9, 0.99), map_refine_steps=0, init="identity",
                    quad_lr_scale=0.0, neural_init=1.0, clip=100.0, checkpoint="last", rollback_tol=0.0,
                    lr=1e-2, steps=600, batch_size=256)


@pytest.fixture(scope="module")
def enot_map(ridge2):
    _, x, y, _, _ = ridge2
    return fit(x, y, ENOT, seed=0, progress=False)


def test_enot_learns_the_bent_map_both_ways(ridge2, enot_map, tmp_path):
    """From the identity, both gradients become maps: ∇g forward (well below the Gaussian map's error; 0.30 %
    against 6.7 % when written) and ∇f its inverse, with no conjugate solve anywhere."""
    _, x, y, xt, tx = ridge2
    A, b = gaussian_map_from_samples(x, y)
    fwd = l2_uvp(enot_map.transport(xt), tx, y)
    assert fwd < 0.2 * l2_uvp(xt @ A.T + b, tx, y)
    back = enot_map.inverse(tx)
    assert np.mean(((back - xt) ** 2).sum(-1)) < 0.03 * xt.var(0).sum()
    assert enot_map.history["best_step"] == [ENOT.steps]           # checkpoint = "last"
    enot_map.save(tmp_path / "m")
    again = TransportMap.load(tmp_path / "m")
    assert isinstance(again.g, MLPPotential) and again.g.config.activation == "elu"
    np.testing.assert_array_equal(again.transport(xt[:100]), enot_map.transport(xt[:100]))


def test_enot_map_is_nearly_monotone_on_the_data(ridge2, enot_map):
    """Not convex by construction, so the audit measures it: few cyclical-monotonicity violations on the
    source (a random MLP potential of the same shape violates it on > 1 % of pairs)."""
    _, _, _, xt, _ = ridge2
    frac = cyclical_monotonicity(xt[:2000], enot_map.transport(xt[:2000]))["cm2_violation_fraction"]
    assert frac < 1e-3


def test_bidirectional_needs_the_objective_and_no_conjugate():
    x = np.random.default_rng(0).normal(size=(500, 2))
    for bad in ({"conj_steps": 3}, {"g_loss": "regression"}):
        with pytest.raises(TransportError, match="bidirectional"):
            fit(x, x, ENOT.replace(**bad), progress=False)
    for bad, match in [({"mlp_activation": "relu"}, "mlp_activation"), ({"checkpoint": "first"}, "checkpoint"),
                       ({"expectile": 1.01}, "expectile")]:
        with pytest.raises(TransportError, match=match):
            fit(x, x, ENOT.replace(**bad), progress=False)
    with pytest.raises(ValueError, match="unknown MLP activation"):
        build_potential(ICNNConfig(dim=2, kind="mlp", activation="tanh"))


def test_fused_step_gives_each_net_its_own_gradient():
    """One ENOT half-step with a single forward pass of the potential: the potential's gradient is that of the
    dual loss plus the expectile regulariser (amortised points held fixed), the amortiser's that of the
    conjugate objective; neither leaks into the other."""
    torch.manual_seed(0)
    cfg = ENOT.replace(width=16, clip=1e9)
    x, y = torch.randn(300, 3), torch.randn(300, 3) * 0.7 + 1.0
    solver = Solver(x, y, (x[:50], y[:50]), cfg, seed=0, out_scale=torch.ones(3))
    pot, amo = solver.f, solver.g
    xb, yb = x[:64], y[:64]
    # the reference gradients, computed the plain way
    tx = amo.grad(xb, create_graph=True)
    want_pot = torch.autograd.grad(f_loss(pot, yb, tx.detach()) + cfg.expectile_coef
                                   * expectile_loss(pot, xb, yb, tx.detach(), cfg.expectile), list(pot.parameters()),
                                   allow_unused=True)
    want_amo = torch.autograd.grad(-((xb * tx).sum(-1) - pot(tx)).mean(), list(amo.parameters()), allow_unused=True)
    got = {}
    for name, opt, net in (("pot", solver.opt_f, pot), ("amo", solver.opt_g, amo)):
        opt.register_step_pre_hook(lambda o, args, kwargs, n=name, m=net: got.__setitem__(n, [p.grad for p in m.parameters()]))
    solver._enot_step(1, pot, amo, solver.opt_f, solver.opt_g, xb, yb)
    for want, have in ((want_pot, got["pot"]), (want_amo, got["amo"])):
        assert [w is None for w in want] == [h is None for h in have]   # e.g. the last bias never moves ∇amo
        for w, h in zip(want, have):
            if w is not None:
                torch.testing.assert_close(h, w, rtol=1e-4, atol=1e-6)


def test_expectile_from_values_matches_the_network_form():
    torch.manual_seed(1)
    net = build_potential(ICNNConfig(dim=3, kind="mlp", activation="elu", neural_init=1.0))
    x, y, yh = torch.randn(40, 3), torch.randn(40, 3), torch.randn(40, 3)
    a = expectile_loss(net, x, y, yh, 0.9)
    b = expectile_from_values(x, y, yh, net(y), net(yh), 0.9)
    assert float(a.detach()) == pytest.approx(float(b.detach()), rel=1e-6)


def test_bf16_batches_change_the_gradients_by_bfloat16_rounding_only():
    """``precision = "bf16"``: one ENOT half-step's gradients differ from the float32 ones (autocast is on) by about
    bfloat16's rounding (2⁻⁸), and the parameters and their gradients stay float32."""
    torch.manual_seed(0)
    x, y = torch.randn(300, 8), torch.randn(300, 8) * 0.7 + 1.0
    grads = {}
    for precision in ("fp32", "bf16"):
        cfg = ENOT.replace(width=32, clip=1e9, precision=precision)
        solver = Solver(x, y, (x[:50], y[:50]), cfg, seed=0, out_scale=torch.ones(8))
        seen = []
        solver.opt_g.register_step_pre_hook(lambda o, a, k: seen.extend(p.grad.clone() for p in solver.g.parameters()
                                                                        if p.grad is not None))
        solver.step(1)                                  # odd batch: f the potential, ∇g the amortiser
        grads[precision] = torch.cat([g.flatten() for g in seen])
        assert all(p.dtype == torch.float32 for p in solver.g.parameters()) and grads[precision].dtype == torch.float32
    rel = float((grads["bf16"] - grads["fp32"]).norm() / grads["fp32"].norm())
    assert 1e-4 < rel < 0.05


def test_a_bf16_fit_learns_the_bent_map_as_well_as_float32(ridge2, enot_map):
    _, x, y, xt, tx = ridge2
    m = fit(x, y, ENOT.replace(precision="bf16"), seed=0, progress=False)
    out = m.transport(xt)
    assert out.dtype == np.float32
    A, b = gaussian_map_from_samples(x, y)
    got, ref = l2_uvp(out, tx, y), l2_uvp(enot_map.transport(xt), tx, y)
    assert got < 0.2 * l2_uvp(xt @ A.T + b, tx, y) and got < 2 * ref + 0.1


@pytest.mark.parametrize("text, want", [
    ("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n", True),
    ("processor\t: 0\nflags\t\t: fpu sse2 avx2 amx_bf16 amx_tile\n", True),
    ("processor\t: 0\nflags\t\t: fpu sse2 avx avx2\n", False),
    ("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n", True),
    ("processor\t: 0\nFeatures\t: fp asimd\n", False),
    ("processor\t: 0\nmodel name\t: something\n", None),
])
def test_native_bf16_reads_the_cpu_flags(tmp_path, text, want):
    from mindgap_lib.util.torch_env import native_bf16
    (tmp_path / "cpuinfo").write_text(text)
    assert native_bf16("cpu", tmp_path / "cpuinfo") is want
    assert native_bf16("cpu", tmp_path / "missing") is None


@pytest.mark.parametrize("native", [False, True, None])
def test_bf16_on_a_cpu_that_emulates_it_warns_once_naming_the_knob(monkeypatch, native):
    import warnings
    from mindgap_lib.transport import train
    monkeypatch.setattr(train, "native_bf16", lambda device: native)
    x = torch.randn(60, 3)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        train.Solver(x, x + 1, (x[:10], x[:10] + 1), ENOT.replace(width=8, precision="bf16"), seed=0,
                     out_scale=torch.ones(3))
        train.Solver(x, x + 1, (x[:10], x[:10] + 1), ENOT.replace(width=8), seed=0, out_scale=torch.ones(3))
    slow = [w for w in seen if 'precision = "bf16"' in str(w.message)]
    assert len(slow) == (1 if native is False else 0)
    if slow:
        assert 'precision = "fp32"' in str(slow[0].message) and slow[0].category is RuntimeWarning
