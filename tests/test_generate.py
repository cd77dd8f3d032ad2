"""The real generator (Pythia 8 + detector + fastjet) at tiny sizes: physics sanity, determinism,
resumable datasets and named errors."""

import os

import awkward as ak
import numpy as np
import pytest

from mindgap_lib.cli.main import main as cli
from mindgap_lib import config
from mindgap_lib.generation import dataset, generate, processes, truth
from mindgap_lib.jetclass import io, schema
from mindgap_lib.generation.variations import UnknownVariationError, Variation

pytestmark = pytest.mark.slow

SIZES = {"QCD": 80, "Hbb": 60, "Tbqq": 30, "Wqq": 30, "Zqq": 30}


@pytest.fixture(scope="module")
def samples():
    return {name: generate.generate_jets(name, "nominal", n, seed=3) for name, n in SIZES.items()}


def test_kinematic_window_labels_and_constituents(samples):
    for name, jets in samples.items():
        pt, eta = jets["jet_pt"], jets["jet_eta"]
        assert len(pt) == SIZES[name]
        assert np.all((pt > 500) & (pt < 1000)) and np.all(np.abs(eta) < 2), name
        assert np.all(np.isin(jets["aux_truth_match"], processes.get_process(name).codes)), name
        for label in schema.LABELS:
            assert np.all(jets[label] == (label == f"label_{name}")), (name, label)
        n = ak.num(jets["part_px"])
        assert np.all(n == jets["jet_nparticles"])
        part_pt = np.hypot(jets["part_px"], jets["part_py"])
        assert ak.all(part_pt[:, :-1] >= part_pt[:, 1:]), "constituents must be sorted by pT"
        # the constituents add up to the jet (E-scheme), so the jet/constituent mapping is right
        sum_pt = np.hypot(ak.sum(jets["part_px"], axis=1), ak.sum(jets["part_py"], axis=1))
        assert np.allclose(sum_pt, pt, rtol=1e-4)
        assert ak.max(np.hypot(jets["part_deta"], jets["part_dphi"])) < 1.0
        tau = [jets[f"jet_tau{i}"] for i in range(1, 5)]
        assert all(np.all(tau[i] >= tau[i + 1] - 1e-6) for i in range(3)), "tau_N must not grow with N"


def test_signal_truth_particle_is_inside_the_jet(samples):
    jets = samples["Wqq"]
    dr = np.hypot(jets["aux_genpart_eta"] - jets["jet_eta"], truth.delta_phi(jets["aux_genpart_phi"], jets["jet_phi"]))
    assert np.all(dr < 0.8) and np.all(np.abs(jets["aux_genpart_pid"]) == 24)
    assert np.all(samples["QCD"]["aux_truth_match"] == 50) and np.all(samples["QCD"]["aux_genpart_pt"] == 0)


@pytest.mark.parametrize("name,low,high", [("Tbqq", 150, 195), ("Wqq", 68, 92), ("Zqq", 78, 102), ("Hbb", 105, 135)])
def test_softdrop_mass_peaks(samples, name, low, high):
    assert low < np.median(samples[name]["jet_sdmass"]) < high
    assert np.median(samples["QCD"]["jet_sdmass"]) < 60


def _significance(jets):
    charged = jets["part_charge"] != 0  # neutral candidates carry d0 = d0err = 0
    return np.abs(ak.to_numpy(ak.flatten(jets["part_d0val"][charged] / jets["part_d0err"][charged])))


def test_b_jets_have_displaced_tracks(samples):
    b, light = _significance(samples["Hbb"]), _significance(samples["QCD"])
    assert np.mean(b > 3) > 0.1
    assert np.mean(b > 3) > 4 * np.mean(light > 3)


def test_ip_knob_changes_only_impact_parameters(samples):
    # same seed, IP-only variation: identical events and detector draws, wider d0/dz residuals
    nominal = samples["QCD"]
    smeared = generate.generate_jets("QCD", "ip_only", SIZES["QCD"], seed=3)
    for branch in schema.BRANCHES:
        same = ak.all(ak.Array(nominal[branch]) == ak.Array(smeared[branch]))
        assert same == (branch not in ("part_d0val", "part_d0err")), branch  # dz untouched, sigma(d0) follows
    # the Gaussian core (median |d0|) and the stored sigma(d0) widen by 1 + f with f in [0.1, 0.3]
    charged = ak.flatten(nominal["part_charge"]).to_numpy() != 0
    core = lambda j, b: np.median(np.abs(ak.flatten(j[b]).to_numpy()[charged]))  # noqa: E731
    assert 1.1 < core(smeared, "part_d0val") / core(nominal, "part_d0val") < 1.32
    assert 1.1 < core(smeared, "part_d0err") / core(nominal, "part_d0err") < 1.32


