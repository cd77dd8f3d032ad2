"""Bad input at the command line: one line naming the culprit, exit status 2, no traceback (``--debug`` shows
it), and nothing half-written left behind.

Issue #14's table of bad inputs, and where each row is tested:

====================================================================  ==========================================
input                                                                 test
====================================================================  ==========================================
truncated shard on resume (``generate --profile``)                    test_generate.py::test_cli_resume_redoes_a_truncated_and_a_corrupt_shard
shard with corrupted baskets but intact metadata, on resume           test_generate.py::test_cli_resume_redoes_a_truncated_and_a_corrupt_shard
``read_metadata`` on a truncated file                                 test_io.py::test_a_truncated_file_is_a_one_line_jet_file_error
truncated ``.npz`` to ``fit-transport``                               here: test_fit_transport_truncated_npz
object-array ``.npz``                                                 here: test_fit_transport_object_array_npz
``--set lr=abc``                                                      here: test_fit_transport_bad_override_value
read-only ``--out`` for ``fit-transport``                             here: test_fit_transport_unwritable_out
malicious / truncated ``weights.pt``, extra config key, renamed keys  test_transport.py::test_a_bad_map_folder_is_a_one_line_transport_error
malformed profile TOML                                                here: test_malformed_profile_toml
negative size in a profile, via ``mindgap run``                       here: test_run_refuses_a_negative_size
``generate --out new/dir/x.root --jets 0``                            here: test_generate_zero_jets_creates_nothing
NaN ``jet_pt``, two labels, ``nparticles`` mismatch to write_jets     test_io.py::test_writer_names_the_branch_of_a_bad_value
"too few rows"                                                        here: test_fit_transport_too_few_rows (test_transport.py: the solver)
missing latents to ``evaluate``                                       test_evaluate.py::test_cli_reports_missing_latents_on_one_line
====================================================================  ==========================================
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from _cli import files_under, one_line_error
from mindgap_lib.config import load_profile, profile_path

pytestmark = pytest.mark.filterwarnings("ignore:chapter .* does not exist yet")  # the throwaway book has one chapter

TINY = load_profile("tiny")
TINY_TEXT = profile_path("tiny").read_text()


def _latents(folder: Path, n: int = 400, dim: int = 4) -> Path:
    """nominal.npz and target.npz as `mindgap latents` writes them (a z128 that is `dim` wide)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for name, shift in (("nominal", 0.0), ("target", 1.0)):
        np.savez(folder / f"{name}.npz", z128=(rng.normal(size=(n, dim)) + shift).astype(np.float32),
                 jet_pt=rng.uniform(500, 1000, n).astype(np.float32))
    return folder


def _fit(latents: Path, out: Path, *extra: str) -> list[str]:
    return ["fit-transport", "--latents", str(latents), "--profile", "tiny", "--out", str(out), "--quiet",
            "--set", "steps=5", *extra]


# ---------------------------------------------------------------- fit-transport

