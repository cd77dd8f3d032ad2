"""Latent geometry: correlation and local dimension on known manifolds, EMD properties, Sinkhorn → EMD."""

from __future__ import annotations

import itertools

import awkward as ak
import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import chi2

from mindgap_lib.geometry import (
    JET_R, GeometryError, correlation_dimension, displacement_by_local_dimension, emd, ground_distance,
    jet_constituents, local_dimension, pair_distances, pairwise_emd, q_grid, sinkhorn_emd, sinkhorn_vs_exact,
)


def embedded_gaussian(n: int, d: int, seed: int, ambient: int = 128) -> np.ndarray:
    """n samples of a standard d-dim Gaussian, embedded isometrically in `ambient` dims."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(ambient, ambient)))[0][:d]
    return (rng.normal(size=(n, d)) @ basis).astype(np.float32)


def gaussian_slope(c: np.ndarray, d: int) -> np.ndarray:
    """Exact d ln C / d ln Q for a d-dim standard Gaussian: |x − y|² / 2 ~ χ²_d."""
    s = chi2.ppf(c, d)
    return 2 * s * chi2.pdf(s, d) / c


def random_jet(rng: np.random.Generator, n: int, spread: float = 0.15) -> np.ndarray:
    """(n, 3) of (pt, eta, phi): pt ~ 50 GeV exponential, angles within ~0.4 of the axis."""
    return np.c_[rng.exponential(50.0, n), np.clip(rng.normal(0, spread, (n, 2)), -0.4, 0.4)]


# ---------------------------------------------------------------- correlation dimension

@pytest.mark.parametrize("d, n, quantile", [(3, 1500, 1e-2), (8, 3000, 5e-4)])
def test_correlation_dimension_of_embedded_gaussian(d, n, quantile):
    # dim(Q) → d only as Q → 0 for a Gaussian (its density varies on the scale σ), so take Q at a
    # small pair-distance quantile, where the exact slope is within 7 % of d
    x = embedded_gaussian(n, d, seed=d)
    q = q_grid(pair_distances(x), lo=quantile / 3, hi=quantile * 3, num=5)
    res = correlation_dimension(x, q=q, n_boot=20)
    dim, err = res.at(float(q[2]))
    assert dim == pytest.approx(d, rel=0.10)
    assert 0 < err < 0.05 * d
    assert res.n_points == n and res.n_pairs == n * (n - 1) // 2


def test_correlation_dimension_follows_the_exact_gaussian_curve():
    # over the whole default grid (quantiles 1e-3 .. 0.5) dim(Q) falls from ~5 to ~2.4; the
    # estimate tracks the exact curve within its bootstrap error
    x = embedded_gaussian(2000, 5, seed=11)
    res = correlation_dimension(x, n_boot=40)
    exact = gaussian_slope(res.c, 5)
    ok = np.isfinite(res.dim)
    assert ok.sum() >= 20
    assert np.all(np.abs(res.dim[ok] - exact[ok]) < 4 * res.dim_err[ok] + 0.05)
    assert res.dim[ok][0] > 4.5 and res.dim[ok][-1] < 3.0


def test_correlation_dimension_of_a_circle_in_3d():
    rng = np.random.default_rng(3)
    theta = rng.uniform(0, 2 * np.pi, 1500)
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    x = np.c_[np.cos(theta), np.sin(theta), np.zeros_like(theta)] @ rot
    res = correlation_dimension(x, q=q_grid(pair_distances(x), lo=1e-2, hi=0.1, num=6), n_boot=20)
    assert np.all(np.isfinite(res.dim))
    assert np.all(np.abs(res.dim - 1.0) < 0.10)


def test_error_band_shrinks_with_more_points():
    q = q_grid(pair_distances(embedded_gaussian(1200, 3, seed=5)), lo=1e-2, hi=0.2, num=6)
    small = correlation_dimension(embedded_gaussian(300, 3, seed=5), q=q, n_boot=60)
    large = correlation_dimension(embedded_gaussian(1200, 3, seed=5), q=q, n_boot=60)
    for name in ("dim_err", "boot_err"):
        s_err, l_err = getattr(small, name), getattr(large, name)
        assert np.all(np.isfinite(s_err)) and np.all(np.isfinite(l_err))
        assert np.median(l_err) < 0.6 * np.median(s_err), name
    assert np.all(large.boot_hi - large.boot_lo < small.boot_hi - small.boot_lo)


def test_errors_match_sample_to_sample_spread():
    # the U-statistic error reproduces the spread over independent samples; the point bootstrap
    # does too where many pairs per point are in the shell and is conservative where few are
    q = q_grid(pair_distances(embedded_gaussian(400, 3, seed=100)), lo=3e-3, hi=0.3, num=4)
    runs = [correlation_dimension(embedded_gaussian(400, 3, seed=100 + s), q=q, n_boot=40, seed=s)
            for s in range(24)]
    spread = np.std([r.dim for r in runs], axis=0, ddof=1)
    ustat = np.mean([r.dim_err for r in runs], axis=0)
    boot = np.mean([r.boot_err for r in runs], axis=0)
    assert np.all((ustat > 0.7 * spread) & (ustat < 1.4 * spread)), (ustat, spread)
    assert np.all((boot > 0.8 * spread) & (boot < 3.0 * spread)), (boot, spread)
    assert boot[0] > 1.3 * ustat[0]     # few neighbours per point at the smallest Q: the bootstrap inflates


def test_distance_matrix_input_matches_points():
    x = embedded_gaussian(400, 4, seed=2)
    from_points = correlation_dimension(x, n_boot=10)
    from_matrix = correlation_dimension(distances=squareform(pdist(x.astype(np.float64))), n_boot=10)
    np.testing.assert_allclose(from_matrix.dim, from_points.dim, rtol=1e-9)
    np.testing.assert_allclose(from_matrix.dim_err, from_points.dim_err, rtol=1e-9)
    np.testing.assert_allclose(from_matrix.boot_err, from_points.boot_err, rtol=1e-9)
    np.testing.assert_allclose(from_matrix.c, from_points.c)


def test_sub_sampling_points_and_round_trip():
    x = embedded_gaussian(600, 3, seed=4)
    res = correlation_dimension(x, max_points=200, n_boot=5)
    assert res.n_points == 200 and res.n_pairs == 200 * 199 // 2
    again = type(res).from_dict(res.as_dict())
    np.testing.assert_array_equal(again.dim, res.dim)
    assert np.all(np.diff(res.c) >= 0) and np.all((res.c > 0) & (res.c < 1))


def test_q_grid_spans_the_requested_quantiles():
    d = np.random.default_rng(0).exponential(size=10_000)
    q = q_grid(d, lo=1e-2, hi=0.5, num=7)
    assert len(q) == 7 and np.allclose(np.diff(np.log(q)), np.log(q[1] / q[0]))
    assert q[0] == pytest.approx(np.quantile(d, 1e-2)) and q[-1] == pytest.approx(np.quantile(d, 0.5))


@pytest.mark.parametrize("kwargs, word", [
    ({}, "exactly one"),
    ({"x": np.zeros(5)}, "2-D"),
    ({"distances": np.ones((4, 4))}, "diagonal"),
    ({"distances": np.triu(np.ones((4, 4)), 1)}, "symmetric"),
    ({"x": np.ones((10, 2)) * np.nan}, "non-finite"),
    ({"x": np.random.default_rng(0).normal(size=(50, 2)), "q": [0.3, 0.1]}, "increasing"),
    ({"x": np.random.default_rng(0).normal(size=(50, 2)), "half_width": 0.0}, "half_width"),
])
def test_correlation_dimension_rejects_bad_input(kwargs, word):
    with pytest.raises(GeometryError, match=word):
        correlation_dimension(**kwargs)
    assert issubclass(GeometryError, ValueError)


# ---------------------------------------------------------------- EMD

def test_emd_is_a_metric_on_random_jets():
    rng = np.random.default_rng(7)
    jets = [random_jet(rng, n) for n in (5, 9, 14, 20, 7)]
    for normalize in (True, False):
        dist = pairwise_emd(jets, normalize=normalize)
        np.testing.assert_allclose(dist, dist.T, rtol=1e-12)
        assert np.all(np.diag(dist) == 0) and np.all(dist[~np.eye(len(jets), dtype=bool)] > 0)
        for a, b in itertools.combinations(range(len(jets)), 2):
            assert emd(jets[a], jets[b], normalize=normalize) == pytest.approx(
                emd(jets[b], jets[a], normalize=normalize), rel=1e-9)
        for i, j, k in itertools.permutations(range(len(jets)), 3):
            assert dist[i, k] <= dist[i, j] + dist[j, k] + 1e-9
        assert emd(jets[0], jets[0].copy(), normalize=normalize) == pytest.approx(0.0, abs=1e-12)


def test_emd_of_a_shifted_jet_is_the_shift_over_r():
    rng = np.random.default_rng(8)
    jet, delta = random_jet(rng, 12), 0.3
    shifted = jet + [0.0, delta, 0.0]
    assert emd(jet, shifted) == pytest.approx(delta / JET_R, rel=1e-9)
    assert emd(jet, shifted, normalize=False) == pytest.approx(jet[:, 0].sum() * delta / JET_R, rel=1e-9)
    assert emd(jet, shifted, R=0.4) == pytest.approx(delta / 0.4, rel=1e-9)


def test_unnormalised_emd_pays_the_energy_difference():
    # same directions, 1.5x the pt: nothing moves, half the pt is created at one unit each
    jet = random_jet(np.random.default_rng(9), 10)
    harder = jet * [1.5, 1.0, 1.0]
    assert emd(jet, harder, normalize=False) == pytest.approx(0.5 * jet[:, 0].sum(), rel=1e-9)
    assert emd(jet, harder) == pytest.approx(0.0, abs=1e-12)


def test_ground_distance_wraps_phi():
    a, b = np.array([[1.0, 0.0, np.pi - 0.1]]), np.array([[1.0, 0.0, -np.pi + 0.1]])
    assert ground_distance(a, b)[0, 0] == pytest.approx(0.2 / JET_R)


def test_sinkhorn_converges_to_exact_emd_as_eps_goes_to_zero():
    rng = np.random.default_rng(10)
    jets_a = [random_jet(rng, n) for n in (6, 8, 10, 7)]
    jets_b = [random_jet(rng, n) for n in (9, 7, 11, 8)]
    for normalize in (True, False):
        out = sinkhorn_vs_exact(jets_a, jets_b, [0.3, 0.1, 0.03, 0.01], normalize=normalize)
        err = out["mean_abs_rel_error"]
        assert np.all(np.diff(err) < 0), err
        assert err[-1] < 0.01 and err[0] > 0.03      # the largest ε is visibly biased
        assert np.all(out["sinkhorn"] >= out["exact"] - 1e-9)   # the entropic plan is feasible, so ≥ the optimum
        assert out["n_unconverged"][-1] == 0
        assert sinkhorn_emd(jets_a[0], jets_b[0], eps=0.01, normalize=normalize) == pytest.approx(
            out["sinkhorn"][-1, 0], rel=1e-9)


def test_pairwise_emd_feeds_the_correlation_dimension():
    rng = np.random.default_rng(12)
    jets = [random_jet(rng, 8) for _ in range(30)]
    dist = pairwise_emd(jets)
    assert dist[3, 17] == pytest.approx(emd(jets[3], jets[17]), rel=1e-12)
    res = correlation_dimension(distances=dist, n_boot=10)
    assert res.n_points == 30 and np.isfinite(res.dim).any()
    with pytest.raises(GeometryError, match="method"):
        pairwise_emd(jets, method="fast")


def test_jet_constituents_from_jetclass_branches():
    arrays = ak.Array({
        "part_px": [[1.0, 3.0, 0.0], [0.0, 2.0]], "part_py": [[0.0, 4.0, 0.0], [1.0, 0.0]],
        "part_deta": [[0.1, 0.2, 0.3], [0.0, -0.1]], "part_dphi": [[0.0, 0.1, 0.2], [0.05, 0.0]],
        "jet_pt": [6.0, 3.0],
    })
    jets = jet_constituents(arrays)
    np.testing.assert_allclose(jets[0], [[5.0, 0.2, 0.1], [1.0, 0.1, 0.0]])   # sorted, zero pt dropped
    np.testing.assert_allclose(jets[1], [[2.0, -0.1, 0.0], [1.0, 0.0, 0.05]])
    assert [len(j) for j in jet_constituents(arrays, max_particles=1)] == [1, 1]
    with pytest.raises(GeometryError, match="part_dphi"):
        jet_constituents({k: arrays[k] for k in ("part_px", "part_py", "part_deta")})


@pytest.mark.parametrize("jet, word", [(np.ones((3, 2)), "(n, 3)"), (np.zeros((3, 3)), "pt"),
                                       (np.array([[1.0, np.inf, 0.0]]), "non-finite")])
def test_emd_rejects_bad_jets(jet, word):
    with pytest.raises(GeometryError, match=word):
        emd(jet, np.array([[1.0, 0.0, 0.0]]))


# ---------------------------------------------------------------- local dimension

@pytest.mark.parametrize("d", [3, 6])
def test_local_dimension_recovers_gaussian_dimension(d):
    x = embedded_gaussian(2000, d, seed=20 + d)
    res = local_dimension(x, k=20)
    assert res.global_dim == pytest.approx(d, rel=0.15)
    assert np.nanmedian(res.dim) == pytest.approx(d, rel=0.15)
    assert 0 < res.global_err < 0.05 * d
    # the per-point error (Poisson model) accounts for the scatter of the per-point estimates
    assert np.nanmean(res.dim_err) == pytest.approx(np.nanstd(res.dim), rel=0.1)
    assert res.scale.shape == (2000,) and np.all(res.n_terms == 19)


def test_local_dimension_from_distances_and_fixed_radius():
    x = embedded_gaussian(600, 3, seed=30).astype(np.float64)
    from_points = local_dimension(x, k=15)
    from_matrix = local_dimension(distances=squareform(pdist(x)), k=15)
    np.testing.assert_allclose(from_matrix.dim, from_points.dim, rtol=1e-6)
    radius = local_dimension(x, radius=float(np.median(from_points.scale)))
    assert radius.global_dim == pytest.approx(3, rel=0.15)
    with pytest.raises(GeometryError, match="k / radius"):
        local_dimension(x, k=10, radius=0.5)
    dup = np.vstack([x, x[:1]])
    assert np.isnan(local_dimension(dup, k=15).dim[0])
    # far from the origin the ‖x‖² expansion rounds a duplicate's distance to ±1e-5, not 0: still a duplicate
    assert np.isnan(local_dimension(dup + 1e3, k=15).dim[0])


# ---------------------------------------------------------------- displacement vs local dimension

def test_displacement_is_binned_by_local_dimension():
    # half the points on a 2-d plane, half in 8 dims; the "map" moves only the thin half
    rng = np.random.default_rng(40)
    z = rng.normal(size=(1200, 8))
    z[:600, 2:] = 0.0
    ld = local_dimension(z, k=20).dim
    thin = np.arange(1200) < 600
    tz = z + np.where(thin[:, None], 0.3, 0.0) * rng.normal(size=z.shape)
    residual = thin * 1.0 + 0.1 * rng.normal(size=1200)
    out = displacement_by_local_dimension(z, tz, ld, residual=residual, n_bins=4)
    assert out.n.sum() == np.isfinite(ld).sum() and np.all(out.n > 250)
    assert np.all(np.diff(out.local_dim_mean) > 0)
    assert out.displacement_mean[0] > 10 * out.displacement_mean[-1] + 5 * out.displacement_err[0]
    assert out.residual_mean[0] > 0.9 and abs(out.residual_mean[-1]) < 0.1
    assert out.spearman_displacement < -0.5 and out.spearman_residual < -0.5
    np.testing.assert_allclose(out.displacement, np.linalg.norm(tz - z, axis=1))
    no_res = displacement_by_local_dimension(z, tz, ld, edges=[0, 3, 100])
    assert np.isnan(no_res.residual_mean).all() and len(no_res.n) == 2
    with pytest.raises(GeometryError, match="tz"):
        displacement_by_local_dimension(z, tz[:, :4], ld)
    with pytest.raises(GeometryError, match="local_dim"):
        displacement_by_local_dimension(z, tz, ld[:10])
