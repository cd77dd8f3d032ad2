"""The tagger on real generated jets (tiny profile): features, invariances, training, resume, latents."""

from __future__ import annotations


import awkward as ak
import numpy as np
import pytest
import torch

from mindgap_lib.cli.main import main as cli
from mindgap_lib.config import ProfileError
from mindgap_lib.jetclass.io import read_jets, write_jets
from mindgap_lib.jetclass.schema import BRANCHES, CLASSES
from mindgap_lib.tagger import (FeatureError, Tagger, TaggerConfig, TaggerError, extract_latents, load,
                                load_features, predict, train_tagger)
from mindgap_lib.tagger.checkpoint import read_checkpoint

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
    generate_dataset("tiny", out, workers=1, progress=False)
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
    metrics = train_tagger("tiny", data_dir, out, progress=False)
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


def test_nan_input_names_the_branch(train_files, tmp_path):
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
    for key in ref:
        torch.testing.assert_close(permuted[key], ref[key], atol=TOL, rtol=TOL)
        torch.testing.assert_close(padded[key], ref[key], atol=TOL, rtol=TOL)
    torch.testing.assert_close(single, ref["logits"], atol=TOL, rtol=TOL)
    assert float((moved - ref["z128"]).abs().max()) > 1e-2  # the jet features do reach the latents (FiLM)


def test_head_from_z128_reproduces_the_latents(feats):
    model = _random_model()
    with torch.no_grad():
        lat = model.latents(feats.batch(torch.arange(20)))
        again = model.head_from_z128(lat["z128"])
    assert set(lat) == {"z128", "z128_post", "penultimate", "logits"}
    assert lat["z128"].shape == (20, 128) and lat["penultimate"].shape == (20, 128) and lat["logits"].shape == (20, 10)
    assert torch.equal(again["penultimate"], lat["penultimate"]) and torch.equal(again["logits"], lat["logits"])
    torch.testing.assert_close(lat["z128_post"], torch.nn.functional.gelu(lat["z128"]))


def test_every_parameter_gets_a_gradient(feats):
    model = _random_model().train()
    batch = feats.batch(torch.arange(16))
    torch.nn.functional.cross_entropy(model(batch), batch["labels"]).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


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


def test_load_round_trip_reproduces_the_test_scores(trained, data_dir):
    out, m = trained
    model = load(out)
    assert not model.training
    scores = np.load(out / "test_scores.npz")
    from mindgap_lib.tagger.train import _split, _train_files, tagger_config

    cfg, tcfg = tagger_config("tiny")
    feats = load_features(_train_files(data_dir), cfg.num_particles, transform=model.input_transform)
    test = _split(len(feats), tcfg, seed=0)["test"]
    np.testing.assert_allclose(predict(model, feats, test)["logits"], scores["logits"], atol=TOL, rtol=TOL)


def test_resume_after_interruption_finishes_like_an_uninterrupted_run(trained, data_dir, tmp_path):
    ref_out, ref = trained
    part = train_tagger("tiny", data_dir, tmp_path, progress=False, stop_after=25)
    assert part == {"complete": False, "step": 25}
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 25
    assert not (tmp_path / "tagger.pt").exists()
    done = train_tagger("tiny", data_dir, tmp_path, progress=False)
    assert done["complete"] and [h["step"] for h in done["history"]] == [h["step"] for h in ref["history"]]
    np.testing.assert_allclose(np.load(tmp_path / "test_scores.npz")["logits"],
                               np.load(ref_out / "test_scores.npz")["logits"], atol=1e-4, rtol=1e-4)


def test_resume_refuses_a_checkpoint_of_another_config(data_dir, tmp_path):
    train_tagger("tiny", data_dir, tmp_path, progress=False, stop_after=3)
    with pytest.raises(TaggerError, match="different configuration.*train"):
        train_tagger("tiny", data_dir, tmp_path, progress=False, lr=1e-2)


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
        train_tagger("tiny", tmp_path / "does-not-exist", tmp_path / "out", progress=False)
    with pytest.raises(ProfileError, match="stepz"):
        train_tagger("tiny", data_dir, tmp_path / "out", progress=False, stepz=3)
    if not torch.cuda.is_available():
        with pytest.raises(TaggerError, match="CUDA is not available"):
            train_tagger("tiny", data_dir, tmp_path / "out", device="cuda", progress=False)


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
            head = model.head_from_z128(torch.from_numpy(z["z128"]))
        np.testing.assert_allclose(head["logits"].numpy(), z["logits"], atol=TOL, rtol=TOL)
    src, tgt = np.load(tmp_path / "nominal.npz"), np.load(tmp_path / "target.npz")
    assert not np.allclose(src["z128"].mean(0), tgt["z128"].mean(0))  # different jets, different latents
    with pytest.raises(ValueError, match="calib/ip99"):
        extract_latents(trained[0], data_dir, tmp_path, variations=("ip99",))


def test_command_line(trained, data_dir, tmp_path, capsys):
    assert cli.main(["latents", "--tagger", str(trained[0]), "--data", str(data_dir), "--out", str(tmp_path / "lat")]) == 0
    assert (tmp_path / "lat" / "nominal.npz").is_file() and (tmp_path / "lat" / "target.npz").is_file()
    assert cli.main(["train-tagger", "--profile", "tiny", "--data", str(data_dir), "--out", str(tmp_path / "t"),
                     "--quiet", "--set", "steps=4", "--set", "eval_every=2"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert cli.main(["train-tagger", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "t2")]) == 2
    assert "missing" in capsys.readouterr().err


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