def test_fit_transport_truncated_npz(tmp_path, capsys):
    lat = _latents(tmp_path / "lat")
    blob = (lat / "nominal.npz").read_bytes()
    (lat / "nominal.npz").write_bytes(blob[: len(blob) // 2])
    out = tmp_path / "out"
    one_line_error(capsys, _fit(lat, out), "fit-transport", str(lat / "nominal.npz"))
    assert files_under(out) == []


def test_fit_transport_object_array_npz(tmp_path, capsys):
    lat = _latents(tmp_path / "lat")
    rows = np.empty(400, dtype=object)
    rows[:] = [np.zeros(4, np.float32)] * 400            # a pickled array of arrays, not an (n, d) float array
    np.savez(lat / "target.npz", z128=rows)
    out = tmp_path / "out"
    one_line_error(capsys, _fit(lat, out), "fit-transport", str(lat / "target.npz"))
    assert files_under(out) == []


def test_fit_transport_bad_override_value(tmp_path, capsys):
    lat, out = _latents(tmp_path / "lat"), tmp_path / "out"
    line = one_line_error(capsys, _fit(lat, out, "--set", "lr=abc"), "fit-transport", "[transport] lr", "'abc'")
    assert "number" in line
    assert not out.exists()  # checked before the output folder is made


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder path that cannot be written: chmod 0o555 where that stops writes, else (root ignores modes)
    a path below a regular file, which nobody can create."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").write_text("x")
    except PermissionError:
        return folder                                   # a plain user: the mode is enforced
    (folder / "probe").unlink()
    folder.chmod(0o755)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    return blocker / "out"


def test_fit_transport_unwritable_out(tmp_path, capsys, monkeypatch):
    """The output folder is checked before the fit: the solver never starts."""
    def no_fit(*args, **kwargs):
        raise AssertionError("the fit started before the output folder was checked")

    monkeypatch.setattr("mindgap_lib.transport.train.Solver.run", no_fit)
    lat = _latents(tmp_path / "lat")
    out = _unwritable_folder(tmp_path)
    one_line_error(capsys, _fit(lat, out), "fit-transport", str(out))
    assert files_under(out) == [] and not list(tmp_path.rglob("weights.pt"))


def test_fit_transport_too_few_rows(tmp_path, capsys):
    """Too few rows for a batch: the message names the profile's batch_size (and its value)."""
    lat, out = _latents(tmp_path / "lat", n=60), tmp_path / "out"
    line = one_line_error(capsys, _fit(lat, out), "fit-transport", "batch_size", str(TINY.transport.batch_size))
    assert "source" in line
    assert not list(out.rglob("weights.pt")) and not (out / "metrics.json").exists()


# ---------------------------------------------------------------- profiles

@pytest.mark.parametrize("broken", ["name = 'x'\n[generate\n", "[generate]\njets_per_shard = = 3\n",
                                    "name = \"tiny\nx = 1\n"], ids=["table", "value", "string"])
@pytest.mark.parametrize("command", ["generate", "stages", "run", "fit-transport"])
def test_malformed_profile_toml(tmp_path, capsys, broken, command):
    bad = tmp_path / "broken.toml"
    bad.write_text(broken)
    out = tmp_path / "out" / "tiny"
    argv = {"generate": ["generate", "--profile", str(bad), "--out", str(out), "--quiet"],
            "stages": ["stages", "--profile", str(bad), "--build-dir", str(tmp_path / "out")],
            "run": ["run", "--profile", str(bad), "--out", str(out), "--quiet"],
            "fit-transport": ["fit-transport", "--latents", str(_latents(tmp_path / "lat")), "--profile", str(bad),
                              "--out", str(out), "--quiet"]}[command]
    line = one_line_error(capsys, argv, command, str(bad))
    assert "TOML" in line
    assert not (tmp_path / "out").exists()


def _with_value(text: str, key: str, value: str) -> str:
    """`text` with ``key = value`` in the table where `key` (``section.name``) lives."""
    section, _, name = key.rpartition(".")
    out, current, done = [], None, False
    for line in text.splitlines():
        m = re.match(r"\s*\[([\w.]+)\]", line)
        if m:
            current = m.group(1)
        if current == section and not done and re.match(rf"{re.escape(name)}\s*=", line):
            line, done = f"{name} = {value}", True
        out.append(line)
    assert done, key
    return "\n".join(out) + "\n"


def _integer_keys(table: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in table.items():
        if isinstance(v, dict):
            out += _integer_keys(v, f"{prefix}{k}.")
        elif isinstance(v, int) and not isinstance(v, bool) and k != "seed":
            out.append(prefix + k)
    return out


SIZES = _integer_keys(tomllib.loads(TINY_TEXT))
@pytest.mark.parametrize("key", SIZES)
def test_run_refuses_a_negative_size(tmp_path, capsys, key):
    """Every size of a profile: -1 is an error before any kernel starts, and no build folder is created."""
    from mindgap_lib.config import ProfileError

    bad = tmp_path / "neg.toml"
    bad.write_text(_with_value(TINY_TEXT, key, "-1"))
    with pytest.raises(ProfileError):  # (fail fast: a profile that loads would start a kernel below)
        load_profile(bad)
    book = tmp_path / "book"
    book.mkdir()
    (book / "01_datasets.ipynb").write_text(_MARKER_NOTEBOOK.replace("MARKER", str(tmp_path / "kernel-ran")))
    out = tmp_path / "build" / "tiny"
    one_line_error(capsys, ["run", "--profile", str(bad), "--out", str(out), "--book-dir", str(book), "--quiet"], "run",
                   str(bad), key.rpartition(".")[2], debug=False)
    assert not (tmp_path / "kernel-ran").exists() and not (tmp_path / "build").exists()


_MARKER_NOTEBOOK = """{"cells": [{"cell_type": "code", "execution_count": null, "metadata": {"tags": ["parameters"]},
 "outputs": [], "source": ["profile = 'cpu'"]}, {"cell_type": "code", "execution_count": null, "metadata": {},
 "outputs": [], "source": ["open('MARKER', 'w').write('x')"]}],
 "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
 "nbformat": 4, "nbformat_minor": 5}"""


def test_run_negative_size_traceback_on_request(tmp_path, capsys):
    bad = tmp_path / "neg.toml"
    bad.write_text(_with_value(TINY_TEXT, "generate.calib_jets", "-5"))
    out = tmp_path / "build" / "tiny"
    one_line_error(capsys, ["run", "--profile", str(bad), "--out", str(out), "--quiet"], "run", "calib_jets", str(bad))
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize("key", ["evaluate.discriminator.lr", "evaluate.discriminator.weight_decay",
                                 "beyond.discriminator.lr", "beyond.discriminator.weight_decay",
                                 "tagger.train.lr", "tagger.train.weight_decay", "tagger.train.clip",
                                 "beyond.methods.gb_learning_rate", "transport.clip", "transport.weight_decay",
                                 "transport.quad_lr_scale", "transport.lr_min_factor"])
def test_negative_rates_are_refused_at_load(tmp_path, key):
    from mindgap_lib.config import ProfileError

    bad = tmp_path / "neg.toml"
    bad.write_text(_with_value(TINY_TEXT, key, "-1.0"))
    with pytest.raises(ProfileError, match=re.escape(key.rpartition(".")[2])):
        load_profile(bad)


# ---------------------------------------------------------------- generate

def test_generate_zero_jets_creates_nothing(tmp_path, capsys):
    target = tmp_path / "new" / "dir" / "x.root"
    one_line_error(capsys, ["generate", "--process", "QCD", "--out", str(target), "--jets", "0", "--quiet"],
                   "generate", "--jets")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("bad", [["--process", "Qcd"], ["--process", "QCD", "--variation", "tagret"]],
                         ids=["process", "variation"])
def test_generate_unknown_name_creates_nothing(tmp_path, capsys, bad):
    target = tmp_path / "new" / "dir" / "x.root"
    one_line_error(capsys, ["generate", *bad, "--out", str(target), "--jets", "3", "--quiet"], "generate", bad[-1],
                   debug=False)
    assert not (tmp_path / "new").exists()


def test_generate_out_below_a_file(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    one_line_error(capsys, ["generate", "--process", "QCD", "--out", str(blocker / "x.root"), "--jets", "2", "--quiet"],
                   "generate", str(blocker / "x.root"))
    assert blocker.read_text() == "x" and sorted(os.listdir(tmp_path)) == ["a_file"]
