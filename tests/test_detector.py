"""The parametric detector on fixed, known inputs (no event generator needed)."""

import numpy as np
import pytest

from mindgap_lib.generation import detector
from mindgap_lib.generation.variations import PRESETS, UnknownVariationError, Variation, get_variation, ip_worsening


def test_resolution_tables_follow_the_delphes_card():
    # spot values of the card's CMS tables (mm): barrel 1 GeV, overlap 0.2 GeV, endcap high pT
    assert detector.d0_resolution(np.array([1.0]), np.array([0.5]))[0] == pytest.approx(0.0753)
    assert detector.dz_resolution(np.array([0.2]), np.array([1.0]))[0] == pytest.approx(0.7062)
    assert detector.d0_resolution(np.array([500.0]), np.array([-2.0]))[0] == pytest.approx(0.0137)
    pt = np.geomspace(0.2, 200, 50)
    for eta in (0.1, 1.2, 2.2):
        s = detector.d0_resolution(pt, np.full_like(pt, eta))
        assert s[0] > 10 * s[-1], "resolution must improve strongly with pT (multiple scattering)"
    central, forward = (detector.dz_resolution(np.array([2.0]), np.array([e]))[0] for e in (0.2, 2.0))
    assert forward > 2 * central


def test_tracking_efficiency_and_resolution_values():
    kind = np.array([0, 0, 1, 2, 0, 0])
    pt = np.array([5.0, 0.5, 5.0, 5.0, 5.0, 0.05])
    eta = np.array([0.0, 2.0, 0.0, 2.0, 2.7, 0.0])
    assert detector.tracking_efficiency(kind, pt, eta) == pytest.approx([0.95, 0.60, 0.95, 0.98, 0.0, 0.0])
    res = detector.track_pt_resolution(np.array([0, 2]), np.array([100.0, 100.0]), np.array([0.0, 0.0]))
    assert res == pytest.approx([np.hypot(0.06, 0.13), np.hypot(0.01, 0.01)])
    e = np.array([100.0])
    assert detector.hcal_resolution(e, np.array([0.0]))[0] == pytest.approx(np.hypot(5.0, 15.0))
    assert detector.ecal_resolution(e, np.array([2.0]))[0] > 2 * detector.ecal_resolution(e, np.array([0.0]))[0]


def test_impact_parameters_of_straight_tracks():
    # vertex 1 mm along x, momentum along y: passes the beam line at 1 mm; along x: points at it
    d0, dz = detector.impact_parameters(np.array([0.0, 3.0, 1.0]), np.array([2.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0]),
                                        np.array([1.0, 1.0, 0.5]), np.array([0.0, 0.0, 0.5]), np.array([0.0, 0.0, 2.0]))
    assert d0 == pytest.approx([1.0, 0.0, 0.0])
    # third track flies along (1,1,1) from (0.5,0.5,2): closest transverse approach at the origin, z = 1.5
    assert dz == pytest.approx([0.0, 0.0, 1.5])


def test_ip_worsening_is_bounded_and_larger_for_soft_forward_tracks():
    pt = np.array([0.5, 2.0, 10.0, 100.0, 2.0])
    eta = np.array([0.0, 0.0, 0.0, 0.0, 2.4])
    f = ip_worsening(pt, eta, 0.1, 0.3)
    assert np.all((f >= 0.1) & (f <= 0.3))
    assert np.all(np.diff(f[:4]) < 0), "worsening must fall with pT"
    assert f[4] > f[1], "worsening must grow with |eta| at fixed pT"
    assert f[2] == pytest.approx(0.2)  # 10 GeV at eta = 0: half of the multiple-scattering weight


@pytest.mark.parametrize("pt,eta", [(2.0, 0.3), (100.0, 1.8)])
def test_target_widens_ip_resolution_by_the_configured_factor(pt, eta):
    n = 40_000
    pts, etas, zero = np.full(n, pt), np.full(n, eta), np.zeros(n)
    nominal = detector.smear_impact_parameters(pts, etas, zero, zero, get_variation("nominal"), np.random.default_rng(1))
    target = detector.smear_impact_parameters(pts, etas, zero, zero, get_variation("target"), np.random.default_rng(2))
    sigma = detector.d0_resolution(pts[:1], etas[:1])[0]
    expected = 1 + ip_worsening(np.array([pt]), np.array([eta]), 0.1, 0.3)[0]
    assert np.std(nominal[0]) / sigma == pytest.approx(1.0, rel=0.03)
    assert np.std(target[0]) / np.std(nominal[0]) == pytest.approx(expected, rel=0.03)
    assert np.std(target[2]) / np.std(nominal[2]) == pytest.approx(1.0, rel=0.03)  # dz untouched (the paper's)
    # the stored error follows the worsened width (Delphes), unless the variant keeps nominal errors
    assert target[1] == pytest.approx(np.full(n, sigma * expected))
    assert np.all(target[3] == nominal[3])
    kept = detector.smear_impact_parameters(pts[:5], etas[:5], zero[:5], zero[:5],
                                            get_variation("target_nominal_errors"), np.random.default_rng(3))
    assert np.all(kept[1] == sigma)
    both = detector.smear_impact_parameters(pts, etas, zero, zero,
                                            Variation(ip_smear_min=0.1, ip_smear_max=0.3, smear_dz=True),
                                            np.random.default_rng(4))
    assert np.std(both[2]) / np.std(nominal[2]) == pytest.approx(expected, rel=0.03)


