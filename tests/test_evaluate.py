"""Evaluation: AUCs against analytic values, ESS limits, the calibrated path, closure, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import norm

from mindgap_lib.evaluate import (
    DiscriminatorConfig, EvaluateConfig, EvaluateError, GELU_MIN, IdentityMap, LLRS, auc_with_error, calibrate,
    chi2_ndf, corner_data, delong_variance, density_ratio_weights, ess_fraction, evaluate, fit_pca, head_from,
    load_latents, physics_llrs, smearing_scan, train_discriminator, w1,
)
from mindgap_lib.evaluate.scan import smearing_strength
from mindgap_lib.jetclass.schema import CLASSES
from mindgap_lib.tagger import Tagger, TaggerConfig, save_tagger

FAST = DiscriminatorConfig(layers=2, width=32, epochs=15, batch_size=128, lr=2e-3, patience=4)
WIDTH = 16


def gaussians(n: int, dim: int, delta: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n, dim)).astype(np.float32)
    b[:, 0] += delta
    return a, b


# ---------------------------------------------------------------- AUC and the discriminator

def test_delong_matches_sklearn_and_bootstrap():
    a, b = gaussians(2000, 1, 1.0, seed=1)
    labels, scores = np.r_[np.zeros(2000), np.ones(2000)], np.r_[a[:, 0], b[:, 0]]
    auc, var = delong_variance(labels, scores)
    delong, boot = auc_with_error(labels, scores), auc_with_error(labels, scores, "bootstrap", n_boot=300)
    assert auc == pytest.approx(delong.value, abs=1e-12)
    assert delong.value == pytest.approx(norm.cdf(1 / np.sqrt(2)), abs=3 * delong.err)  # the score is optimal here
    assert boot.err == pytest.approx(np.sqrt(var), rel=0.25)


def test_discriminator_on_one_distribution_is_at_half():
    a, b = gaussians(3000, 4, 0.0, seed=2)
    res = train_discriminator(a, b, FAST, seed=0)
    assert abs(res.auc.pulls_from(0.5)) < 3, res.auc
    assert 0.005 < res.auc.err < 0.03


def test_discriminator_on_shifted_gaussians_matches_phi():
    delta = 1.0
    a, b = gaussians(8000, 4, delta, seed=3)
    res = train_discriminator(a, b, FAST, seed=0)
    assert abs(res.auc.pulls_from(norm.cdf(delta / np.sqrt(2)))) < 3, res.auc
    assert len(res.history["val"]) >= 2 and res.best_epoch < len(res.history["val"])
    assert len(set(res.split_a.test) & set(res.split_a.train)) == 0


# ---------------------------------------------------------------- weights

def test_ess_limits():
    assert ess_fraction(np.ones(500)) == pytest.approx(1.0)
    w = np.ones(500)
    w[7] = 1e12
    assert ess_fraction(w) == pytest.approx(1 / 500, rel=1e-6)
    assert density_ratio_weights(np.full(10, 0.5)) == pytest.approx(np.ones(10))
    assert density_ratio_weights(np.array([0.5, 0.8]), normalise=False) == pytest.approx([1.0, 4.0])
    with pytest.raises(EvaluateError, match="non-negative"):
        ess_fraction(np.array([1.0, -1.0]))


def test_weights_from_discriminator_close_the_gap_when_overlap_is_large():
    a, b = gaussians(6000, 2, 0.5, seed=4)
    res = train_discriminator(a, b, FAST, seed=0)
    w = density_ratio_weights(res.scores_a)
    xa, xb = a[res.split_a.test, 0], b[res.split_b.test, 0]
    assert w1(xa, xb, w) < 0.4 * w1(xa, xb)
    assert 0.5 < ess_fraction(w) < 1.0  # analytic: exp(-delta^2) = 0.78 for the exact ratio


# ---------------------------------------------------------------- closure observables

def test_llrs_are_logit_differences_and_stable():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(100, len(CLASSES)))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    idx = {c: i for i, c in enumerate(CLASSES)}
    for name, (num, den) in LLRS.items():
        assert physics_llrs(logits)[name] == pytest.approx(np.log(p[:, idx[num]] / p[:, idx[den]]))
    huge = physics_llrs(logits * 1e4)
    assert all(np.isfinite(v).all() for v in huge.values())
    with pytest.raises(EvaluateError, match="QCD"):
        physics_llrs(logits[:, :5])


def test_w1_and_chi2():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=20000), rng.normal(size=20000)
    assert w1(x, x + 0.3) == pytest.approx(0.3)
    edges = np.linspace(-3, 3, 31)
    assert 0.6 < chi2_ndf(x, y, edges) < 1.6
    assert chi2_ndf(x, y + 0.2, edges) > 5
    # weights ~ 2 with the proper sum-of-squares errors: still chi2/ndf ~ 1
    assert 0.6 < chi2_ndf(x, y, edges, wx=rng.uniform(1, 3, size=20000)) < 1.6


def test_pca_corner_data_is_normalised():
    rng = np.random.default_rng(7)
    tgt = rng.normal(size=(500, 12)) * np.linspace(3, 0.1, 12)
    data = corner_data(fit_pca(tgt, 5), {"target": tgt, "source": tgt + 1.0}, bins=10)
    assert len(data["hist1d"]["source"]) == 5 and len(data["hist2d"]["target"]) == 10
    assert np.sum(data["hist2d"]["target"]["0,1"]) == pytest.approx(1.0)
    assert data["explained_variance_ratio"][0] > data["explained_variance_ratio"][4]


# ---------------------------------------------------------------- the calibrated path with a real tagger

@pytest.fixture(scope="module")
def tagger() -> Tagger:
    torch.manual_seed(0)
    cfg = TaggerConfig(num_particles=8, dim=16, num_layers=1, num_heads=2, head_layers=3, head_width=WIDTH, dropout=0.0)
    model = Tagger(cfg).eval()
    from mindgap_lib.tagger.features import fit_input_transform
    raw = np.random.default_rng(0).normal(size=(40, 8, 17)).astype(np.float32)
    model.input_transform = fit_input_transform(raw, np.ones((40, 8), bool), n_knots=16)
    return model


def test_identity_map_reproduces_the_taggers_own_latents(tagger, tmp_path):
    save_tagger(tagger, tmp_path / "tagger.pt")
    from mindgap_lib.evaluate import load_tagger
    model = load_tagger(tmp_path, "cpu")
    g = torch.Generator().manual_seed(1)
    batch = {"particles": torch.randn(64, 8, 17, generator=g), "mask": torch.rand(64, 8, generator=g) > 0.3,
             "jets": torch.randn(64, 5, generator=g)}
    with torch.no_grad():
        own = {k: v.numpy() for k, v in model.latents(batch).items()}
    for layer in ("z128", "z128_post"):
        cal = calibrate(model, IdentityMap(), own[layer], layer, batch_size=10)  # several batches
        np.testing.assert_allclose(cal[layer], own[layer])
        for k in ("penultimate", "logits"):
            np.testing.assert_allclose(cal[k], own[k], rtol=1e-5, atol=1e-6)


def _latents(model: Tagger, x: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = {k: v.numpy() for k, v in model.head(torch.from_numpy(x)).items()}
    return {**out, "jet_pt": np.full(len(x), 500.0, np.float32), "jet_eta": np.zeros(len(x), np.float32)}


class MeanShift:
    """The exact OT map between a Gaussian and its translate: for our linear first layer, exact in z128."""

    def __init__(self, a: np.ndarray, b: np.ndarray):
        self.d = (b.mean(0) - a.mean(0)).astype(np.float32)

    def transport(self, x: np.ndarray) -> np.ndarray:
        return x + self.d


def _shift(delta: float) -> np.ndarray:
    s = np.zeros(WIDTH, np.float32)
    s[:4] = delta
    return s


@pytest.fixture(scope="module")
def toy_run(tagger, tmp_path_factory):
    """Source ~ N(0, 1) and target ~ N(shift, 1) in the tagger's representation, pushed through its head."""
    root = tmp_path_factory.mktemp("toy")
    save_tagger(tagger, root / "tagger" / "tagger.pt")
    rng = np.random.default_rng(8)
    lat = root / "latents"
    lat.mkdir()
    arrays = {"nominal": _latents(tagger, rng.normal(size=(3000, WIDTH)).astype(np.float32))}
    for name, delta in (("target", 0.6), ("ip10", 0.1), ("ip20", 0.3), ("ip30", 0.6)):
        arrays[name] = _latents(tagger, (rng.normal(size=(3000, WIDTH)) + _shift(delta)).astype(np.float32))
    for name, arr in arrays.items():
        np.savez(lat / f"{name}.npz", **arr)
    src, tgt = arrays["nominal"], arrays["target"]
    metrics = evaluate(root / "tagger", lat, MeanShift(src["z128"], tgt["z128"]), root / "eval", profile="tiny",
                       progress=False, post_transport_dir=MeanShift(src["z128_post"], tgt["z128_post"]))
    return root, metrics