def test_same_seed_same_jets_and_other_seed_other_jets():
    a = generate.generate_jets("Hqql", "target", 6, seed=5)
    b = generate.generate_jets("Hqql", "target", 6, seed=5)
    c = generate.generate_jets("Hqql", "target", 6, seed=6)
    for branch in schema.BRANCHES:
        assert ak.all(ak.Array(a[branch]) == ak.Array(b[branch])), branch
    assert not np.array_equal(a["jet_pt"], c["jet_pt"])


def test_scale_variation_settings_reach_pythia():
    lines = generate.pythia_settings("QCD", "target", seed=1)
    pythia = generate._make_pythia(lines)
    for name in ("SigmaProcess:renormMultFac", "SigmaProcess:factorMultFac", "TimeShower:renormMultFac",
                 "SpaceShower:renormMultFac", "SpaceShower:factorMultFac"):
        assert pythia.settings.parm(name) == 4.0, name  # Pythia's MultFac multiplies mu^2: mu x 2 is 4
    assert pythia.settings.parm("ParticleDecays:tau0Max") == 10.0


def test_lower_scales_give_more_constituents():
    # mu x 1/2 vs mu x 2 (MultFac 1/4 vs 4: more vs less shower radiation): a robust multiplicity shift
    lo = generate.generate_jets("QCD", Variation("lo", mu_r=0.5, mu_f=0.5), 150, seed=9)["jet_nparticles"]
    hi = generate.generate_jets("QCD", Variation("hi", mu_r=2.0, mu_f=2.0), 150, seed=9)["jet_nparticles"]
    err = np.hypot(np.std(lo), np.std(hi)) / np.sqrt(150)
    assert np.mean(lo) - np.mean(hi) > 3 * err


def test_bad_requests_raise_named_errors(tmp_path):
    with pytest.raises(processes.UnknownProcessError, match="Hxx.*QCD, Hbb"):
        generate.generate_jets("Hxx", "nominal", 5)
    with pytest.raises(UnknownVariationError, match="tagret"):
        generate.generate_jets("QCD", "tagret", 5)
    for n in (0, -3, 2.5):
        with pytest.raises(generate.GenerationError, match="n_jets"):
            generate.generate_jets("QCD", "nominal", n)
    with pytest.raises(generate.GenerationError, match="seed"):
        generate.generate_jets("QCD", "nominal", 5, seed=-1)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out, what in ((blocker / "x.root", "not writable"), (tmp_path, "expected a .root"), (tmp_path / "a.txt", ".root")):
        with pytest.raises(generate.GenerationError, match=what):
            generate.generate_shard("QCD", "nominal", 5, 0, out)
    (tmp_path / "d.root").mkdir()
    with pytest.raises(generate.GenerationError, match="is a directory"):
        generate.generate_shard("QCD", "nominal", 5, 0, tmp_path / "d.root")


def test_bad_profiles_and_dataset_queries(tmp_path):
    good = config.section("tiny", "generate")
    with pytest.raises(config.ProfileError, match="jets_per_shrad"):
        dataset.plan({"generate": {**good, "jets_per_shrad": 3}})
    with pytest.raises(config.ProfileError, match="calib_jets"):
        dataset.plan({"generate": {**good, "calib_jets": 0}})
    with pytest.raises(UnknownVariationError, match="tagret"):
        dataset.plan({"generate": {**good, "calib_variations": ["nominal", "tagret"]}})
    with pytest.raises(config.ProfileError, match="nope"):
        dataset.generate_dataset("nope", tmp_path)
    with pytest.raises(dataset.DatasetError, match="workers"):
        dataset.generate_dataset("tiny", tmp_path, workers=0)
    with pytest.raises(dataset.DatasetError, match="split"):
        dataset.files(tmp_path, "validation", "nominal")
    with pytest.raises(dataset.DatasetError, match="test"):
        dataset.generate_dataset("tiny", tmp_path, splits=("train", "test"))
    with pytest.raises(dataset.DatasetError, match="Qcd"):
        dataset.files(tmp_path, "train", "nominal", "Qcd")
    with pytest.raises(dataset.DatasetError, match="generate the dataset"):
        dataset.files(tmp_path, "calib", "target")


def test_plan_seeds_are_disjoint_and_stable():
    shards = dataset.plan("cpu")
    assert len({s.seed for s in shards}) == len(shards)
    assert {s.variation for s in shards if s.split == "calib"} == {"nominal", "target"}
    assert sum(s.n_jets for s in shards if s.split == "train" and s.process == "Hbb") == \
        config.section("cpu", "generate")["train_jets_per_class"]
    assert dataset.plan("cpu") == shards


