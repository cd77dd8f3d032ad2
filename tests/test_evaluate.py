"""Evaluation: cross-fitted AUCs against analytic values, ESS limits, W1 floors, the calibrated path, closure,
leak-free rows, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import norm

from mindgap_lib.claims import check_goals
from mindgap_lib.cli.main import main as cli
from mindgap_lib.config import ProfileError, load_profile
from mindgap_lib.evaluate.auc import auc_with_error, delong_variance
from mindgap_lib.evaluate.calibrated import IdentityMap, calibrate, head_from, load_tagger
from mindgap_lib.evaluate.closure import LLRS, chi2_ndf, closure_numbers, common_edges, excess, physics_llrs, w1
from mindgap_lib.evaluate.comparisons import COMPARISONS, Task, run_discriminators
from mindgap_lib.evaluate.config import DiscriminatorConfig, EvaluateConfig, EvaluateError, ScanConfig
from mindgap_lib.evaluate.discriminator import combine_folds, cross_fit, fit_fold, fold_of
from mindgap_lib.evaluate.gap_curve import curve_sizes, curve_tasks
from mindgap_lib.evaluate.inputs import load_latents
from mindgap_lib.evaluate.pca import corner_data, fit_pca
from mindgap_lib.evaluate.post_activation import GELU_MIN
from mindgap_lib.evaluate.run import evaluate
from mindgap_lib.evaluate.samples import eval_samples
from mindgap_lib.evaluate.scan import scan_point, smearing_scan, smearing_strength
from mindgap_lib.evaluate.weights import density_ratio_weights, ess_fraction
from mindgap_lib.jetclass.schema import CLASSES
from mindgap_lib.splits import SplitConfig, calibration_rows
from mindgap_lib.tagger.checkpoint import save_tagger
from mindgap_lib.tagger.config import TaggerConfig, layers_of
from mindgap_lib.tagger.model import Tagger
from mindgap_lib.util.seeds import derive_seed

FAST = DiscriminatorConfig(layers=2, width=32, epochs=15, batch_size=128, lr=2e-3, patience=4, folds=3)
WIDTH = 16
LAYERS = layers_of(WIDTH)  # z16, z16_post, penultimate, logits: the names follow the tagger's head
SPLIT = SplitConfig(fit_fraction=0.5, seed=0)
TINY_EVAL = load_profile("tiny").evaluate.replace(workers=1)  # in this process: the toy's fits take a second each


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gaussians(n: int, dim: int, delta: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n, dim)).astype(np.float32)
    b[:, 0] += delta
    return a, b


# ---------------------------------------------------------------- AUC and the cross-fitted discriminator

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
    res = cross_fit(a, b, FAST, seed=0)
    assert abs(res.auc.pulls_from(0.5)) < 3, res.auc
    assert 0.005 < res.auc.err < 0.03
    assert len(res.fold_aucs) == 3 and all(0.4 < f < 0.6 for f in res.fold_aucs)


def test_discriminator_on_shifted_gaussians_matches_phi():
    delta = 1.0
    a, b = gaussians(8000, 4, delta, seed=3)
    res = cross_fit(a, b, FAST, seed=0)
    assert abs(res.auc.pulls_from(norm.cdf(delta / np.sqrt(2)))) < 3, res.auc
    assert res.scores_a.shape == (8000,) and res.scores_b.shape == (8000,)  # every row scored
    assert all(len(h["val"]) >= 2 for h in res.histories) and all(b < len(h["val"]) for b, h in
                                                                   zip(res.best_epochs, res.histories))
    summary = res.summary()
    assert summary["folds"] == 3 and summary["n_a"] == 8000 and summary["fold_spread"] < 0.03


def test_every_score_comes_from_the_fold_fit_that_did_not_train_on_it():
    """Cross-fitting by hand: fold k's fit scores exactly the rows of fold k; the pieces give cross_fit's scores."""
    a, b = gaussians(600, 3, 0.5, seed=4)
    cfg = FAST.replace(epochs=3)
    fa = fold_of(600, 3, derive_seed(7, "folds", "a"))
    assert sorted(np.bincount(fa)) == [200, 200, 200]
    fits = [fit_fold(a, b, k, cfg, seed=7) for k in range(3)]
    for k, f in enumerate(fits):
        assert len(f.scores_a) == (fa == k).sum()
    whole = cross_fit(a, b, cfg, seed=7)
    again = combine_folds(600, 600, fits[::-1], cfg, seed=7)  # fits run anywhere, in any order
    np.testing.assert_array_equal(again.scores_a, whole.scores_a)
    np.testing.assert_array_equal(again.scores_b, whole.scores_b)
    np.testing.assert_array_equal(whole.scores_a[fa == 1], fits[1].scores_a)


def test_discriminators_side_by_side_give_the_results_of_a_run_in_turn():
    a, b = gaussians(400, 2, 0.7, seed=6)
    tasks = {("source_vs_target", "x"): Task(a, b, "s"), ("target_vs_target", "x"): Task(b[:200], b[200:], "n")}
    cfg = FAST.replace(epochs=3)
    in_turn = run_discriminators(tasks, cfg, seed=3, progress=False, workers=1)
    side = run_discriminators(tasks, cfg, seed=3, progress=False, workers=2)
    for key in tasks:
        np.testing.assert_allclose(side[key].scores_a, in_turn[key].scores_a, rtol=1e-6, atol=1e-7)
        assert side[key].auc.value == pytest.approx(in_turn[key].auc.value, abs=1e-6)


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


def test_out_of_fold_weights_close_the_gap_when_overlap_is_large():
    a, b = gaussians(6000, 2, 0.5, seed=4)
    res = cross_fit(a, b, FAST, seed=0)
    w = density_ratio_weights(res.scores_a)
    assert w1(a[:, 0], b[:, 0], w) < 0.4 * w1(a[:, 0], b[:, 0])
    assert 0.5 < ess_fraction(w) < 1.0  # analytic: exp(-delta^2) = 0.78 for the exact ratio


# ---------------------------------------------------------------- closure observables and the W1 floor

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


def test_w1_is_quoted_against_the_floor_of_independent_target_jets():
    rng = np.random.default_rng(7)
    target, pool = rng.normal(size=2000), rng.normal(size=4000)
    source, calibrated = rng.normal(size=2000) + 0.5, rng.normal(size=2000)
    c = closure_numbers(target, {"source": (source, None), "calibrated": (calibrated, None)},
                        common_edges(target, 20), pool, repeats=30, seed=0)
    for name in ("source", "calibrated"):
        assert {f"w1_{name}", f"w1_{name}_err", f"w1_excess_{name}", f"w1_excess_{name}_err",
                f"w1_excess_{name}_upper", f"chi2ndf_{name}"} <= set(c)
    assert 0.01 < c["w1_null"] < 0.1 and c["w1_null_err"] > 0                 # two samples of N(0,1) of 2000
    assert c["w1_calibrated"] == pytest.approx(c["w1_null"], abs=3 * c["w1_null_err"] + 0.02)
    assert c["w1_excess_source"] == pytest.approx(0.5, abs=0.05)
    assert c["w1_excess_calibrated_upper"] < 0.3 * c["w1_excess_source"]
    assert c["w1_excess_reduction"] > c["w1_excess_reduction_lower"] > 3
    assert 0.3 < c["chi2ndf_null"] < 2.5 and c["chi2ndf_source"] > 10
    assert excess(0.3, 0.4) == 0.0 and excess(0.5, 0.3) == pytest.approx(0.4)


def test_the_excess_error_carries_the_floor_fluctuation_when_the_null_pool_has_exactly_n_jets():
    """The book's layout: as many target fit jets (the null pool) as source eval jets."""
    rng = np.random.default_rng(8)
    target, pool, calibrated = rng.normal(size=3000), rng.normal(size=2000), rng.normal(size=2000) + 0.02
    c = closure_numbers(target, {"calibrated": (calibrated, None)}, common_edges(target, 20), pool, repeats=40, seed=0)
    assert c["w1_null"] == pytest.approx(w1(pool, target))            # the point floor: the whole pool
    assert 0.3 * c["w1_null"] < c["w1_null_err"] < 1.5 * c["w1_null"]  # a floor of one draw fluctuates like any W1
    # a calibrated sample at the floor: its 95 % upper bound covers the 0.02 shift, and is not tiny
    assert 0.02 < c["w1_excess_calibrated_upper"] < 0.15


