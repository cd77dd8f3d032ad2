"""Files in the JetClass layout: schema equality on generated files, and reader errors that name
the file and the branch."""

import json

import awkward as ak
import numpy as np
import pytest
import uproot

from mindgap_lib.generation import generate
from mindgap_lib.jetclass import io, schema


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    path = tmp_path_factory.mktemp("io") / "Hbb_0000.root"
    return generate.generate_shard("Hbb", "ip_only", 5, seed=11, out=path)


def _dtype(array: ak.Array) -> np.dtype:
    layout = array.layout
    while not hasattr(layout, "dtype"):
        layout = layout.content
    return np.dtype(layout.dtype)


@pytest.mark.slow
def test_generated_file_has_exactly_the_jetclass_schema(shard):
    jets = io.read_jets(shard)
    assert jets.fields == list(schema.BRANCHES)
    for branch, dtype in schema.BRANCHES.items():
        assert _dtype(jets[branch]) == dtype, branch
        assert (jets[branch].ndim == 2) == schema.is_jagged(branch), branch
    with uproot.open(shard) as fin:
        assert fin.classname_of(schema.TREE) == "TTree"
    sub = io.read_jets([shard, shard], branches=["jet_pt", "part_d0val"])
    assert sub.fields == ["jet_pt", "part_d0val"] and len(sub) == 10


@pytest.mark.slow
def test_metadata_records_config_seed_and_versions(shard):
    meta = io.read_metadata(shard)
    assert meta["process"] == "Hbb" and meta["seed"] == 11 and meta["n_jets"] == 5
    assert meta["variation"]["name"] == "ip_only" and meta["variation"]["ip_smear_max"] == 0.3
    assert meta["versions"]["pythia8mc"] and meta["generator"]["events"] > 0
    assert any(line.startswith("Random:seed") for line in meta["generator"]["pythia_settings"][0])
    assert not list(shard.parent.glob("*.tmp"))


def _jets(n=3, **replace):
    """Valid jets: finite values, one-hot labels, jet_nparticles equal to the particle counts."""
    rng = np.random.default_rng(0)
    counts = np.array([2, 0, 3])[:n]
    out = {}
    for branch, dtype in schema.BRANCHES.items():
        if schema.is_jagged(branch):
            out[branch] = ak.unflatten(rng.normal(size=int(counts.sum())).astype(dtype), counts)
        else:
            out[branch] = rng.normal(size=n).astype(dtype)
    for i, label in enumerate(schema.LABELS):
        out[label] = (np.arange(n) % len(schema.LABELS) == i).astype(schema.BRANCHES[label])
    out["jet_nparticles"] = counts.astype(schema.BRANCHES["jet_nparticles"])
    out.update(replace)
    return out


def _write_raw(path, jets, tree=schema.TREE):
    """A ROOT file with an arbitrary flat TTree, bypassing write_jets' checks."""
    with uproot.recreate(path) as fout:
        fout.mktree(tree, {k: v.dtype for k, v in jets.items()})
        fout[tree].extend(dict(jets))
    return path


def test_missing_and_non_root_files(tmp_path):
    with pytest.raises(io.JetFileError, match="nofile.root"):
        io.read_jets(tmp_path / "nofile.root")
    text = tmp_path / "notes.root"
    text.write_text("not a ROOT file\n" * 100)
    with pytest.raises(io.JetFileError, match="notes.root"):
        io.read_jets(text)
    with pytest.raises(io.JetFileError, match="no files"):
        io.read_jets([])


def test_truncated_file(tmp_path):
    good = io.write_jets(tmp_path / "good.root", _jets(), {"seed": 1})
    blob = good.read_bytes()
    cut = tmp_path / "cut.root"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(io.JetFileError, match="cut.root"):
        io.read_jets(cut)


@pytest.mark.parametrize("reader", ["read_metadata", "read_jets"])
@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.7])
def test_a_truncated_file_is_a_one_line_jet_file_error(tmp_path, reader, fraction):
    """Cut anywhere, a file is a JetFileError naming it, on one line (the CLI prints it as it is)."""
    good = io.write_jets(tmp_path / "good.root", _jets(), {"seed": 1})
    blob = good.read_bytes()
    cut = tmp_path / "cut.root"
    cut.write_bytes(blob[: int(len(blob) * fraction)])
    with pytest.raises(io.JetFileError) as err:
        getattr(io, reader)(cut)
    msg = str(err.value)
    assert str(cut) in msg
    assert "\n" not in msg, msg