def test_cli_single_shard(tmp_path, capsys):
    out = tmp_path / "qcd.root"
    assert cli.main(["generate", "--process", "QCD", "--jets", "4", "--seed", "2", "--out", str(out), "--quiet"]) == 0
    meta = io.read_metadata(out)
    assert (meta["process"], meta["seed"], meta["n_jets"], meta["variation"]["name"]) == ("QCD", 2, 4, "nominal")
    assert {"pythia8mc", "fastjet"} <= set(meta["versions"]) and meta["generator"]["pythia_settings"]
    assert cli.main(["generate", "--process", "QCD", "--variation", "nope", "--out", str(out)]) == 2
    assert "nope" in capsys.readouterr().err
    assert cli.main(["generate", "--profile", "tiny", "--jets", "5", "--out", str(tmp_path)]) == 2
    assert "--jets" in capsys.readouterr().err


def test_killed_dataset_generation_resumes(tmp_path):
    prof = {"generate": {"jets_per_shard": 6, "train_jets_per_class": 6, "calib_jets": 6,
                         "calib_variations": ["nominal", "target"], "workers": 1, "seed": 4, "max_batch": 200}}
    paths = dataset.generate_dataset(prof, tmp_path, progress=False)
    assert len(paths) == 12 and all(p.is_file() for p in paths)
    reference = io.read_jets(paths[1])
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    # simulate a kill: one shard never written, another interrupted mid-write (only its .tmp left)
    paths[1].unlink()
    paths[-1].rename(paths[-1].with_name(paths[-1].name + ".tmp"))
    again = dataset.generate_dataset(prof, tmp_path, workers=2, progress=False)
    assert again == paths and not list(tmp_path.glob("*/*/*.tmp"))
    redone = {p for p in paths if p.stat().st_mtime_ns != stamps[p]}
    assert redone == {paths[1], paths[-1]}
    jets = io.read_jets(dataset.files(tmp_path, "calib", "target"))
    assert len(jets) == 6 and np.all(jets["label_QCD"] == 1)
    assert ak.all(io.read_jets(paths[1]).jet_pt == reference.jet_pt), "a redone shard must equal the original"
    assert os.path.exists(tmp_path / dataset.MANIFEST)
    calib_only = dataset.generate_dataset(prof, tmp_path / "calib_only", progress=False, splits=("calib",))
    assert [p.relative_to(tmp_path / "calib_only") for p in calib_only] == [p.relative_to(tmp_path) for p in paths[-2:]]


def test_paper_target_widens_d0_and_its_error_and_leaves_dz_alone():
    """The paper's target on the same generated events' detector response: d0 and sigma(d0) wider
    by the 10-30 % worsening, dz and sigma(dz) untouched (Delphes' TrackSmearing stores the width used)."""
    from mindgap_lib.generation import detector
    from mindgap_lib.generation.variations import get_variation

    rng = np.random.default_rng(3)
    n = 20000
    pt, eta = np.exp(rng.uniform(np.log(0.5), np.log(100.0), n)), rng.uniform(-2.4, 2.4, n)
    zero = np.zeros(n)
    nom = detector.smear_impact_parameters(pt, eta, zero, zero, get_variation("nominal"), np.random.default_rng(1))
    tgt = detector.smear_impact_parameters(pt, eta, zero, zero, get_variation("target"), np.random.default_rng(2))
    width = lambda x: np.subtract(*np.quantile(x, [0.84, 0.16])) / 2  # noqa: E731
    assert 1.1 <= width(tgt[0]) / width(nom[0]) <= 1.35
    assert 1.1 <= np.median(tgt[1]) / np.median(nom[1]) <= 1.35
    assert 0.97 <= width(tgt[2]) / width(nom[2]) <= 1.03
    assert np.median(tgt[3]) / np.median(nom[3]) == pytest.approx(1.0)
    old = detector.smear_impact_parameters(pt, eta, zero, zero, get_variation("target_nominal_errors"),
                                           np.random.default_rng(2))
    assert np.array_equal(old[1], nom[1])  # errors stay nominal: only d0/sigma widens


def test_calibration_sample_is_qcd_multijet_labelled_qcd():
    jets = generate.generate_jets("QCD_multijet", "nominal", 30, seed=4)
    assert np.all(jets["label_QCD"] == 1) and np.all(jets["aux_truth_match"] == 50)
    assert "HardQCD:all = on" in generate.pythia_settings("QCD_multijet", "nominal", seed=1)
