"""The ``paper`` profile's architectures build and train, on CPU, at a handful of jets or points.

The paper profile is for a GPU and hours; nothing else in the suite ever builds its networks. Each test takes
the profile's own section (``load_profile("paper")``), keeps the architecture exactly, shrinks only what sets
the amount of data (batch sizes, steps, epochs), and runs two optimiser steps: the tagger (512-d x 4 encoder
blocks over 128 particles), the ICNN pair (4 blocks x 2 layers x 2048 on d = 128) and the evaluation
discriminator (4 x 512). Seconds each; no timing is asserted.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mindgap_lib.config import load_profile

PAPER = load_profile("paper")
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> list[str]:
    return [k for k, v in module.state_dict().items() if k in before and not torch.equal(v, before[k])]


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_the_paper_tagger_takes_two_steps_on_a_handful_of_jets(tmp_path):
    from mindgap_lib.generation.generate import generate_shard
    from mindgap_lib.jetclass.schema import CLASSES
    from mindgap_lib.tagger.features import fit_input_transform, load_features
    from mindgap_lib.tagger.model import Tagger
    from mindgap_lib.tagger.train import _lr, _optimizer

    cfg = PAPER.tagger
    assert (cfg.model.dim, cfg.model.num_layers, cfg.model.num_heads, cfg.model.num_particles) == (512, 4, 8, 128)
    files = [generate_shard(p, "nominal", 3, seed=i, out=tmp_path / f"{p}_0000.root") for i, p in
             enumerate(("QCD", "Tbqq"))]
    raw = load_features(files, cfg.model.num_particles)
    transform = fit_input_transform(raw.particles.numpy(), raw.mask.numpy(), cfg.train.transform_knots)
    feats = raw.transformed(transform)
    assert feats.particles.shape == (6, 128, 17)
    torch.manual_seed(0)
    model = Tagger(cfg.model, transform).train()
    assert len(model.blocks) == 4 and sum(p.numel() for p in model.parameters()) > 5_000_000
    train = cfg.train.replace(threads=1)
    opt = _optimizer(model, train)
    before = _snapshot(model)
    batch = feats.batch(torch.arange(6))
    for step in range(2):
        for group in opt.param_groups:
            group["lr"] = max(_lr(step, train), train.lr * 1e-3)  # the warm-up starts at 0: keep the step real
        loss = torch.nn.functional.cross_entropy(model(batch), batch["labels"])
        assert torch.isfinite(loss), step
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.clip)
        opt.step()
    assert len(_changed(before, model)) > 0.9 * len(before)
    with torch.no_grad():
        out = model.eval().latents(batch)
    assert out["logits"].shape == (6, len(CLASSES)) and out["z128"].shape == (6, 128)
    assert all(bool(torch.isfinite(v).all()) for v in out.values())


def test_the_paper_icnn_pair_takes_two_steps_on_a_handful_of_points():
    from mindgap_lib.transport.train import Solver

    cfg = PAPER.transport
    assert (cfg.blocks, cfg.layers, cfg.width) == (4, 2, 2048)
    small = cfg.replace(batch_size=16, threads=1)  # the architecture, the conjugate solver and its losses as is
    rng = np.random.default_rng(0)
    d = 128
    x = rng.normal(size=(264, d)).astype(np.float32)
    y = (rng.normal(size=(264, d)) * 1.3 + 0.5).astype(np.float32)
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    solver = Solver(t(x[:256]), t(y[:256]), (t(x[256:]), t(y[256:])), small, seed=0, out_scale=torch.ones(d))
    assert solver.g.config.dim == d and solver.g.config.width == 2048 and solver.g.config.blocks == 4
    assert sum(p.numel() for p in solver.g.parameters()) > 20_000_000
    before = {"f": _snapshot(solver.f), "g": _snapshot(solver.g)}
    steps = [solver.step(i) for i in (1, 2)]  # f_per_g = 4, g_per_f = 10: both update in each of these steps
    assert all(np.isfinite(s["w2sq"]) and np.isfinite(s["dual"]) for s in steps), steps
    assert _changed(before["f"], solver.f) and _changed(before["g"], solver.g)
    moved = solver.g.grad(t(x[:8]))
    assert moved.shape == (8, d) and bool(torch.isfinite(moved).all())


def test_the_paper_discriminator_takes_two_steps_on_a_handful_of_points():
    from mindgap_lib.evaluate.discriminator import Discriminator, fit_fold

    cfg = PAPER.evaluate.discriminator
    assert (cfg.layers, cfg.width) == (4, 512)
    net = Discriminator(128, cfg.layers, cfg.width)
    assert sum(isinstance(m, torch.nn.Linear) for m in net.modules()) == cfg.layers + 1
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(24, 128)).astype(np.float32), (rng.normal(size=(24, 128)) + 0.3).astype(np.float32)
    # fold 0 trains on the 16 + 16 rows of the other folds, 20 % of them held out: 13 + 13 -> batches of 13
    small = cfg.replace(epochs=1, batch_size=13, threads=1)
    fit = fit_fold(a, b, 0, small, seed=0)
    assert len(fit.history["train"]) == 1 and np.isfinite(fit.history["train"] + fit.history["val"]).all()
    assert fit.scores_a.shape == (8,) and fit.scores_b.shape == (8,)
    assert np.all((fit.scores_a > 0) & (fit.scores_a < 1)) and np.all((fit.scores_b > 0) & (fit.scores_b < 1))
