"""The chapter runner: parameters, failures, chapter contracts, and the end-to-end tiny run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mindgap_lib.cli.main import main as cli
from mindgap_lib.build import runner
from mindgap_lib.build.runner import ChapterError, run_chapters

REPO = Path(__file__).resolve().parents[1]
CHAPTER_NOTEBOOKS = sorted((REPO / "book").glob("[0-9][0-9]_*.ipynb"))
pytestmark = pytest.mark.filterwarnings("ignore:chapter .* does not exist yet")  # the throwaway books have gaps


def _notebook(path: Path, *cells: str, params: str = 'profile = "cpu"\ndevice = "cpu"\nbuild_dir = "build"') -> Path:
    """A throwaway chapter: a tagged parameters cell, then `cells`."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    first = nbformat.v4.new_code_cell(params)
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first, *(nbformat.v4.new_code_cell(c) for c in cells)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


RECORD = ("import json, pathlib\n"
          "out = pathlib.Path(build_dir) / 'params.jsonl'\n"
          "out.parent.mkdir(parents=True, exist_ok=True)\n"
          "with open(out, 'a') as fh:\n"
          "    fh.write(json.dumps({k: globals().get(k) for k in ('profile', 'device', 'build_dir', 'steps')}) + '\\n')")


def test_parse_value_reads_literals_and_keeps_strings():
    assert runner.parse_value("3") == 3 and runner.parse_value("0.5") == 0.5
    assert runner.parse_value("True") is True and runner.parse_value("none") is None
    assert runner.parse_value("[1, 2]") == [1, 2] and runner.parse_value("z128_post") == "z128_post"


def test_unknown_parameter_is_an_error_before_anything_runs(tmp_path):
    book = tmp_path / "book"
    _notebook(book / "01_datasets.ipynb", "open('ran-01', 'w').write('x')")
    _notebook(book / "03_transport.ipynb", "open('ran-03', 'w').write('x')", params='profile = "cpu"\nsteps = 10')
    out = tmp_path / "build" / "tiny"
    with pytest.raises(ChapterError, match="stpes"):
        run_chapters("tiny", overrides={"stpes": 5}, out=out, book_dir=book, progress=False)
    assert not (tmp_path / "ran-01").exists() and not (out / "notebooks").exists()
    # a name declared by any selected chapter is fine, but not if that chapter is not selected
    with pytest.raises(ChapterError, match="steps"):
        run_chapters("tiny", chapters=["01"], overrides={"steps": 5}, out=out, book_dir=book, progress=False)
    # the CLI prints the clean error and exits 2
    code = cli(["run", "--profile", "tiny", "--book-dir", str(book), "--out", str(out), "-p", "stpes", "5"])
    assert code == 2 and not (tmp_path / "ran-01").exists()


def test_parameters_reach_only_the_chapters_that_declare_them(tmp_path):
    book = tmp_path / "book"
    _notebook(book / "01_datasets.ipynb", RECORD)
    _notebook(book / "03_transport.ipynb", RECORD, params='profile = "cpu"\ndevice = "cpu"\nbuild_dir = "build"\nsteps = 10')
    out = tmp_path / "build" / "tiny"
    result = run_chapters("tiny", overrides={"steps": 7}, device="cuda", out=out, book_dir=book, progress=False)
    assert result.ok and [p.name for p in result.executed] == ["01_datasets.ipynb", "03_transport.ipynb"]
    seen = [json.loads(line) for line in (out.parent / "params.jsonl").read_text().splitlines()]
    assert seen[0] == {"profile": "tiny", "device": "cuda", "build_dir": str(out.parent.resolve()), "steps": None}
    assert seen[1]["steps"] == 7 and seen[1]["profile"] == "tiny"
    assert (out / "metrics.json").is_file()