def test_evaluate_writes_the_issue_shape(toy_run):
    root, metrics = toy_run
    on_disk = json.loads((root / "eval" / "metrics.json").read_text())
    assert set(on_disk["auc"]) == {"source_vs_target", "calibrated_vs_target", "target_vs_target"}
    for row in on_disk["auc"].values():
        assert set(row) == {"z128", "penultimate", "logits"} and {"value", "err"} <= set(row["z128"])
    assert set(on_disk["closure"]) == set(LLRS)
    want = {"w1_source", "w1_calibrated", "w1_vertical", "chi2ndf_source", "chi2ndf_calibrated", "chi2ndf_vertical"}
    assert all(want <= set(c) for c in on_disk["closure"].values())
    assert 0 < on_disk["vertical"]["ess_fraction"] <= 1
    figures = json.loads((root / "eval" / "figures.json").read_text())
    assert {"roc", "scores", "observables", "weights", "post_activation"} <= set(figures)
    assert (root / "eval" / "pca.json").is_file()


def test_exact_map_closes_and_null_sits_at_half(toy_run):
    _, m = toy_run
    for layer in ("z128", "penultimate", "logits"):
        for comp in ("calibrated_vs_target", "target_vs_target"):
            auc = m["auc"][comp][layer]
            assert abs(auc["value"] - 0.5) < 3 * auc["err"] + 0.01, (comp, layer, auc)
    src = m["auc"]["source_vs_target"]["z128"]
    assert src["value"] > 0.6
    assert m["vertical"]["by_layer"]["z128"]["ess_fraction"] < 0.95