def test_pca_corner_data_is_normalised():
    rng = np.random.default_rng(7)
    tgt = rng.normal(size=(500, 12)) * np.linspace(3, 0.1, 12)
    data = corner_data(fit_pca(tgt, 5), {"target": tgt, "source": tgt + 1.0}, bins=10)
    assert len(data["hist1d"]["source"]) == 5 and len(data["hist2d"]["target"]) == 10
    assert np.sum(data["hist2d"]["target"]["0,1"]) == pytest.approx(1.0)
    assert data["explained_variance_ratio"][0] > data["explained_variance_ratio"][4]


# ---------------------------------------------------------------- which rows an evaluation may look at

def _latent_dict(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"z": rng.normal(size=(n, 3)).astype(np.float32), "row": np.arange(n, dtype=np.float32)[:, None]}


@pytest.mark.parametrize("n_source,n_target,max_events", [(1000, 1000, 0), (1000, 1400, 0), (1000, 1000, 200)])
def test_eval_samples_never_hold_a_fitting_row(n_source, n_target, max_events):
    """Issue "paper-faithful target": no evaluation row is a map's fitting row; the null is as large as the
    source's eval rows and disjoint from the target's eval rows."""
    src, tgt = _latent_dict(n_source, 1), _latent_dict(n_target, 2)
    s = eval_samples(src, tgt, SPLIT, ("nominal", "target"), max_events=max_events, seed=0)
    fit_s, fit_t = calibration_rows(n_source, SPLIT, "nominal").fit, calibration_rows(n_target, SPLIT, "target").fit
    np.testing.assert_array_equal(s.source_fit_rows, fit_s)
    np.testing.assert_array_equal(s.target_fit_rows, fit_t)
    assert not set(s.source.rows) & set(fit_s) and not set(s.target.rows) & set(fit_t)
    assert len(s.null) == len(s.source) and not set(s.null.rows) & set(s.target.rows)
    assert set(s.null.rows) <= set(fit_t)             # nothing in a null comparison was fitted
    assert len(set(s.null.rows)) == len(s.null)       # drawn without replacement
    if max_events:
        assert len(s.source) == len(s.target) == max_events
    else:
        assert len(s.source) == n_source - len(fit_s) and len(s.target) == n_target - len(fit_t)
    # the arrays are those rows, in that order
    np.testing.assert_array_equal(s.source["row"][:, 0], s.source.rows)
    np.testing.assert_array_equal(s.null["row"][:, 0], s.null.rows)
    np.testing.assert_array_equal(s.target["z"], tgt["z"][s.target.rows])


