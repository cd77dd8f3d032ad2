"""The tagger on real generated jets (tiny profile): features, invariances, training, resume, latents."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import torch

from mindgap_lib.cli.main import main as cli
from mindgap_lib.config import ProfileError, load_profile
from mindgap_lib.errors import MindgapError
from mindgap_lib.jetclass.io import read_jets, write_jets
from mindgap_lib.jetclass.schema import BRANCHES, CLASSES
from mindgap_lib.tagger import (FeatureError, Tagger, TaggerConfig, TaggerError, extract_latents, load,
                                load_features, predict, save_tagger, train_tagger)
from mindgap_lib.tagger.checkpoint import read_checkpoint
from mindgap_lib.tagger.config import layers_of

TINY = load_profile("tiny").tagger  # the [tagger] section: .model and .train

pytestmark = pytest.mark.slow
TOL = 1e-5


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and a busy 2-core machine punishes spinning threads."""
    mp, threads = pytest.MonkeyPatch(), torch.get_num_threads()
    mp.setenv("OMP_NUM_THREADS", "1")  # resolve_device then leaves the thread count alone
    torch.set_num_threads(1)
    yield
    mp.undo()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, one_thread):
    """The tiny profile's dataset, made once by the real generator."""
    from mindgap_lib.generation.dataset import generate_dataset

    out = tmp_path_factory.mktemp("data")
    # the tiny profile's training jets; fewer calibration jets (only the latents tests read them)
    generate_dataset(load_profile("tiny").generate.replace(calib_jets=100), out, workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def train_files(data_dir):
    from mindgap_lib.generation.dataset import files

    return files(data_dir, "train", "nominal")


@pytest.fixture(scope="module")
def feats(train_files):
    from mindgap_lib.tagger.features import fit_input_transform

    raw = load_features(train_files, num_particles=32)
    return raw.transformed(fit_input_transform(raw.particles.numpy(), raw.mask.numpy(), n_knots=64))


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tagger")
    metrics = train_tagger(TINY, data_dir, out, progress=False)
    return out, metrics


def _random_model(**kw) -> Tagger:
    """An untrained tagger with FiLM switched on (its zero init would hide the jet features)."""
    torch.manual_seed(1)
    model = Tagger(TaggerConfig(num_particles=32, dim=32, num_layers=2, num_heads=4, dropout=0.2, **kw))
    for block in model.blocks:
        torch.nn.init.normal_(block.film.weight, std=0.1)
    return model.eval()


# ---------------------------------------------------------------- features

def test_features_are_sorted_masked_and_labelled(feats, train_files):
    jets = read_jets(train_files, ["jet_nparticles", "part_px", *(f"label_{c}" for c in CLASSES)])
    n = len(jets)
    assert feats.particles.shape == (n, 32, 17) and feats.mask.shape == (n, 32) and feats.jets.shape == (n, 5)
    counts = feats.mask.sum(1)
    assert torch.equal(counts, torch.from_numpy(np.minimum(ak.num(jets["part_px"]).to_numpy(), 32)))
    assert torch.equal(feats.mask, torch.arange(32)[None] < counts[:, None])  # real particles first
    log_pt = feats.particles[..., 0].masked_fill(~feats.mask, -np.inf)
    assert bool((log_pt[:, 1:] <= log_pt[:, :-1]).all())  # hardest first
    assert bool((feats.particles[~feats.mask] == 0).all())
    assert set(feats.labels.tolist()) == set(range(len(CLASSES)))
    assert bool(torch.isfinite(feats.particles).all()) and float(feats.particles.abs().max()) <= 5.0


def test_nan_input_names_the_branch(train_files, tmp_path, monkeypatch):
    """A foreign file with a NaN (ours refuse to write one) is named with its branch when read."""
    import mindgap_lib.jetclass.io as jio

    monkeypatch.setattr(jio, "_validate", lambda *a, **k: None, raising=False)
    jets = read_jets(train_files[0])
    arrays = {b: jets[b] for b in BRANCHES}
    flat = ak.flatten(arrays["part_d0val"]).to_numpy().copy()
    flat[3] = np.nan
    arrays["part_d0val"] = ak.unflatten(flat, ak.num(arrays["part_d0val"]))
    bad = write_jets(tmp_path / "bad.root", arrays)
    with pytest.raises(FeatureError, match=r"part_d0val.*non-finite") as err:
        load_features([bad], num_particles=32)
    assert "bad.root" in str(err.value)


# ---------------------------------------------------------------- model

def test_permutation_padding_and_batching_do_not_change_outputs(feats):
    model = _random_model()
    batch = feats.batch(torch.arange(12))
    with torch.no_grad():
        ref = model.latents(batch)
        perm = torch.randperm(batch["mask"].shape[1], generator=torch.Generator().manual_seed(0))
        permuted = model.latents({**batch, "particles": batch["particles"][:, perm], "mask": batch["mask"][:, perm]})
        padded = model.latents({**batch, "particles": torch.cat([batch["particles"], torch.randn(12, 9, 17)], 1),
                                "mask": torch.cat([batch["mask"], torch.zeros(12, 9, dtype=torch.bool)], 1)})
        single = torch.cat([model.latents(feats.batch(torch.tensor([i])))["logits"] for i in range(12)])
        moved = model.latents({**batch, "jets": batch["jets"] + 1.0})["z128"]
    assert model.head.names == layers_of(128) and set(ref) == set(layers_of(128).all)
    for key in ref:
        torch.testing.assert_close(permuted[key], ref[key], atol=TOL, rtol=TOL)
        torch.testing.assert_close(padded[key], ref[key], atol=TOL, rtol=TOL)
    torch.testing.assert_close(single, ref["logits"], atol=TOL, rtol=TOL)
    assert float((moved - ref["z128"]).abs().max()) > 1e-2  # the jet features do reach the latents (FiLM)


def test_head_from_either_first_layer_reproduces_the_latents(feats):
    model = _random_model()
    with torch.no_grad():
        lat = model.latents(feats.batch(torch.arange(20)))
        from_z = model.head.from_layer("z128", lat["z128"])
        from_post = model.head.from_layer("z128_post", lat["z128_post"])
    assert set(lat) == {"z128", "z128_post", "penultimate", "logits"}
    assert lat["z128"].shape == (20, 128) and lat["penultimate"].shape == (20, 128) and lat["logits"].shape == (20, 10)
    for again in (from_z, from_post):
        assert set(again) == {"penultimate", "logits"}
        torch.testing.assert_close(again["penultimate"], lat["penultimate"])
        torch.testing.assert_close(again["logits"], lat["logits"])
    torch.testing.assert_close(lat["z128_post"], torch.nn.functional.gelu(lat["z128"]))
    with pytest.raises(ValueError, match="penultimate"):
        model.head.from_layer("penultimate", lat["penultimate"])
    narrow = Tagger(TaggerConfig(num_particles=8, dim=8, num_layers=1, num_heads=2, head_layers=2, head_width=16))
    assert narrow.head.names.z == "z16" and narrow.head.names.z_post == "z16_post"  # names follow the width


def test_every_parameter_gets_a_gradient(feats):
    model = _random_model().train()
    batch = feats.batch(torch.arange(16))
    torch.nn.functional.cross_entropy(model(batch), batch["labels"]).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


@pytest.mark.parametrize("buckets", [1, 4])
def test_batches_see_every_jet_once_per_epoch_and_buckets_group_multiplicities(buckets):
    from mindgap_lib.tagger.train import _batch_indices

    train = torch.arange(100, 100 + 8 * 4 * 5)  # 160 training rows of 200 jets: 5 groups of 4 batches of 8
    lengths = torch.from_numpy(np.random.default_rng(0).integers(1, 128, 260))
    steps = [_batch_indices(train, s, 8, seed=3, lengths=lengths, buckets=buckets) for s in range(40)]
    seen = torch.cat(steps[:20])
    assert sorted(seen.tolist()) == train.tolist()  # the first epoch: each training row exactly once
    assert sorted(torch.cat(steps[20:]).tolist()) == train.tolist()  # and the second
    assert torch.equal(steps[13], _batch_indices(train, 13, 8, seed=3, lengths=lengths, buckets=buckets))  # resumable
    spread = float(np.mean([float(lengths[b].max() - lengths[b].min()) for b in steps]))
    if buckets == 1:
        assert spread > 80  # random batches span most multiplicities
    else:
        assert spread < 60  # sorted groups: each batch spans about a quarter
        for g in range(0, 40, buckets):  # within a group, the batches' multiplicity ranges do not interleave
            ranges = sorted((int(lengths[b].min()), int(lengths[b].max())) for b in steps[g:g + buckets])
            assert all(hi <= lo for (_, hi), (lo, _) in zip(ranges, ranges[1:]))
        with pytest.raises(ValueError, match="length_buckets"):  # never silently unbucketed
            _batch_indices(train, 0, 8, seed=3, buckets=buckets)


# ---------------------------------------------------------------- training, saving, resuming

def test_tiny_training_learns_and_writes_its_outputs(trained):
    out, m = trained
    hist = m["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"] - 0.1
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]
    assert m["complete"] and m["accuracy"] > 0.1 and m["macro_auc"] > 0.6
    assert set(m["rejection_at_50"]) == set(CLASSES[1:]) and len(m["confusion"]) == 10
    assert sum(map(sum, m["confusion"])) == m["n_test"]
    assert (out / "tagger.pt").is_file() and (out / "metrics.json").is_file() and not (out / "checkpoint.pt").exists()
    ckpt = torch.load(out / "tagger.pt", weights_only=True)
    assert ckpt["config"]["model"]["dim"] == 32 and "state_dict" in ckpt


