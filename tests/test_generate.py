"""The real generator (Pythia 8 + detector + fastjet) at tiny sizes: physics sanity, the paper's target on
the same events, determinism, resumable and lockable datasets, and named errors."""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from mindgap_lib.cli.main import main as cli
from mindgap_lib.config import ProfileError, load_profile, profile_path
from mindgap_lib.generation import dataset, generate, processes, truth
from mindgap_lib.generation.variations import UnknownVariationError, Variation, get_variation
from mindgap_lib.jetclass import io, schema

REPO = Path(__file__).resolve().parents[1]
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




# ---------------------------------------------------------------- the paper's target (issue "paper-faithful target")

N_CALIB = 1000  # QCD multijet jets per sample: enough for a > 2.5 sigma multiplicity shift at mu x 2


@pytest.fixture(scope="module")
def calib_trio():
    """QCD multijet jets, one seed: nominal, mu x 2 (scale_only) and the target (mu x 2 and d0 worse).

    scale_only and target share their generator settings and detector draws: the same events, with only
    the impact-parameter smearing differing.
    """
    return {v: generate.generate_jets("QCD_multijet", v, N_CALIB, seed=9) for v in ("nominal", "scale_only", "target")}


def _tracks(jets, branch):
    charged = ak.to_numpy(ak.flatten(jets["part_charge"])) != 0  # neutrals carry d0 = dz = errors = 0
    return ak.to_numpy(ak.flatten(jets[branch]))[charged].astype(np.float64)


def robust_width(x):
    """1.4826 MAD: the standard deviation of the Gaussian core, blind to heavy-flavour tails."""
    return 1.4826 * np.median(np.abs(x - np.median(x)))


def test_target_and_scale_only_are_the_same_events_but_for_d0(calib_trio):
    same, target = calib_trio["scale_only"], calib_trio["target"]
    for branch in schema.BRANCHES:
        equal = bool(ak.all(ak.Array(same[branch]) == ak.Array(target[branch])))
        assert equal == (branch not in ("part_d0val", "part_d0err")), branch  # dz and sigma(dz) untouched


def test_target_d0_and_its_error_are_10_to_30_percent_wider_on_the_same_events(calib_trio):
    same, target = calib_trio["scale_only"], calib_trio["target"]
    d0_ratio = robust_width(_tracks(target, "part_d0val")) / robust_width(_tracks(same, "part_d0val"))
    err_ratio = np.median(_tracks(target, "part_d0err")) / np.median(_tracks(same, "part_d0err"))
    assert 1.1 <= d0_ratio <= 1.35, d0_ratio
    assert 1.1 <= err_ratio <= 1.35, err_ratio
    # per track, the stored error grows by 1 + f with f in [0.1, 0.3] (Delphes stores the width it smeared with)
    per_track = _tracks(target, "part_d0err") / _tracks(same, "part_d0err")
    assert per_track.min() >= 1.1 - 1e-5 and per_track.max() <= 1.3 + 1e-5
    for branch in ("part_dzval", "part_dzerr"):
        w = robust_width(_tracks(target, branch)) / robust_width(_tracks(same, branch))
        m = np.median(_tracks(target, branch)) / np.median(_tracks(same, branch)) if branch == "part_dzerr" else 1.0
        assert 0.97 <= w <= 1.03 and 0.97 <= m <= 1.03, (branch, w, m)


def test_doubling_the_scales_lowers_the_constituent_multiplicity(calib_trio):
    """mu x 2 (Pythia MultFac = 4): less shower radiation, fewer constituents per jet, as in the paper's Fig. 1."""
    nominal, doubled = calib_trio["nominal"]["jet_nparticles"], calib_trio["scale_only"]["jet_nparticles"]
    err = np.hypot(np.std(nominal), np.std(doubled)) / np.sqrt(N_CALIB)
    shift = np.mean(nominal) - np.mean(doubled)
    assert shift > 2.5 * err, (np.mean(nominal), np.mean(doubled), err)
    assert np.array_equal(calib_trio["target"]["jet_nparticles"], doubled)  # the target's shift is this one
    for name in ("SigmaProcess:renormMultFac = 4", "SigmaProcess:factorMultFac = 4", "TimeShower:renormMultFac = 4",
                 "SpaceShower:renormMultFac = 4", "SpaceShower:factorMultFac = 4"):
        assert name in get_variation("scale_only").pythia_settings() and name in get_variation("target").pythia_settings()
        assert name.replace("4", "1") in get_variation("nominal").pythia_settings()