def test_a_target_too_small_for_the_null_is_named():
    with pytest.raises(EvaluateError, match="null comparison.*'target'"):
        eval_samples(_latent_dict(1000, 1), _latent_dict(300, 2), SPLIT)


def test_the_split_is_per_sample_seeded_and_stable():
    a, b = calibration_rows(1000, SPLIT, "nominal"), calibration_rows(1000, SPLIT, "target")
    assert len(a.fit) == 500 and not set(a.fit) & set(a.eval) and len(set(a.fit) | set(a.eval)) == 1000
    assert not np.array_equal(a.fit, b.fit)            # each sample has its own cut
    np.testing.assert_array_equal(a.fit, calibration_rows(1000, SPLIT, "nominal").fit)
    assert not np.array_equal(a.fit, calibration_rows(1000, SPLIT.replace(seed=1), "nominal").fit)


# ---------------------------------------------------------------- the calibrated path with a real tagger

@pytest.fixture(scope="module")
def tagger() -> Tagger:
    torch.manual_seed(0)
    cfg = TaggerConfig(num_particles=8, dim=16, num_layers=1, num_heads=2, head_layers=3, head_width=WIDTH, dropout=0.0)
    from mindgap_lib.tagger.features import fit_input_transform
    raw = np.random.default_rng(0).normal(size=(40, 8, 17)).astype(np.float32)
    return Tagger(cfg, fit_input_transform(raw, np.ones((40, 8), bool), n_knots=16)).eval()