def test_a_killed_runs_half_written_notebook_is_swept_and_a_live_ones_kept(tmp_path):
    """A run killed outright (CI's hung-kernel watchdog) leaves its temp notebook; the next run removes it."""
    from mindgap_lib.util.atomic import temp_name

    book, out = tmp_path / "book", tmp_path / "build" / "tiny"
    _notebook(book / "01_datasets.ipynb", "x = 1")
    (out / "notebooks").mkdir(parents=True)
    dead = out / "notebooks" / ".01_datasets.ipynb.999999.c39edaca.ipynb"  # pid 999999: no such process
    live = temp_name(out / "notebooks" / "02_tagger.ipynb").with_suffix(".ipynb")  # this process: alive
    for p in (dead, live):
        p.write_text("{}")
    assert run_chapters("tiny", out=out, book_dir=book, progress=False).ok
    assert not dead.exists() and live.exists()
    assert sorted(p.name for p in (out / "notebooks").glob("[!.]*.ipynb")) == ["01_datasets.ipynb"]


def test_failing_chapter_stops_keeps_partial_notebook_and_earlier_outputs(tmp_path, capsys):
    book, out = tmp_path / "book", tmp_path / "build" / "tiny"
    _notebook(book / "01_datasets.ipynb", "print('chapter one ok')")
    _notebook(book / "02_tagger.ipynb", "x = 41")
    _notebook(book / "04_closure.ipynb", "open('ran-04', 'w').write('x')")
    assert run_chapters("tiny", out=out, book_dir=book, progress=False).ok
    good = (out / "notebooks" / "02_tagger.ipynb").read_text()
    # now chapter 02 breaks in its third cell: the run stops there
    _notebook(book / "02_tagger.ipynb", "x = 41", "print('before the error')", "raise RuntimeError(f'boom {x + 1}')")
    (tmp_path / "ran-04").unlink()
    code = cli(["run", "--profile", "tiny", "--book-dir", str(book), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "02_tagger" in err and "RuntimeError" in err and "boom 42" in err and "cell" in err
    failed = out / "notebooks" / "02_tagger.failed.ipynb"
    assert str(failed) in err and failed.is_file()
    nb = nbformat.read(str(failed), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("before the error" in o.get("text", "") for o in outputs)  # partially executed, kept
    assert any(o.get("ename") == "RuntimeError" for o in outputs)
    assert (out / "notebooks" / "02_tagger.ipynb").read_text() == good  # the earlier good output is intact
    assert (out / "notebooks" / "01_datasets.ipynb").is_file()
    assert not (tmp_path / "ran-04").exists()  # chapters after the failure did not run
    assert not list((out / "notebooks").glob(".*running*"))


def test_chapter_selection_and_out_folder_checks(tmp_path):
    book = tmp_path / "book"
    _notebook(book / "01_datasets.ipynb")
    _notebook(book / "03_transport.ipynb")
    assert [p.stem for p in runner.find_chapters(book, ["03", "01"])] == ["01_datasets", "03_transport"]
    with pytest.raises(ChapterError, match="09"):
        runner.find_chapters(book, ["09"])
    with pytest.warns(UserWarning, match="02_tagger"):
        runner.find_chapters(book)
    with pytest.raises(ChapterError, match="profile name"):
        run_chapters("tiny", out=tmp_path / "elsewhere", book_dir=book, progress=False)


@pytest.mark.parametrize("notebook", CHAPTER_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_chapter_is_ready_for_plain_papermill(notebook):
    """A kernelspec (papermill needs it), the jupytext twin, and the shared parameters with their defaults."""
    nb = nbformat.read(str(notebook), as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{notebook.name}: no python3 kernelspec"
    assert notebook.with_suffix(".py").is_file(), f"{notebook.name}: missing jupytext twin"
    params = runner.chapter_parameters(notebook)
    assert {k: params.get(k) for k in ("profile", "device", "build_dir")} == {
        "profile": '"cpu"', "device": '"cpu"', "build_dir": '"build"'}
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "committed with outputs"


TWINS = sorted((REPO / "book").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("twin", TWINS, ids=lambda p: p.stem)
def test_every_jupytext_twin_is_in_sync_with_its_notebook(twin):
    """`book/NN_*.py` is what is edited, `book/NN_*.ipynb` what runs: jupytext reads both to the same cells
    (type, source and tags), so a review of the .py is a review of what runs (`make notebooks` syncs them)."""
    import jupytext

    notebook = twin.with_suffix(".ipynb")
    assert notebook.is_file(), f"{twin.name} has no notebook: run `make notebooks`"
    cells = [[(c.cell_type, c.source, sorted(c.metadata.get("tags", []))) for c in jupytext.read(str(path)).cells]
             for path in (twin, notebook)]
    assert len(cells[0]) == len(cells[1]), f"{twin.name}: {len(cells[0])} cells, {notebook.name}: {len(cells[1])}"
    for i, (a, b) in enumerate(zip(*cells)):
        assert a == b, f"{twin.stem}: cell {i} differs between the .py and the .ipynb (run `make notebooks`)"


@pytest.mark.slow
def test_a_chapter_runs_under_plain_papermill(tiny_build, tmp_path):
    """README's `papermill book/NN.ipynb out.ipynb -p profile ...`: chapter 04 with the plain papermill command
    against (a copy of) the end-to-end tiny build, so every stage it reads is cached and nothing is regenerated;
    it gives the numbers `mindgap run` gave."""
    import shutil
    import subprocess
    import sys

    build_dir = tmp_path / "build"
    shutil.copytree(tiny_build.root, build_dir / "tiny", ignore=shutil.ignore_patterns("notebooks", "book_src"))
    before = sorted(p.name for p in (build_dir / "tiny" / "artifacts").iterdir())
    ran = json.loads((tiny_build.root / "chapters" / "04_closure.json").read_text())
    (build_dir / "tiny" / "chapters" / "04_closure.json").unlink()
    out = tmp_path / "04_closure.ipynb"
    papermill = Path(sys.executable).with_name("papermill")
    proc = subprocess.run([str(papermill), str(REPO / "book" / "04_closure.ipynb"), str(out), "-p", "profile", "tiny",
                           "-p", "build_dir", str(build_dir), "--cwd", str(REPO), "-k", "python3"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb = nbformat.read(str(out), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "profile = \"tiny\"" in injected[0].source and str(build_dir) in injected[0].source
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "[mindgap] running stage" not in text, "a stage ran again: the tiny build's cache was not reused"
    figures = sum("".join(o.get("data", {}).get("text/html", "")).count('class="plotly-graph-div"') for o in outputs)
    assert figures >= 3, figures
    assert sorted(p.name for p in (build_dir / "tiny" / "artifacts").iterdir()) == before  # nothing new was made
    again = json.loads((build_dir / "tiny" / "chapters" / "04_closure.json").read_text())
    assert again == ran  # the chapter's numbers, exactly as under `mindgap run`


def test_chapter_parameters_are_the_new_ones():
    """Chapters 04 and 05 take ``post`` (a bool: also calibrate after the first GELU), not ``post_layer``."""
    declared = {nb.stem: runner.chapter_parameters(nb) for nb in CHAPTER_NOTEBOOKS}
    assert not any("post_layer" in params for params in declared.values())
    for stem in ("04_closure", "05_vertical_vs_horizontal"):
        if stem in declared:
            assert declared[stem].get("post") == "True", stem


def test_run_help_examples_use_declared_parameters():
    from mindgap_lib.cli.main import build_parser

    parser = build_parser()
    run = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "run")[1]
    declared = set().union(*(runner.chapter_parameters(nb) for nb in CHAPTER_NOTEBOOKS)) | set(runner.FIXED)
    used = set(re.findall(r"-p (\w+) ", run.epilog or ""))
    assert used and used <= declared, used - declared


@pytest.mark.slow
def test_every_chapter_runs_end_to_end(tiny_build):
    notebooks = tiny_build.root / "notebooks"
    failed = sorted(p.name for p in notebooks.glob("*.failed.ipynb"))
    assert tiny_build.run_ok and not failed, tiny_build.run_log[-3000:]
    executed = sorted(p.stem for p in notebooks.glob("*.ipynb"))
    assert executed == [p.stem for p in CHAPTER_NOTEBOOKS]


@pytest.mark.slow
def test_end_to_end_tiny_run(tiny_build):
    """`mindgap run --profile tiny` over chapters 01-05: metrics.json gathers the stages with sane numbers."""
    m = tiny_build.metrics
    assert m["profile"] == "tiny" and {"python", "torch", "numpy", "mindgap_lib"} <= set(m["versions"])
    executed = {p.stem for p in (tiny_build.root / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert {p.stem for p in CHAPTER_NOTEBOOKS if p.stem < "06"} <= executed, (executed, tiny_build.run_log[-3000:])
    folders = m["folders"]
    for role in ("train_data", "calib_data[variation=nominal]", "calib_data[variation=target]", "knobs"):
        assert role in folders, role
    ch01 = m["chapters"]["01_datasets"]
    # the paper-faithful target, at the tiny profile's statistics (400 calibration jets per sample)
    assert 1.05 < ch01["d0_width_ratio"] < 1.45 and 1.05 < ch01["d0err_median_ratio"] < 1.45, ch01
    assert 0.9 < ch01["dz_width_ratio"] < 1.1, ch01
    # sigma(dz) takes the discrete values of a resolution table: a median ratio of different events can jump by
    # one table step (~10 %) at 400 jets; on the same events it is exactly 1 (test_generate)
    assert 0.85 < ch01["dzerr_median_ratio"] < 1.15, ch01
    # the numbers themselves (AUCs, W1, ESS, accuracy, ...) are checked against tests/reference/tiny.json in
    # test_reference.py; here, the wiring
    if (REPO / "book" / "02_tagger.ipynb").is_file():
        assert "tagger[seed=0]" in folders and "latents[variation=nominal]" in folders
    if (REPO / "book" / "04_closure.ipynb").is_file():
        ev = m["evaluation"]
        layers = ev["layers"]["evaluated"]
        assert layers == [ev["layers"]["z"], "penultimate", "logits"] and ev["layers"]["z"] == "z128"
        for comparison in ("source_vs_target", "calibrated_vs_target", "target_vs_target"):
            for layer in layers:
                cell = ev["auc"][comparison][layer]
                assert cell["folds"] == 3 and cell["n_a"] == cell["n_b"] == ev["info"]["n_source_eval"], cell
        assert set(ev["closure"]) == {"log_pHbb_pQCD", "log_pHcc_pQCD", "log_pHcc_pTbqq", "log_pTbqq_pQCD"}
        assert ev["info"]["n_null"] == ev["info"]["n_source_eval"]
        # the real stages' wiring is leak-free: no row the evaluation used was a row the map was fitted on
        from mindgap_lib.config import load_profile
        from mindgap_lib.splits import calibration_rows

        split = load_profile("tiny").split
        with np.load(tiny_build.root / "artifacts" / folders["evaluation[post=True]"] / "rows.npz") as npz:
            rows = {k: npz[k] for k in npz.files}
        fit_s = calibration_rows(ev["info"]["n_source"], split, "nominal").fit
        fit_t = calibration_rows(ev["info"]["n_target"], split, "target").fit
        assert not set(rows["source_eval"]) & set(fit_s) and not set(rows["target_eval"]) & set(fit_t)
        assert not set(rows["null"]) & set(rows["target_eval"])
        assert "post_activation" in ev  # chapter 04's default post = True
        assert "04_closure" in m["chapters"]
    # chapter 03 fits z128 and z128_post side by side and caches its known-map check; 05 runs the scan
    for role in ("known_maps[seed=0]", "transport[layer=z128,seed=0,target=target]",
                 "transport[layer=z128_post,seed=0,target=target]", "evaluation[post=True]", "scan"):
        assert role in folders, role
    assert [p["variation"] for p in m["scan"]["points"]] == ["ip10", "ip20", "ip30"]
    assert m["stages"]["transport[layer=z128,seed=0,target=target]"]["n_fit_source"] < \
        m["stages"]["transport[layer=z128,seed=0,target=target]"]["n_source"]  # fitted on the fit rows only
    print(f"tiny end-to-end: run {tiny_build.run_seconds:.0f} s, book {tiny_build.book_seconds:.0f} s")