def test_paper_target_widens_d0_and_its_error_and_leaves_dz_alone():
    """The same truth through the detector: d0 and sigma(d0) wider by the 10-30 % worsening, dz and sigma(dz)
    untouched; the variant with nominal errors keeps sigma(d0)."""
    from mindgap_lib.generation import detector

    rng = np.random.default_rng(3)
    n = 20000
    pt, eta = np.exp(rng.uniform(np.log(0.5), np.log(100.0), n)), rng.uniform(-2.4, 2.4, n)
    zero = np.zeros(n)
    nom = detector.smear_impact_parameters(pt, eta, zero, zero, get_variation("nominal"), np.random.default_rng(1))
    tgt = detector.smear_impact_parameters(pt, eta, zero, zero, get_variation("target"), np.random.default_rng(2))
    assert 1.1 <= robust_width(tgt[0]) / robust_width(nom[0]) <= 1.35
    assert 1.1 <= np.median(tgt[1]) / np.median(nom[1]) <= 1.35
    assert 0.97 <= robust_width(tgt[2]) / robust_width(nom[2]) <= 1.03
    assert np.array_equal(tgt[3], nom[3])  # sigma(dz): the same table values, not widened
    kept = detector.smear_impact_parameters(pt, eta, zero, zero, get_variation("target_nominal_errors"),
                                            np.random.default_rng(2))
    assert np.array_equal(kept[1], nom[1]) and np.array_equal(kept[0], tgt[0])  # only d0/sigma widens
    target = get_variation("target")
    assert target.ip_update_errors and not target.smear_dz and (target.mu_r, target.mu_f) == (2.0, 2.0)


def test_calibration_sample_is_qcd_multijet_labelled_qcd(calib_trio):
    jets = calib_trio["nominal"]
    assert np.all(jets["label_QCD"] == 1) and np.all(jets["aux_truth_match"] == 50)
    assert np.all((jets["jet_pt"] > 500) & (jets["jet_pt"] < 1000)) and np.all(np.abs(jets["jet_eta"]) < 2)
    assert "HardQCD:all = on" in generate.pythia_settings("QCD_multijet", "nominal", seed=1)
    assert processes.get_process("QCD_multijet").cls == "QCD"


def test_resmearing_nominal_jets_matches_generating_the_d0_only_variation(tmp_path):
    """The d0 scan re-smears one nominal sample: the same events as a direct ip20 generation, the same stored
    errors, d0 of the same width; a variation that changes more than d0 is refused."""
    from mindgap_lib.generation.resmear import ResmearError, is_d0_only, resmear_file

    source = generate.generate_shard("QCD_multijet", "nominal", 300, 21, tmp_path / "QCD_0000.root")
    direct = generate.generate_jets("QCD_multijet", "ip20", 300, seed=21)
    again = io.read_jets(resmear_file(source, tmp_path / "ip20" / "QCD_0000.root", "ip20", seed=0))
    for branch in schema.BRANCHES:
        if branch not in ("part_d0val", "part_d0err"):
            assert ak.all(again[branch] == ak.Array(direct[branch])), branch
    np.testing.assert_allclose(_tracks(again, "part_d0err"), _tracks(direct, "part_d0err"), rtol=1e-5)
    ratio = robust_width(_tracks(again, "part_d0val")) / robust_width(_tracks(direct, "part_d0val"))
    assert 0.93 < ratio < 1.07, ratio
    nominal = io.read_jets(source)
    assert 1.12 < robust_width(_tracks(again, "part_d0val")) / robust_width(_tracks(nominal, "part_d0val")) < 1.28
    assert io.read_metadata(tmp_path / "ip20" / "QCD_0000.root")["variation"]["name"] == "ip20"
    assert is_d0_only(get_variation("ip20")) and not is_d0_only(get_variation("target"))
    with pytest.raises(ResmearError, match="target"):
        resmear_file(source, tmp_path / "t.root", "target", seed=0)


# ---------------------------------------------------------------- datasets

