"""Every calibration method on one toy pair (issue #16): shapes, the table, and closure by the discriminators.

The toy: 16-d latents, the target shifted by 0.8 along three directions; a small random tagger head
makes the penultimate layer and the logits. Every map must bring the AUC in the latent near 0.5,
where the uncalibrated source sits far above it.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from mindgap_lib.evaluate.beyond_config import BeyondConfig, BeyondDiscriminatorConfig, MethodsConfig
from mindgap_lib.evaluate.calibrated import head_from
from mindgap_lib.evaluate.closure import LLRS
from mindgap_lib.evaluate.config import EvaluateError
from mindgap_lib.evaluate.methods.base import MethodContext
from mindgap_lib.evaluate.methods.compare import METHODS, available_methods, compare_methods, weighted_auc
from mindgap_lib.evaluate.methods.maps import discrete_ot_map
from mindgap_lib.tagger import Tagger, TaggerConfig
from mindgap_lib.transport.config import transport_config
from mindgap_lib.transport.config import FlowConfig

MAPS = ("icnn", "bures", "flows4flows", "emd")
WEIGHTS = ("classifier_weights", "gb_weights")


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    model = Tagger(TaggerConfig(num_particles=8, dim=8, num_layers=1, num_heads=2, head_layers=3, head_width=16)).eval()
    layers = model.head.names
    rng = np.random.default_rng(0)

    def arrays(n: int, shift: float) -> dict[str, np.ndarray]:
        z = rng.normal(size=(n, 16)).astype(np.float32)
        z[:, :3] += shift
        return {layers.z: z, **head_from(model, z, layers.z)}

    sf, tf, se, te, null = (arrays(1200, s) for s in (0.0, 0.8, 0.0, 0.8, 0.8))
    flows = FlowConfig(transforms=2, hidden=32, density_steps=200, morph_steps=200, batch_size=128, lr=3e-3, subspace_tol=0)
    ctx = MethodContext(layers, partial(head_from, model, layer=layers.z),
                        MethodsConfig(output_steps=150, gb_estimators=20, gb_min_leaf=20, emd_points=600, flows=flows),
                        transport_config("tiny", steps=150, batch_size=128, val_every=50),
                        BeyondDiscriminatorConfig(layers=2, width=32, epochs=10, batch_size=128, patience=10, folds=2))
    table, details, cals = compare_methods(list(METHODS), sf, tf, se, te, null, ctx, [layers.z, layers.logits],
                                           bins=15, repeats=5)
    return layers, table, details, cals


def test_every_method_runs_with_the_right_shapes(toy):
    layers, table, details, cals = toy
    assert list(cals) == available_methods(list(METHODS))
    for name, cal in cals.items():
        assert cal.arrays[layers.logits].shape == (1200, 10), name
        if name == "output_icnn":
            assert set(cal.arrays) == {layers.logits}
        else:
            assert cal.arrays[layers.z].shape == (1200, 16) and cal.arrays[layers.penultimate].shape == (1200, 16)
        if name in WEIGHTS:
            assert cal.weights.shape == (1200,) and cal.weights.mean() == pytest.approx(1.0) and (cal.weights >= 0).all()
        else:
            assert cal.weights is None and cal.cost >= 0


def test_table_has_the_metrics_json_shape(toy):
    layers, table, details, _ = toy
    for name, row in table.items():
        assert set(row) == {"auc", "w1_excess", "ess", "time_s"}
        assert set(row["w1_excess"]) == set(LLRS) and all(np.isfinite(v) and v >= 0 for v in row["w1_excess"].values())
        want = {layers.logits} if name == "output_icnn" else {layers.z, layers.logits}
        assert set(row["auc"]) == want and all(set(a) == {"value", "err"} and a["err"] > 0 for a in row["auc"].values())
        assert (row["ess"] is None) == (name not in WEIGHTS) and row["time_s"] >= 0
    assert 0 < table["classifier_weights"]["ess"] < 1
    assert set(details["w1_floor"]) == set(LLRS) and details["cost"]["identity"]["value"] == 0.0


def test_every_map_closes_where_the_identity_does_not(toy):
    layers, table, _, _ = toy
    auc = {name: {l: a["value"] for l, a in row["auc"].items()} for name, row in table.items()}
    assert auc["identity"][layers.z] > 0.75 and auc["identity"][layers.logits] > 0.65
    for name in MAPS:
        assert auc[name][layers.z] < 0.65, (name, auc[name])
        assert auc[name][layers.z] < auc["identity"][layers.z] - 0.15
    assert auc["output_icnn"][layers.logits] < auc["identity"][layers.logits] - 0.08
    assert auc["classifier_weights"][layers.z] < auc["identity"][layers.z] - 0.15
    excess = {name: sum(row["w1_excess"].values()) for name, row in table.items()}
    assert all(excess[name] < excess["identity"] for name in ("icnn", "bures", "output_icnn"))


def test_transport_costs_are_near_the_shift(toy):
    """The shift is 0.8 along three axes: W2 = 0.8·√3 ≈ 1.39 for the Gaussian pair; the smooth maps get close."""
    _, _, details, _ = toy
    for name in ("icnn", "bures"):
        assert details["cost"][name]["value"] == pytest.approx(0.8 * np.sqrt(3), rel=0.2)


def test_weighted_auc():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=4000), rng.normal(0.5, 1.0, size=4000)
    plain = weighted_auc(a, b)
    ratio = np.exp(0.5 * a - 0.125)                          # N(0.5, 1) / N(0, 1): the exact density ratio
    fixed = weighted_auc(a, b, ratio)
    assert plain.value > 0.62 and abs(fixed.value - 0.5) < 3 * fixed.err + 0.01 and fixed.err > 0
    with pytest.raises(EvaluateError):
        weighted_auc(a, b, np.ones(3))


def test_discrete_ot_matches_a_permutation():
    """Equal subsamples: the plan is a permutation, so the subsample is mapped onto the target points."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(200, 3)), rng.normal(size=(400, 3)) + 2.0
    transport, w2 = discrete_ot_map(x, y, 200, 1, 0.0, seed=0)
    moved = transport(x)
    assert np.isclose(moved[:, None, :], y[None], atol=1e-4).all(-1).any(1).all()   # each onto a target point
    assert len(np.unique(moved.round(4), axis=0)) == 200                              # ... a different one each
    assert w2["w2_plan"] == pytest.approx(np.sqrt(((moved - x) ** 2).sum(1).mean()), rel=1e-4)
    assert 0 < w2["w2_floor"] < w2["w2_plan"] and w2["w2_excess"] == pytest.approx(np.sqrt(12), rel=0.15)


def test_config_and_unknown_method():
    from mindgap_lib.config import load_profile

    for name in ("tiny", "cpu", "paper"):
        assert load_profile(name).beyond.methods.names == tuple(METHODS)
    with pytest.raises(EvaluateError, match="unknown"):
        available_methods(["identity", "magic"])
    with pytest.raises(EvaluateError, match="gb_layer"):
        MethodsConfig(gb_layer="penultimate")