def _event(n_events=200, seed=0):
    """Synthetic events: a 100 GeV pi+ (true vertex 0.5 mm off-axis), a 50 GeV photon, a 30 GeV neutron."""
    rng = np.random.default_rng(seed)
    pid = np.tile([211, 22, 2112], n_events)
    energy = np.tile([100.0, 50.0, 30.0], n_events)
    phi = rng.uniform(-np.pi, np.pi, 3 * n_events)
    eta = rng.uniform(-1, 1, 3 * n_events)
    pt = energy / np.cosh(eta)
    return {"event": np.repeat(np.arange(n_events), 3), "pid": pid, "charge": np.tile([1.0, 0, 0], n_events),
            "px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": pt * np.sinh(eta), "energy": energy,
            "eta": eta, "phi": phi, "vx": np.tile([0.5, 0, 0], n_events), "vy": np.zeros(3 * n_events),
            "vz": np.zeros(3 * n_events)}


def test_particle_flow_candidates_and_energy_response():
    p = _event()
    c = detector.simulate(p, get_variation("nominal"), np.random.default_rng(5))
    assert np.all(np.diff(c["event"]) >= 0)
    tracks = c["charge"] != 0
    assert 0.9 < tracks.sum() / 200 <= 1.0  # 95 % tracking efficiency
    assert set(np.unique(c["pid"][~tracks])) <= {0, 22}
    assert np.all(c["d0"][~tracks] == 0) and np.all(c["d0err"][tracks] > 0)
    assert np.all(np.isin(np.abs(c["pid"][tracks]), [211]))
    photons = c["energy"][c["pid"] == 22]
    assert np.median(photons) == pytest.approx(50.0, rel=0.05)
    total = np.bincount(c["event"], c["energy"], minlength=200)
    assert np.median(total) == pytest.approx(180.0, rel=0.1)


def test_detector_knobs_move_the_response():
    p = _event()
    no_tracks = detector.simulate(p, Variation(track_eff_scale=0.0), np.random.default_rng(5))
    assert np.all(no_tracks["charge"] == 0), "untracked charged hadrons must end up as neutral energy"
    assert np.sum(no_tracks["pid"] == 0) > 1.5 * 200
    wide = detector.simulate(p, Variation(calo_res_scale=3.0), np.random.default_rng(5))
    narrow = detector.simulate(p, get_variation("nominal"), np.random.default_rng(5))
    spread = lambda c: np.std(c["energy"][c["pid"] == 22])  # noqa: E731
    assert spread(wide) > 2 * spread(narrow)


def test_variation_presets_and_errors():
    assert set(PRESETS) == {"nominal", "target", "target_nominal_errors", "ip_only", "scale_only", "ip10", "ip20", "ip30", "ip100", "ip300"}
    target = get_variation("target")
    assert (target.ip_smear_min, target.ip_smear_max, target.mu_r, target.mu_f) == (0.1, 0.3, 2.0, 2.0)
    assert get_variation("ip20").ip_factor(np.array([1.0, 500.0]), np.array([0.0, 2.0])) == pytest.approx([1.2, 1.2])
    lines = target.pythia_settings()
    for name in ("SigmaProcess:renormMultFac = 4", "SigmaProcess:factorMultFac = 4", "TimeShower:renormMultFac = 4",
                 "SpaceShower:renormMultFac = 4", "SpaceShower:factorMultFac = 4"):  # MultFac = mu^2
        assert name in lines
    with pytest.raises(UnknownVariationError, match="tagret.*nominal, target"):
        get_variation("tagret")
    with pytest.raises(UnknownVariationError, match="mu_q"):
        get_variation({"mu_q": 2.0})
    with pytest.raises(UnknownVariationError, match="mu_r"):
        Variation(mu_r=0.0)
    with pytest.raises(UnknownVariationError, match="ip_smear_min"):
        Variation(ip_smear_min=0.3, ip_smear_max=0.1)