def test_bad_profiles_and_dataset_queries(tmp_path):
    good = load_profile("tiny").generate
    with pytest.raises(ProfileError, match="jets_per_shrad"):
        good.replace(jets_per_shrad=3)
    with pytest.raises(ProfileError, match="calib_jets"):
        good.replace(calib_jets=0)
    with pytest.raises(UnknownVariationError, match="tagret"):
        good.replace(calib_variations=("nominal", "tagret"))
    with pytest.raises(UnknownVariationError, match="tagret"):
        dataset.generate_dataset(good, tmp_path, variations=("tagret",))
    with pytest.raises(dataset.DatasetError, match="workers"):
        dataset.generate_dataset(good, tmp_path, workers=0)
    with pytest.raises(dataset.DatasetError, match="split"):
        dataset.files(tmp_path, "validation", "nominal")
    with pytest.raises(dataset.DatasetError, match="test"):
        dataset.generate_dataset(good, tmp_path, splits=("train", "test"))
    with pytest.raises(dataset.DatasetError, match="Qcd"):
        dataset.files(tmp_path, "train", "nominal", "Qcd")
    with pytest.raises(dataset.DatasetError, match="generate the dataset"):
        dataset.files(tmp_path, "calib", "target")
    assert not list(tmp_path.rglob("*.root"))


def test_plan_seeds_are_disjoint_and_stable():
    cfg = load_profile("cpu").generate
    shards = dataset.plan(cfg)
    assert len({s.seed for s in shards}) == len(shards)
    calib = [s for s in shards if s.split == "calib"]
    assert {s.variation for s in calib} == set(cfg.calib_variations) and {s.process for s in calib} == {"QCD_multijet"}
    assert all(s.relpath.name.startswith("QCD_") for s in calib)  # named for the jets' class
    assert sum(s.n_jets for s in shards if s.split == "train" and s.process == "Hbb") == cfg.train_jets_per_class
    assert sum(s.n_jets for s in calib if s.variation == "target") == cfg.calib_jets
    assert dataset.plan(cfg) == shards
    assert dataset.plan(cfg.replace(workers=5)) == shards  # speed only
    # the calibration shards of one variation do not depend on which other variations are planned
    alone = dataset.plan(cfg.replace(calib_variations=("target",)))
    assert [s for s in alone if s.split == "calib"] == [s for s in calib if s.variation == "target"]


