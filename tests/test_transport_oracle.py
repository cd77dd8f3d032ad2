"""`fit_oracle`: the solver's network regressed onto a known map, the ceiling a dual fit is compared with (issue #15)."""

import numpy as np
import pytest
import torch

from mindgap_lib.transport import TransportError, fit_oracle, gaussian_map_from_samples, l2_uvp, transport_config

torch.set_num_threads(1)

TINY = transport_config("tiny")


@pytest.fixture(scope="module")
def oracle_map(ridge2):
    pair, x, y, _, _ = ridge2
    return fit_oracle(x, pair.true_map(x), TINY.replace(steps=3000, val_every=500), seed=0, progress=False)


def test_the_oracle_learns_the_bent_map_that_no_affine_map_holds(ridge2, oracle_map):
    pair, x, y, xt, txt = ridge2
    A, b = gaussian_map_from_samples(x, y)
    gaussian = l2_uvp(xt @ A.T + b, txt, y)
    ours = l2_uvp(oracle_map.transport(xt), txt, y)
    assert gaussian > 5.0                       # the start: the bend is out of an affine map's reach
    assert ours < 0.2 * gaussian, (ours, gaussian)
    mse = oracle_map.history["val_mse"]
    assert oracle_map.history["step"] == [0, 500, 1000, 1500, 2000, 2500, 3000]
    assert mse[-1] < 0.1 * mse[0]               # held-out regression error falls from the Gaussian start
    assert oracle_map.config["oracle"] and oracle_map.config["map_refine_steps"] == 0


def test_the_oracle_map_is_the_gradient_of_its_convex_potential(ridge2, oracle_map):
    """transport() is the bare ∇g, with no conjugate refinement through the untrained f."""
    _, _, _, xt, _ = ridge2
    np.testing.assert_allclose(oracle_map.transport(xt[:500]), oracle_map.transport(xt[:500], refine=0), atol=1e-6)


def test_the_oracle_needs_paired_rows(ridge2):
    pair, x, _, _, _ = ridge2
    with pytest.raises(TransportError, match="paired"):
        fit_oracle(x, pair.true_map(x[:-10]), TINY.replace(steps=5), progress=False)
    with pytest.raises(TransportError, match="mapped: 3 row"):
        bad = pair.true_map(x)
        bad[[1, 5, 9]] = np.nan
        fit_oracle(x, bad, TINY.replace(steps=5), progress=False)