def test_post_activation_map_crosses_the_gelu_floor(toy_run):
    _, m = toy_run
    post = m["post_activation"]
    assert post["floor"]["target"]["min"] >= GELU_MIN - 1e-4
    assert post["floor"]["calibrated_z128_then_gelu"]["below_floor_fraction"] == 0.0
    # a translation in z128_post is not the OT map there and pushes values below the floor: found at once
    assert post["floor"]["calibrated_z128_post"]["below_floor_fraction"] > 0.01
    assert post["auc"]["calibrated_z128_post_vs_target"]["z128_post"]["value"] > 0.6


def test_smearing_scan_ess_falls_with_strength(toy_run):
    root, _ = toy_run
    def fit(source, target, profile, seed, device, progress, **kw):
        return MeanShift(source, target)
    r = smearing_scan(root / "tagger", root / "latents", ["ip30", "ip10", "ip20"], profile="tiny", progress=False,
                      out_dir=root / "scan", fit=fit, workers=1)  # a local `fit` cannot go to another process
    assert [p["strength"] for p in r["points"]] == [0.1, 0.2, 0.3]
    ess = [p["ess_fraction"] for p in r["points"]]
    assert ess[0] > ess[2]
    assert (root / "scan" / "scan.json").is_file()
    assert {"w1_horizontal", "w1_vertical", "w1_source"} <= set(r["points"][0]["closure"]["log_pHbb_pQCD"])
    with pytest.raises(EvaluateError, match="target"):
        smearing_strength("target")