def test_identity_map_reproduces_the_taggers_own_latents(tagger, tmp_path):
    save_tagger(tagger, tmp_path / "tagger.pt")
    model = load_tagger(tmp_path, "cpu")
    assert model.head.names == LAYERS
    g = torch.Generator().manual_seed(1)
    batch = {"particles": torch.randn(64, 8, 17, generator=g), "mask": torch.rand(64, 8, generator=g) > 0.3,
             "jets": torch.randn(64, 5, generator=g)}
    with torch.no_grad():
        own = {k: v.numpy() for k, v in model.latents(batch).items()}
    assert set(own) == set(LAYERS.all)
    for layer in LAYERS.calibratable:
        cal = calibrate(model, IdentityMap(), own[layer], layer, batch_size=10)  # several batches
        np.testing.assert_allclose(cal[layer], own[layer])
        for k in ("penultimate", "logits"):
            np.testing.assert_allclose(cal[k], own[k], rtol=1e-5, atol=1e-6)


def _latents(model: Tagger, x: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = {k: v.numpy() for k, v in model.head(torch.from_numpy(x)).items()}
    return {**out, "jet_pt": np.full(len(x), 500.0, np.float32), "jet_eta": np.zeros(len(x), np.float32)}


class MeanShift:
    """The exact OT map between a Gaussian and its translate: for the head's linear first layer, exact in z."""

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
    metrics = evaluate(root / "tagger", lat / "nominal.npz", lat / "target.npz", MeanShift(src[LAYERS.z], tgt[LAYERS.z]),
                       root / "eval", TINY_EVAL, SPLIT, progress=False,
                       post_transport=MeanShift(src[LAYERS.z_post], tgt[LAYERS.z_post]))
    return root, metrics


def test_evaluate_writes_the_issue_shape(toy_run):
    root, metrics = toy_run
    on_disk = json.loads((root / "eval" / "metrics.json").read_text())
    assert on_disk["layers"] == {"z": "z16", "z_post": "z16_post", "evaluated": ["z16", "penultimate", "logits"]}
    assert set(on_disk["auc"]) == set(COMPARISONS)
    for row in on_disk["auc"].values():
        assert set(row) == set(LAYERS.evaluated)
        assert {"value", "err", "fold_mean", "fold_spread", "folds", "n_a", "n_b"} <= set(row[LAYERS.z])
        assert row[LAYERS.z]["folds"] == TINY_EVAL.discriminator.folds
    assert set(on_disk["closure"]) == set(LLRS)
    want = {"w1_null", "w1_null_err", "chi2ndf_null"}
    for name in ("source", "calibrated", "vertical"):
        want |= {f"w1_{name}", f"w1_{name}_err", f"w1_excess_{name}", f"w1_excess_{name}_err",
                 f"w1_excess_{name}_upper", f"chi2ndf_{name}"}
    want |= {"w1_excess_reduction", "w1_excess_reduction_lower"}
    assert all(want <= set(c) for c in on_disk["closure"].values())
    assert 0 < on_disk["vertical"]["ess_fraction"] <= 1 and set(on_disk["vertical"]["by_layer"]) == set(LAYERS.evaluated)
    figures = json.loads((root / "eval" / "figures.json").read_text())
    assert {"roc", "scores", "observables", "weights", "post_activation"} <= set(figures)
    assert (root / "eval" / "pca.json").is_file()
    info = on_disk["info"]
    assert info["n_source_eval"] == 1500 and info["n_null"] == info["n_source_eval"] and info["n_source_fit"] == 1500


def test_gap_curve_subsets_are_nested_random_and_clipped():
    """The learning curve's samples: sizes clipped to the rows both sides have, each subset inside the next."""
    assert curve_sizes((100, 0, 5000, 100), 3000, 2000) == [100, 2000]
    src, tgt = np.arange(3000.0)[:, None], -np.arange(2000.0)[:, None]   # each row holds its own index
    tasks = curve_tasks(src, tgt, (100, 500, 0), seed=3, layer="z16")
    assert list(tasks) == [("gap_curve", "z16:100"), ("gap_curve", "z16:500"), ("gap_curve", "z16:2000")]
    rows = [(set(t.a[:, 0]), set(-t.b[:, 0])) for t in tasks.values()]
    assert [len(a) for a, _ in rows] == [100, 500, 2000] and rows[-1][1] == set(range(2000))
    assert rows[0][0] < rows[1][0] < rows[2][0] and rows[0][1] < rows[1][1] < rows[2][1]
    assert rows[1][0] != set(range(500))                                  # random rows, not the first ones
    assert set(curve_tasks(src, tgt, (100,), seed=3)[("gap_curve", "z128:100")].a[:, 0]) == rows[0][0]


def test_gap_curve_in_the_metrics(toy_run):
    """Tiny's curve (100 jets, then all 3000): it sees the toy's shift, better with more jets, and its
    all-rows point agrees with the closure table's source-vs-target AUC on the 1500 eval rows."""
    _, metrics = toy_run
    pts = metrics["gap_curve"]["points"]
    assert [p["jets_per_side"] for p in pts] == [100, 3000]
    assert pts[-1]["auc"] > 0.5 + 5 * pts[-1]["err"] and pts[-1]["err"] < pts[0]["err"]
    ev = metrics["auc"]["source_vs_target"][LAYERS.z]
    assert abs(pts[-1]["auc"] - ev["value"]) < 4 * np.hypot(pts[-1]["err"], ev["err"]) + 0.02
    assert set(metrics["auc"]) == set(COMPARISONS)                       # the curve's fits stay out of the table
    goal = "source-vs-target AUC at z, every calibration jet (the gap curve's last point)"
    rows = {g["goal"]: g for g in check_goals({"evaluation": metrics})}
    row = rows[goal]
    assert row["value"] == pts[-1]["auc"] and row["met"] == (pts[-1]["auc"] >= 0.85) and not row["stricter"]
    eval_rows = rows["source-vs-target AUC at z, the closure table's eval rows alone"]
    assert eval_rows["value"] == ev["value"] and eval_rows["stricter"]   # shown beside the goal, not required
    point, lower = rows["smallest LLR W1-excess reduction"], rows["smallest LLR W1-excess reduction (95 % lower bound)"]
    assert point["value"] == min(c["w1_excess_reduction"] for c in metrics["closure"].values())
    assert point["value"] >= lower["value"] and lower["stricter"] and not point["stricter"]
    no_curve = {**metrics, "gap_curve": {**metrics["gap_curve"], "points": []}}  # gap_sizes = (): not run
    row = {g["goal"]: g for g in check_goals({"evaluation": no_curve})}[goal]
    assert row["value"] is None and row["met"] is None


def test_no_evaluated_row_was_a_fitting_row(toy_run):
    """Issue "paper-faithful target": the rows evaluate used, from its rows.npz, against the split the maps use."""
    root, _ = toy_run
    with np.load(root / "eval" / "rows.npz") as npz:
        rows = {k: npz[k] for k in npz.files}
    fit_s, fit_t = calibration_rows(3000, SPLIT, "nominal").fit, calibration_rows(3000, SPLIT, "target").fit
    np.testing.assert_array_equal(rows["source_fit"], fit_s)
    np.testing.assert_array_equal(rows["target_fit"], fit_t)
    assert not set(rows["source_eval"]) & set(fit_s) and not set(rows["target_eval"]) & set(fit_t)
    assert len(rows["null"]) == len(rows["source_eval"]) and not set(rows["null"]) & set(rows["target_eval"])


def test_exact_map_closes_and_null_sits_at_half(toy_run):
    _, m = toy_run
    for layer in LAYERS.evaluated:
        for comp in ("calibrated_vs_target", "target_vs_target"):
            auc = m["auc"][comp][layer]
            assert abs(auc["value"] - 0.5) < 3 * auc["err"] + 0.01, (comp, layer, auc)
    assert m["auc"]["source_vs_target"][LAYERS.z]["value"] > 0.6
    assert m["vertical"]["by_layer"][LAYERS.z]["ess_fraction"] < 0.95
    for name, c in m["closure"].items():  # the exact map sits on the floor; the source does not
        assert c["w1_excess_calibrated"] <= c["w1_excess_source"], name


def test_post_activation_map_crosses_the_gelu_floor(toy_run):
    _, m = toy_run
    post = m["post_activation"]
    assert post["floor"]["target"]["min"] >= GELU_MIN - 1e-4
    assert post["floor"]["calibrated_pre_then_gelu"]["below_floor_fraction"] == 0.0
    # a translation in z_post is not the OT map there and pushes values below the floor: found at once
    assert post["floor"]["calibrated_post"]["below_floor_fraction"] > 0.01
    assert post["auc"]["calibrated_post_vs_target"][LAYERS.z_post]["value"] > 0.6


def test_smearing_scan_ess_falls_with_strength(toy_run, tagger):
    """The scan with the real solver (the tiny [transport], fewer steps through [scan] transport): the ESS of the
    vertical weights falls as the target moves away, and the horizontal map closes where the source does not."""
    root, _ = toy_run
    lat = root / "latents"
    r = smearing_scan(root / "tagger", lat / "nominal.npz", {v: lat / f"{v}.npz" for v in ("ip30", "ip10", "ip20")},
                      TINY_EVAL, ScanConfig(variations=("ip10", "ip20", "ip30"), workers=1, transport={"steps": 100}),
                      load_profile("tiny").transport, SPLIT, progress=False, out_dir=root / "scan")
    assert [p["strength"] for p in r["points"]] == [0.1, 0.2, 0.3]
    assert [p["variation"] for p in r["points"]] == ["ip10", "ip20", "ip30"]
    ess = [p["ess_fraction"] for p in r["points"]]
    assert ess[0] > ess[2]
    assert r["points"][0]["n_fit"] == [1500, 1500]
    # W1 of the physics LLRs (summed over the four), over the floor of independent target jets; the toy head's
    # LLRs are small numbers: source excess 0.006, 0.010, 0.012 on a floor of 0.003, calibrated 0.002-0.003
    w1 = [{k: sum(c[f"w1_{k}"] for c in p["closure"].values()) for k in ("null", "excess_source", "excess_calibrated")}
          for p in r["points"]]
    for w in w1[1:]:  # ip20 and ip30: the source is clearly off, and the real map takes most of that away
        assert w["excess_source"] > 2 * w["null"], w1
        assert w["excess_calibrated"] < 0.5 * w["excess_source"], w1
    assert (root / "scan" / "scan.json").is_file() and (root / "scan" / "scan_figures.json").is_file()
    closure = r["points"][0]["closure"]["log_pHbb_pQCD"]
    assert {"w1_source", "w1_calibrated", "w1_vertical", "w1_null", "w1_excess_calibrated"} <= set(closure)
    with pytest.raises(EvaluateError, match="target"):
        smearing_strength("target")


def test_a_scan_target_smaller_than_the_source_cuts_both_to_its_eval_rows(toy_run, tagger):
    """The cpu book's scan sample (20 000 jets) is half the calibration source (40 000): the point is judged on as
    many source as target eval rows (the null needs as many target fit rows), and no source fit row is among them."""
    root, _ = toy_run
    src = load_latents(root / "latents" / "nominal.npz", LAYERS.all)
    tgt = {k: v[:1000] for k, v in load_latents(root / "latents" / "ip30.npz", LAYERS.all).items()}
    numbers, _ = scan_point(tagger, src, tgt, ("nominal", "ip30"), TINY_EVAL, load_profile("tiny").transport, SPLIT,
                            fit=lambda a, b, cfg, seed, device: MeanShift(a, b))
    assert numbers["n_source_eval"] == numbers["n_target_eval"] == 500 and numbers["n_fit"] == [1500, 500]
    assert numbers["auc_source_vs_target"]["value"] > 0.6


def test_real_transport_stage_on_the_fit_rows_then_evaluate(toy_run, tmp_path):
    """The stage interface: a map fitted by fit_latents on the fit rows, loaded by evaluate from its folder;
    nothing evaluate scores was among the map's fitting rows."""
    from mindgap_lib.transport.config import transport_config
    from mindgap_lib.transport import fit_latents

    root, _ = toy_run
    lat = root / "latents"
    m_t = fit_latents(lat / "nominal.npz", lat / "target.npz", tmp_path / "transport", transport_config("tiny", steps=200),
                      layer=LAYERS.z, split=SPLIT, seed=0, progress=False)
    assert m_t["n_fit_source"] == 1500
    cfg = TINY_EVAL.replace(discriminator=TINY_EVAL.discriminator.replace(epochs=4))
    (tmp_path / "eval").mkdir()
    m = evaluate(root / "tagger", lat / "nominal.npz", lat / "target.npz", tmp_path / "transport", tmp_path / "eval",
                 cfg, SPLIT, progress=False)
    for layer in (LAYERS.z, "logits"):
        assert m["auc"]["calibrated_vs_target"][layer]["value"] < m["auc"]["source_vs_target"][layer]["value"]
    assert m["info"]["config"]["discriminator"]["epochs"] == 4 and "post_activation" not in m
    with np.load(tmp_path / "eval" / "rows.npz") as npz:
        used = set(npz["source_eval"]), set(npz["target_eval"])
    fitted = calibration_rows(3000, SPLIT, m_t["source"]).fit, calibration_rows(3000, SPLIT, m_t["target"]).fit
    assert not used[0] & set(fitted[0]) and not used[1] & set(fitted[1])


def test_evaluate_creates_its_output_folder(toy_run, tmp_path):
    root, _ = toy_run
    lat = root / "latents"
    quick = TINY_EVAL.replace(null_repeats=2, discriminator=TINY_EVAL.discriminator.replace(epochs=1, folds=2))
    evaluate(root / "tagger", lat / "nominal.npz", lat / "target.npz", IdentityMap(), tmp_path / "new" / "eval",
             quick, SPLIT, progress=False)
    assert (tmp_path / "new" / "eval" / "metrics.json").is_file()


# ---------------------------------------------------------------- bad inputs name what is wrong

def test_missing_key_and_file_are_named(tmp_path):
    np.savez(tmp_path / "nominal.npz", z128=np.zeros((5, 4), np.float32))
    with pytest.raises(EvaluateError, match=r"nominal\.npz.*logits"):
        load_latents(tmp_path / "nominal.npz", ("z128", "logits"))
    with pytest.raises(EvaluateError, match="nope.npz"):
        load_latents(tmp_path / "nope.npz", ("z128",))
    np.savez(tmp_path / "rows.npz", z128=np.zeros((5, 4)), logits=np.zeros((6, 10)))
    with pytest.raises(EvaluateError, match="rows"):
        load_latents(tmp_path / "rows.npz", ("z128", "logits"))
    np.savez(tmp_path / "nan.npz", z128=np.full((5, 4), np.nan))
    with pytest.raises(EvaluateError, match=r"nan\.npz.*non-finite"):
        load_latents(tmp_path / "nan.npz", ("z128",))


def test_mismatched_dims_are_named(toy_run, tagger, tmp_path):
    root, _ = toy_run
    bad = dict(np.load(root / "latents" / "target.npz"))
    bad[LAYERS.z] = bad[LAYERS.z][:, :8]
    (tmp_path / "lat").mkdir()
    np.savez(tmp_path / "lat" / "target.npz", **bad)
    np.savez(tmp_path / "lat" / "nominal.npz", **np.load(root / "latents" / "nominal.npz"))
    with pytest.raises(EvaluateError, match=r"z16.*mismatched.*nominal\.npz 16.*target\.npz 8"):
        evaluate(tagger, tmp_path / "lat" / "nominal.npz", tmp_path / "lat" / "target.npz", IdentityMap(),
                 tmp_path / "out", TINY_EVAL, SPLIT, progress=False)
    with pytest.raises(EvaluateError, match="head"):
        head_from(tagger, np.zeros((3, 8), np.float32), LAYERS.z)
    with pytest.raises(EvaluateError, match="calibrated layer"):
        head_from(tagger, np.zeros((3, WIDTH), np.float32), "penultimate")
    narrow = type("Narrow", (), {"dim": 8, "transport": lambda self, x: x})()
    with pytest.raises(EvaluateError, match="8-dimensional"):
        calibrate(tagger, narrow, np.zeros((3, WIDTH), np.float32), LAYERS.z)
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_profile_sections_are_checked():
    cfg = load_profile("tiny").evaluate
    assert cfg.replace(bins=7, discriminator=cfg.discriminator.replace(epochs=2)).discriminator.epochs == 2
    with pytest.raises(ProfileError, match="epoks"):
        cfg.discriminator.replace(epoks=2)
    with pytest.raises(EvaluateError, match="folds"):
        cfg.discriminator.replace(folds=1)
    with pytest.raises(EvaluateError, match="auc_error"):
        cfg.discriminator.replace(auc_error="jackknife")
    with pytest.raises(EvaluateError, match="gap_sizes"):
        cfg.replace(gap_sizes=(100, -1))


def test_cli_reports_missing_inputs_on_one_line(tmp_path, capsys):
    rc = cli(["evaluate", "--tagger", str(tmp_path), "--latents", str(tmp_path / "none"), "--transport",
              str(tmp_path), "--out", str(tmp_path / "o"), "--profile", "tiny", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "tagger" in err and err.count("\n") == 1  # the first missing input is named


def test_cli_reports_missing_latents_on_one_line(tagger, tmp_path, capsys):
    """A real tagger and a map folder, but no latents: the latents file is what the one line names."""
    from _cli import files_under, one_line_error

    save_tagger(tagger, tmp_path / "tagger" / "tagger.pt")
    (tmp_path / "latents").mkdir()
    np.savez(tmp_path / "latents" / "target.npz", z16=np.zeros((10, WIDTH), np.float32))
    out = tmp_path / "o"
    argv = ["evaluate", "--tagger", str(tmp_path / "tagger"), "--latents", str(tmp_path / "latents"), "--transport",
            str(tmp_path / "transport"), "--out", str(out), "--profile", "tiny", "--quiet"]
    one_line_error(capsys, argv, "evaluate", str(tmp_path / "latents" / "nominal.npz"))
    assert files_under(out) == []
    rc = cli(["evaluate", "--tagger", str(tmp_path), "--latents", str(tmp_path), "--transport", str(tmp_path),
              "--out", str(tmp_path / "o"), "--profile", "tiny", "--quiet", "--set", "epoks=3"])
    assert rc == 2 and "epoks" in capsys.readouterr().err