def test_missing_tree_branch_and_wrong_dtype(tmp_path):
    jets = {k: v for k, v in _jets().items() if not schema.is_jagged(k)}
    other = _write_raw(tmp_path / "other.root", jets, tree="events")
    with pytest.raises(io.JetFileError, match=r"other\.root.*'tree'"):
        io.read_jets(other, branches=["jet_pt"])
    missing = _write_raw(tmp_path / "missing.root", {k: v for k, v in jets.items() if k != "jet_sdmass"})
    with pytest.raises(io.JetFileError, match=r"missing\.root.*jet_sdmass"):
        io.read_jets(missing, branches=["jet_pt", "jet_sdmass"])
    wrong = _write_raw(tmp_path / "wrong.root", {**jets, "jet_pt": jets["jet_pt"].astype(np.float64)})
    with pytest.raises(io.JetFileError, match=r"wrong\.root.*jet_pt.*float32"):
        io.read_jets(wrong, branches=["jet_eta", "jet_pt"])


def test_writer_refuses_incomplete_jets_and_leaves_nothing(tmp_path):
    jets = _jets()
    del jets["part_dzerr"]
    with pytest.raises(io.JetFileError, match="part_dzerr"):
        io.write_jets(tmp_path / "x.root", jets)
    assert not list(tmp_path.iterdir())
    bad = _jets(jet_pt=np.zeros(2, np.float32))
    with pytest.raises(io.JetFileError, match="jet_pt"):
        io.write_jets(tmp_path / "y.root", bad)
    assert not list(tmp_path.iterdir())


def test_writer_refuses_invalid_values_and_names_them(tmp_path):
    flat = ak.to_numpy(ak.flatten(_jets()["part_d0val"])).copy()
    flat[1] = np.nan
    bad = _jets(part_d0val=ak.unflatten(flat, [2, 0, 3]))
    with pytest.raises(io.JetFileError, match=r"part_d0val.*non-finite"):
        io.write_jets(tmp_path / "nan.root", bad)
    two = _jets()
    two["label_Hbb"] = np.ones(3, schema.BRANCHES["label_Hbb"])
    with pytest.raises(io.JetFileError, match="one-hot"):
        io.write_jets(tmp_path / "labels.root", two)
    with pytest.raises(io.JetFileError, match="jet_nparticles"):
        io.write_jets(tmp_path / "counts.root", _jets(jet_nparticles=np.array([2, 1, 3], np.int32)))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("bad, branch", [
    ("nan_pt", "jet_pt"),
    ("two_labels", "label_QCD"),
    ("counts", "jet_nparticles")])
def test_writer_names_the_branch_of_a_bad_value(tmp_path, bad, branch):
    """NaN jet_pt, two labels on one jet, jet_nparticles != the constituents: a one-line JetFileError naming the
    branch and the file; nothing written, not even a temporary."""
    jets = _jets()
    if bad == "nan_pt":
        jets["jet_pt"] = np.array([500.0, np.nan, 700.0], np.float32)
    elif bad == "two_labels":
        jets["label_QCD"] = np.ones(3, schema.BRANCHES["label_QCD"])  # jet 1 is already label_Hbb
        assert jets["label_Hbb"][1] == 1
    else:
        jets["jet_nparticles"] = np.array([2, 0, 4], schema.BRANCHES["jet_nparticles"])  # jet 2 has 3
    target = tmp_path / "out" / "bad.root"
    with pytest.raises(io.JetFileError) as err:
        io.write_jets(target, jets)
    msg = str(err.value)
    assert branch in msg and str(target) in msg and "\n" not in msg, msg
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    if bad == "two_labels":
        assert "label_Hbb" in msg


def test_round_trip_preserves_values(tmp_path):
    jets = _jets()
    path = io.write_jets(tmp_path / "rt.root", jets, {"note": "x"})
    back = io.read_jets(path)
    for branch in schema.BRANCHES:
        assert ak.all(ak.Array(jets[branch]) == back[branch]), branch
    assert json.loads(json.dumps(io.read_metadata(path))) == {"note": "x"}