def test_real_transport_map_from_its_folder(toy_run, tmp_path):
    """The stage interface: a map fitted by mindgap_lib.transport, saved as <dir>/map, loaded by evaluate."""
    from mindgap_lib.transport import fit
    root, _ = toy_run
    src, tgt = np.load(root / "latents" / "nominal.npz"), np.load(root / "latents" / "target.npz")
    fit(src["z128"], tgt["z128"], profile="tiny", seed=0, progress=False, threads=1).save(tmp_path / "transport" / "map")
    m = evaluate(root / "tagger", root / "latents", tmp_path / "transport", tmp_path / "eval", profile="tiny",
                 progress=False, epochs=4)
    for layer in ("z128", "logits"):
        assert m["auc"]["calibrated_vs_target"][layer]["value"] < m["auc"]["source_vs_target"][layer]["value"]
    assert m["info"]["config"]["discriminator"]["epochs"] == 4


# ---------------------------------------------------------------- bad inputs name what is wrong

def test_missing_key_and_file_are_named(tmp_path):
    np.savez(tmp_path / "nominal.npz", z128=np.zeros((5, 4), np.float32))
    with pytest.raises(EvaluateError, match=r"nominal\.npz.*logits"):
        load_latents(tmp_path / "nominal.npz", ("z128", "logits"))
    with pytest.raises(EvaluateError, match="nope.npz"):
        load_latents(tmp_path / "nope.npz")
    np.savez(tmp_path / "rows.npz", z128=np.zeros((5, 4)), logits=np.zeros((6, 10)))
    with pytest.raises(EvaluateError, match="rows"):
        load_latents(tmp_path / "rows.npz", ("z128", "logits"))


def test_mismatched_dims_are_named(toy_run, tagger, tmp_path):
    root, _ = toy_run
    bad = dict(np.load(root / "latents" / "target.npz"))
    bad["z128"] = bad["z128"][:, :8]
    (tmp_path / "lat").mkdir()
    np.savez(tmp_path / "lat" / "target.npz", **bad)
    np.savez(tmp_path / "lat" / "nominal.npz", **np.load(root / "latents" / "nominal.npz"))
    with pytest.raises(EvaluateError, match=r"z128.*mismatched.*nominal\.npz 16.*target\.npz 8"):
        evaluate(tagger, tmp_path / "lat", IdentityMap(), tmp_path / "out", profile="tiny", progress=False)
    with pytest.raises(EvaluateError, match="head"):
        head_from(tagger, np.zeros((3, 8), np.float32))
    narrow = type("Narrow", (), {"dim": 8, "transport": lambda self, x: x})()
    with pytest.raises(EvaluateError, match="8-dimensional"):
        calibrate(tagger, narrow, np.zeros((3, WIDTH), np.float32))
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_profile_overrides_are_checked():
    assert EvaluateConfig.from_profile("tiny", epochs=2, bins=7).discriminator.epochs == 2
    with pytest.raises(ValueError, match="epoks"):
        EvaluateConfig.from_profile("tiny", epoks=2)


def test_cli_reports_missing_latents(tmp_path, capsys):
    from mindgap_lib.cli.main.main import main
    rc = main(["evaluate", "--tagger", str(tmp_path), "--latents", str(tmp_path / "none"), "--transport",
               str(tmp_path), "--out", str(tmp_path / "o"), "--profile", "tiny", "--quiet"])
    assert rc == 2
    assert "tagger" in capsys.readouterr().err  # the first missing input is named