def test_training_on_multiplicity_buckets_learns(data_dir, tmp_path):
    cfg = TINY.replace(train=TINY.train.replace(length_buckets=4))
    m = train_tagger(cfg, data_dir, tmp_path, progress=False)
    assert m["complete"] and m["config"]["train"]["length_buckets"] == 4
    assert m["history"][-1]["train_loss"] < m["history"][0]["train_loss"] - 0.1


def test_load_round_trip_reproduces_the_test_scores(trained, data_dir):
    out, m = trained
    model = load(out)
    assert not model.training
    scores = np.load(out / "test_scores.npz")
    from mindgap_lib.tagger.train import _split, _train_files

    feats = load_features(_train_files(data_dir), TINY.model.num_particles, transform=model.input_transform)
    test = _split(len(feats), TINY.train, seed=0)["test"]
    np.testing.assert_allclose(predict(model, feats, test)["logits"], scores["logits"], atol=TOL, rtol=TOL)


def _default_sigint() -> None:  # the child handles SIGINT even when the test runs in a background job
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_a_killed_train_tagger_command_resumes_to_the_same_tagger(trained, data_dir, tmp_path, how):
    """`mindgap train-tagger` stopped by a real signal once its first checkpoint exists: no tagger.pt, a loadable
    checkpoint (SIGINT: at the step it was interrupted, and one line saying so); the rerun resumes from it and
    ends with the weights and test scores of the uninterrupted run."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    out = tmp_path / "t"
    script = Path(sys.executable).with_name("mindgap")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "mindgap_lib.cli.main"]
    proc = subprocess.Popen([*cmd, "train-tagger", "--profile", "tiny", "--data", str(data_dir), "--out", str(out),
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 300
    while not (out / "checkpoint.pt").is_file():  # written at step 20 of 60 (checkpoint_every)
        assert proc.poll() is None, f"train-tagger ended ({proc.returncode}) before its first checkpoint: " \
                                    f"{proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint after 300 s"
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT) if how == "SIGINT" else proc.kill()
    _, stderr = proc.communicate(timeout=120)
    assert not (out / "tagger.pt").exists(), "the signal came after the end of training: nothing was interrupted"
    temporaries = sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp"))
    if how == "SIGINT":
        assert proc.returncode == 130, stderr
        assert stderr.splitlines() == ["mindgap train-tagger: interrupted; finished outputs are kept"], stderr
        assert temporaries == []
    else:
        assert proc.returncode == -signal.SIGKILL and len(temporaries) <= 1
    step = torch.load(out / "checkpoint.pt", weights_only=True)["step"]  # complete and loadable
    assert 20 <= step < TINY.train.steps

    assert cli(["train-tagger", "--profile", "tiny", "--data", str(data_dir), "--out", str(out), "--quiet"]) == 0
    assert not (out / "checkpoint.pt").exists()
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")) == temporaries
    ref_out, ref = trained
    done = json.loads((out / "metrics.json").read_text())
    strip = lambda history: [{k: v for k, v in h.items() if k != "train_loss"} for h in history]  # noqa: E731
    assert done["complete"] and strip(done["history"]) == strip(json.loads((ref_out / "metrics.json").read_text())[
        "history"])  # (train_loss after a resume: test_resume_between_evaluations_keeps_the_recorded_train_loss)
    got, want = read_checkpoint(out)["state_dict"], read_checkpoint(ref_out)["state_dict"]
    assert set(got) == set(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-6, atol=1e-7, msg=name)
    for key in ("logits", "z", "labels"):
        np.testing.assert_allclose(np.load(out / "test_scores.npz")[key], np.load(ref_out / "test_scores.npz")[key],
                                   rtol=1e-6, atol=1e-6, err_msg=key)


def test_resume_between_evaluations_keeps_the_recorded_train_loss(trained, data_dir, tmp_path):
    """A stop between two evaluations (25: they come every 10 steps) and a resume give the uninterrupted history."""
    assert train_tagger(TINY, data_dir, tmp_path, progress=False, stop_after=25) == {"complete": False, "step": 25}
    done = train_tagger(TINY, data_dir, tmp_path, progress=False)
    assert done["history"] == trained[1]["history"]


def test_resume_refuses_a_checkpoint_of_another_config(data_dir, tmp_path):
    train_tagger(TINY, data_dir, tmp_path, progress=False, stop_after=3)
    with pytest.raises(TaggerError, match="different configuration.*train"):
        train_tagger(TINY.replace(train=TINY.train.replace(lr=1e-2)), data_dir, tmp_path, progress=False)
    # a speed-only field is not a different configuration: the run resumes
    faster = TINY.replace(train=TINY.train.replace(threads=2))
    assert train_tagger(faster, data_dir, tmp_path, progress=False, stop_after=4) == {"complete": False, "step": 4}


def test_mismatched_checkpoint_config_is_named(trained, tmp_path):
    ckpt = read_checkpoint(trained[0])
    ckpt["config"]["model"]["dim"] = 64
    torch.save(ckpt, tmp_path / "tagger.pt")
    with pytest.raises(TaggerError, match=r"shape mismatch.*embed"):
        load(tmp_path)
    ckpt["config"]["model"] = {**ckpt["config"]["model"], "dim": 32, "width_factor": 2}
    torch.save(ckpt, tmp_path / "tagger.pt")
    with pytest.raises(TaggerError, match="width_factor"):
        load(tmp_path)
    with pytest.raises(TaggerError, match="no tagger checkpoint"):
        load(tmp_path / "nowhere")


def test_bad_training_inputs_are_named(data_dir, tmp_path):
    with pytest.raises(TaggerError, match="does-not-exist"):
        train_tagger(TINY, tmp_path / "does-not-exist", tmp_path / "out", progress=False)
    with pytest.raises(ProfileError, match="stepz"):
        TINY.train.replace(stepz=3)
    if not torch.cuda.is_available():
        with pytest.raises(MindgapError, match="CUDA is not available"):
            train_tagger(TINY, data_dir, tmp_path / "out", device="cuda", progress=False)


# ---------------------------------------------------------------- latents and the command line

def test_latents_of_calibration_jets(trained, data_dir, tmp_path):
    info = extract_latents(trained[0], data_dir, tmp_path)
    assert set(info) == {"nominal", "target"}
    model = load(trained[0])
    for variation, name in (("nominal", "nominal.npz"), ("target", "target.npz")):
        z = np.load(tmp_path / name)
        n = info[variation]["n_jets"]
        assert n > 0 and z["z128"].shape == (n, 128) and z["logits"].shape == (n, 10) and z["jet_pt"].shape == (n,)
        assert all(z[k].dtype == np.float32 for k in z.files)
        assert ((z["jet_pt"] > 400) & (z["jet_pt"] < 1100)).all()
        with torch.no_grad():
            head = model.head.from_layer("z128", torch.from_numpy(z["z128"]))
        np.testing.assert_allclose(head["logits"].numpy(), z["logits"], atol=TOL, rtol=TOL)
    src, tgt = np.load(tmp_path / "nominal.npz"), np.load(tmp_path / "target.npz")
    assert not np.allclose(src["z128"].mean(0), tgt["z128"].mean(0))  # different jets, different latents
    with pytest.raises(MindgapError, match="calib/ip99"):
        extract_latents(trained[0], data_dir, tmp_path / "none", variations=("nominal", "ip99"))
    assert not (tmp_path / "none" / "nominal.npz").exists()  # every input is checked before the slow part


def test_command_line(trained, data_dir, tmp_path, capsys):
    assert cli(["latents", "--tagger", str(trained[0]), "--data", str(data_dir), "--out", str(tmp_path / "lat"),
                "--variations", "target"]) == 0
    assert (tmp_path / "lat" / "target.npz").is_file() and not (tmp_path / "lat" / "nominal.npz").exists()
    assert cli(["train-tagger", "--profile", "tiny", "--data", str(data_dir), "--out", str(tmp_path / "t"),
                "--quiet", "--set", "steps=4", "--set", "eval_every=2", "--set", "dim=16"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert load(tmp_path / "t").config.dim == 16  # a [tagger.model] key, beside [tagger.train] ones
    assert cli(["train-tagger", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "t2")]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and err.count("\n") == 1


def test_input_transform_is_monotone_unit_normal_and_round_trips(tmp_path):
    from mindgap_lib.tagger.features import IMPACT, PARTICLE_FEATURES, InputTransform, fit_input_transform

    rng = np.random.default_rng(0)
    raw = rng.standard_t(3, size=(400, 16, 17)).astype(np.float32) * 0.03  # heavy tails at the d0 scale
    i_err, i_q = PARTICLE_FEATURES.index("d0err"), PARTICLE_FEATURES.index("charge")
    raw[..., i_err] = rng.choice([0.011, 0.02, 0.035], size=raw.shape[:2])  # a resolution table: tied values
    raw[..., i_q] = rng.choice([-1.0, 0.0, 1.0], size=raw.shape[:2])
    mask = np.ones(raw.shape[:2], bool)
    tf = fit_input_transform(raw, mask, n_knots=128)
    out = tf(raw[mask], raw[mask][:, i_q] != 0)
    i_d0 = PARTICLE_FEATURES.index("d0")
    charged = raw[mask][:, i_q] != 0
    x, y = raw[mask][charged, i_d0], out[charged, i_d0]
    order = np.argsort(x)
    assert np.all(np.diff(y[order]) >= 0)  # monotone
    assert abs(np.mean(y)) < 0.05 and 0.9 < np.std(y) < 1.1  # the 0.03-wide core now has unit width
    assert np.all(out[~charged][:, [PARTICLE_FEATURES.index(n) for n in IMPACT]] == 0)  # neutrals: centre
    assert len(np.unique(out[charged, i_err])) == 3  # ties stay ties
    # save/load through the checkpoint format (weights_only)
    torch.save(tf.state(), tmp_path / "tf.pt")
    back = InputTransform.from_state(torch.load(tmp_path / "tf.pt", weights_only=True))
    assert np.array_equal(back(raw[mask], charged), out)
    # a non-monotone state is refused
    state = tf.state()
    state["scores"][0] = state["scores"][0].flip(0)
    with pytest.raises(FeatureError, match="monotone"):
        InputTransform.from_state(state)


def test_trained_input_transform_is_monotone_and_round_trips_through_the_checkpoint(trained, feats, tmp_path):
    """Issue "paper-faithful target": the quantile transform is a monotone map stored with the weights."""
    from mindgap_lib.tagger.features import PARTICLE_FEATURES

    model = load(trained[0])
    tf = model.input_transform
    assert tf is not None and set(tf.names) <= set(PARTICLE_FEATURES)
    for name, k, v in zip(tf.names, tf.knots, tf.scores):
        assert np.all(np.diff(k) > 0) and np.all(np.diff(v) >= 0), name
        assert v[-1] > v[0], f"{name}: a constant map"
        grid = np.zeros((400, len(PARTICLE_FEATURES)), np.float32)
        grid[:, PARTICLE_FEATURES.index(name)] = np.linspace(k[0] - 1, k[-1] + 1, 400)
        y = tf(grid, np.ones(400, bool))[:, PARTICLE_FEATURES.index(name)]
        assert np.all(np.diff(y) >= 0) and np.abs(y).max() <= 5.0, name
    save_tagger(model, tmp_path / "again" / "tagger.pt")
    back = load(tmp_path / "again")
    for a, b in zip(tf.knots + tf.scores, back.input_transform.knots + back.input_transform.scores):
        np.testing.assert_array_equal(a, b)
    with torch.no_grad():
        batch = feats.batch(torch.arange(16))
        torch.testing.assert_close(back.latents(batch)["logits"], model.latents(batch)["logits"])
    with pytest.raises(TaggerError, match="input transform"):
        save_tagger(Tagger(model.config), tmp_path / "bare.pt")