def test_cli_single_shard(tmp_path, capsys):
    out = tmp_path / "qcd.root"
    assert cli(["generate", "--process", "QCD", "--jets", "4", "--seed", "2", "--out", str(out), "--quiet"]) == 0
    meta = io.read_metadata(out)
    assert (meta["process"], meta["seed"], meta["n_jets"], meta["variation"]["name"]) == ("QCD", 2, 4, "nominal")
    assert {"pythia8mc", "fastjet"} <= set(meta["versions"]) and meta["generator"]["pythia_settings"]
    capsys.readouterr()
    assert cli(["generate", "--process", "QCD", "--variation", "nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and err.count("\n") == 1
    assert cli(["generate", "--profile", "tiny", "--jets", "5", "--out", str(tmp_path)]) == 2
    assert "--jets" in capsys.readouterr().err


# ---------------------------------------------------------------- interrupted and damaged datasets

KILL_SIZES = {"jets_per_shard": "2", "train_jets_per_class": "2", "calib_jets": "2", "calib_variations": '["nominal"]'}


def _profile_file(folder: Path, sizes: dict[str, str]) -> Path:
    """The tiny profile with other [generate] sizes, as a TOML file (what `generate --profile` takes)."""
    text = profile_path("tiny").read_text()
    for key, value in sizes.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
        assert n == 1, key
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "small.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def kill_profile(tmp_path_factory) -> Path:
    """Eleven shards of two jets (ten classes, one calibration shard): ~1 s each."""
    path = _profile_file(tmp_path_factory.mktemp("profile"), KILL_SIZES)
    assert len([s for s in dataset.plan(load_profile(path).generate) if s.split != "scan"]) == 11
    return path


@pytest.fixture(scope="module")
def reference_dataset(kill_profile, tmp_path_factory) -> Path:
    """The uninterrupted run that every interrupted or damaged one must end up equal to."""
    out = tmp_path_factory.mktemp("reference") / "D"
    dataset.generate_dataset(load_profile(kill_profile).generate, out, progress=False)
    return out


def _shards(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.root"))


def _temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.name.endswith(".tmp"))


def assert_same_shard(path: Path, reference: Path) -> None:
    """Every branch's values, and the seed and size in the metadata."""
    got, want = io.read_jets(path), io.read_jets(reference)
    assert len(got) == len(want), path
    for branch in schema.BRANCHES:
        assert ak.all(got[branch] == want[branch]), (path, branch)
    meta, ref = io.read_metadata(path), io.read_metadata(reference)
    assert (meta["seed"], meta["n_jets"], meta["shard"]) == (ref["seed"], ref["n_jets"], ref["shard"]), path


def _mindgap() -> list[str]:
    script = Path(sys.executable).with_name("mindgap")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "mindgap_lib.cli.main"]


def _default_sigint() -> None:  # the child handles SIGINT even when the test runs in a background job
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 300.0, poll: float = 0.01):
    """Poll `condition()` until it is truthy; fail if `proc` ends first (the kill must land mid-run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the command ended ({proc.returncode}) before {what}:\n{out[-2000:]}\n{err[-2000:]}")
        time.sleep(poll)
    proc.kill()
    pytest.fail(f"no {what} after {timeout:.0f} s")


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_a_killed_generate_command_resumes_to_the_same_dataset(kill_profile, reference_dataset, tmp_path, how):
    """`mindgap generate --profile` interrupted by a real signal once its first shard is written: it leaves only
    complete shards (SIGINT: and says so in one line), and a rerun finishes the dataset, keeping what was done,
    equal shard by shard to an uninterrupted run."""
    out = tmp_path / "D"
    proc = subprocess.Popen([*_mindgap(), "generate", "--profile", str(kill_profile), "--out", str(out), "--quiet"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    wait_for(lambda: list(out.rglob("*.root")), proc, "a first shard file")
    if how == "SIGINT":
        proc.send_signal(signal.SIGINT)
    else:
        proc.kill()
    _, stderr = proc.communicate(timeout=120)
    done = _shards(out)
    assert 1 <= len(done) < len(_shards(reference_dataset)), done  # killed mid-run
    if how == "SIGINT":
        assert proc.returncode == 130, stderr
        assert stderr.splitlines() == ["mindgap generate: interrupted; finished outputs are kept"], stderr
        assert _temporaries(out) == [], "an interrupted writer left its temporary"
    else:
        assert proc.returncode == -signal.SIGKILL
        # a writer killed outright can leave only its own temporary (never a final name): at most one
        assert all(f".{proc.pid}." in p.name for p in _temporaries(out)) and len(_temporaries(out)) <= 1
    for rel in done:  # nothing half-written under a final name
        assert_same_shard(out / rel, reference_dataset / rel)
    stamps = {rel: (out / rel).stat().st_mtime_ns for rel in done}

    assert cli(["generate", "--profile", str(kill_profile), "--out", str(out), "--quiet"]) == 0
    assert _shards(out) == _shards(reference_dataset)
    for rel in _shards(reference_dataset):
        assert_same_shard(out / rel, reference_dataset / rel)
    assert {rel: (out / rel).stat().st_mtime_ns for rel in done} == stamps, "finished shards were redone"
    assert _temporaries(out) == []  # SIGKILL's stale temporary is swept (test_a_stale_temporary_is_swept_on_resume)
    assert (out / dataset.MANIFEST).is_file()


def _zero_basket_data(path: Path) -> None:
    """Overwrite the payload of every basket with zeros; headers, the tree and the metadata stay intact."""
    import uproot

    spans = []
    with uproot.open(path) as fin:
        for branch in fin[schema.TREE].branches:
            for i in range(branch.num_baskets):
                seek, size = int(branch.member("fBasketSeek")[i]), int(branch.member("fBasketBytes")[i])
                spans.append((seek + branch.basket_key(i).fKeylen, seek + size))
    blob = bytearray(path.read_bytes())
    for lo, hi in spans:
        blob[lo:hi] = bytes(hi - lo)
    path.write_bytes(bytes(blob))


def test_cli_resume_redoes_a_truncated_and_a_corrupt_shard(reference_dataset, kill_profile, tmp_path, capsys):
    """A shard cut in half and one whose baskets are garbage behind intact metadata: `generate --profile` on the
    folder redoes exactly those two, without a traceback, and they equal the uninterrupted run's."""
    import shutil

    out = tmp_path / "D"
    shutil.copytree(reference_dataset, out)
    truncated, corrupt = out / "train" / "nominal" / "Hbb_0000.root", out / "calib" / "nominal" / "QCD_0000.root"
    blob = truncated.read_bytes()
    truncated.write_bytes(blob[: len(blob) // 2])
    _zero_basket_data(corrupt)
    stale = corrupt.with_name(f".{corrupt.name}.999999.deadbeef.tmp")  # a writer killed outright left this
    stale.write_bytes(b"half a file")
    assert io.read_metadata(corrupt)["n_jets"] == 2            # the metadata still reads ...
    with pytest.raises(Exception):
        dataset._contents_ok(corrupt, 2)                        # ... the baskets do not
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.root")}
    capsys.readouterr()
    assert cli(["generate", "--profile", str(kill_profile), "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "error" not in captured.err.lower(), captured.err
    redone = {p for p in stamps if p.stat().st_mtime_ns != stamps[p]}
    assert redone == {truncated, corrupt}
    for rel in _shards(reference_dataset):
        assert_same_shard(out / rel, reference_dataset / rel)
    assert dataset.files(out, "calib", "nominal") == [corrupt]  # the stale temporary is never listed (or read)
    assert _temporaries(out) == []                              # and swept: see the next test


def test_a_stale_temporary_is_swept_on_resume(reference_dataset, kill_profile, tmp_path):
    import shutil

    out = tmp_path / "D"
    shutil.copytree(reference_dataset, out)
    stale = out / "calib" / "nominal" / ".QCD_0000.root.999999.deadbeef.tmp"  # pid 999999: no such process
    stale.write_bytes(b"half a file")
    assert cli(["generate", "--profile", str(kill_profile), "--out", str(out), "--quiet"]) == 0
    assert _temporaries(out) == []


def test_the_sweep_keeps_the_temporaries_of_live_writers_and_other_files(tmp_path):
    from mindgap_lib.util.atomic import sweep_stale_temporaries, temp_name

    (tmp_path / "a").mkdir()
    dead = tmp_path / "a" / ".QCD_0000.root.999999.deadbeef.tmp"
    live = temp_name(tmp_path / "a" / "QCD_0001.root")  # this process: alive
    other = [tmp_path / "a" / ".notes.tmp", tmp_path / "a" / ".x.root.12.nothex!.tmp", tmp_path / "QCD_0000.root"]
    for p in (dead, live, *other):
        p.write_bytes(b"x")
    assert sweep_stale_temporaries(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and all(p.exists() for p in other)


def test_dataset_pieces_use_the_seeds_of_the_whole(reference_dataset, kill_profile, tmp_path):
    """The calibration split alone, or one variation alone, gives the very shards of the whole dataset."""
    cfg = load_profile(kill_profile).generate
    calib = dataset.generate_dataset(cfg, tmp_path / "calib_only", progress=False, splits=("calib",),
                                     variations=("nominal",))
    assert [p.relative_to(tmp_path / "calib_only").as_posix() for p in calib] == ["calib/nominal/QCD_0000.root"]
    assert_same_shard(calib[0], reference_dataset / "calib" / "nominal" / "QCD_0000.root")
    jets = io.read_jets(dataset.files(tmp_path / "calib_only", "calib", "nominal"))
    assert len(jets) == 2 and np.all(jets["label_QCD"] == 1)
    assert (tmp_path / "calib_only" / dataset.MANIFEST).is_file()


def test_two_concurrent_generate_commands_leave_a_complete_readable_dataset(kill_profile, reference_dataset, tmp_path):
    """Issue "build layer": the dataset folder is locked; the second run waits, then finds every shard done."""
    prof = kill_profile
    out = tmp_path / "D"
    cmd = [sys.executable, "-m", "mindgap_lib.cli.main", "generate", "--profile", str(prof), "--out", str(out), "--quiet"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr[-2000:]
    assert sum("waiting for dataset" in stdout for stdout, _ in results) == 1, [r[0] for r in results]
    cfg = load_profile(prof).generate
    for shard in (s for s in dataset.plan(cfg) if s.split in ("train", "calib")):  # what `generate --profile` makes
        path = out / shard.relpath
        meta = io.read_metadata(path)
        assert (meta["seed"], meta["n_jets"]) == (shard.seed, shard.n_jets), path
        assert len(io.read_jets(path, ["jet_pt", "part_d0val"])) == shard.n_jets, path
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")], "temporary files left behind"
    assert (out / dataset.MANIFEST).is_file()
    for rel in _shards(reference_dataset):  # and what a single run makes
        assert_same_shard(out / rel, reference_dataset / rel)
