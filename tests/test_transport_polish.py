"""The polish stage: the plain dual with L-BFGS-solved conjugates after an ENOT run (`Solver.polish`)."""

import numpy as np
import pytest
import torch

from mindgap_lib.transport import TransportError, fit, l2_uvp, transport_config
from mindgap_lib.transport.train import polish_config

torch.set_num_threads(1)

# ENOT with convex potentials (the cpu profile's solver) at tiny size, stopped early on purpose
SHORT = transport_config("tiny", expectile=0.99, expectile_coef=2.0, bidirectional=True, conj_steps=0,
                         g_loss="objective", checkpoint="last", rollback_tol=0.0, map_refine_steps=30, lr=3e-2,
                         batch_size=256, steps=300, val_every=50)


@pytest.fixture(scope="module")
def short_and_polished(ridge2):
    _, x, y, _, _ = ridge2
    return (fit(x, y, SHORT, seed=0, progress=False),
            fit(x, y, SHORT.replace(polish_steps=150, polish_lr=3e-2), seed=0, progress=False))


def test_polish_takes_a_short_enot_run_most_of_the_way(ridge2, short_and_polished):
    """300 ENOT batches leave the 2-d ridge at 5.0 % L2-UVP; 150 polish batches bring it to 1.7 % (when written)."""
    _, _, y, xt, tx = ridge2
    short, polished = short_and_polished
    before, after = l2_uvp(short.transport(xt), tx, y), l2_uvp(polished.transport(xt), tx, y)
    assert before > 3.0 and after < 0.5 * before


def test_polish_continues_the_history_and_keeps_its_best_dual(short_and_polished):
    short, polished = short_and_polished
    h = polished.history
    assert h["polish_from"] == [SHORT.steps] and h["step"][:len(short.history["step"])] == short.history["step"]
    tail = h["step"][len(short.history["step"]):]
    assert tail == list(range(SHORT.steps, SHORT.steps + 151, 50))        # validated at its start, then every 50
    k0, kb = len(short.history["step"]), h["step"].index(h["best_step"][0], len(short.history["step"]))
    assert h["best_step"][0] > SHORT.steps and h["val_loss"][kb] == min(h["val_loss"][k0:]) < h["val_loss"][k0]
    assert max(h["conj_residual"][k0:]) < 1e-6                            # the conjugates are solved
    assert h["train_time"][0] >= h["time"][-1] > short.history["time"][-1] * 0.5
    assert polished.config["polish_steps"] == 150                          # the map keeps the config it was fitted with


def test_polish_config_is_the_plain_dual_in_float32():
    cfg = polish_config(SHORT.replace(polish_steps=70, polish_lr=2e-3, precision="bf16"))
    assert (cfg.steps, cfg.lr, cfg.polish_steps, cfg.precision) == (70, 2e-3, 0, "fp32")
    assert not cfg.bidirectional and cfg.expectile == 0 and cfg.conj_solver == "lbfgs" and cfg.conj_steps == 20
    assert cfg.g_loss == "regression" and cfg.checkpoint == "best"


@pytest.mark.parametrize("bad, field", [({"polish_conj_steps": 0}, "polish_conj_steps"),
                                        ({"polish_lr": 0.0}, "polish_lr"), ({"polish_steps": -1}, "polish_steps")])
def test_bad_polish_settings_name_the_field(bad, field):
    with pytest.raises(TransportError, match=field):
        SHORT.replace(**bad)
