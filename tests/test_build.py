"""The build layer: stage keys follow the profile, the code and the inputs; the cache reuses complete stages,
redoes partial ones, resumes what resumes itself, runs a stage once under its lock; the build's numbers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mindgap_lib import artifacts as art
from mindgap_lib.build import cache
from mindgap_lib.build.engine import Build
from mindgap_lib.build.stages import REGISTRY, Ref, StageDef, book_refs
from mindgap_lib.cli.main import main as cli
from mindgap_lib.config import load_profile
from mindgap_lib.errors import BuildError
from mindgap_lib.transport import TransportError
from mindgap_lib.generation import variations
from mindgap_lib.generation.variations import Variation
from mindgap_lib.jetclass.io import read_jets
from mindgap_lib.util.fingerprint import PACKAGE_ROOT

REPO = Path(__file__).resolve().parents[1]
TINY = load_profile("tiny")


def _keys(build: Build) -> dict[str, str]:
    """Every stage instance of the book (and what it reads) -> its key."""
    return {str(r): build.key(r) for r in build.plan()}


def _changed(before: Build, after: Build) -> set[str]:
    a, b = _keys(before), _keys(after)
    assert set(a) == set(b)
    return {name for name in a if a[name] != b[name]}


def _stage(name: str) -> set[str]:
    """The instances of one stage in the tiny book (``latents`` -> all its variations)."""
    return {str(r) for r in Build(TINY, "unused").plan() if r.name == name}


def _downstream(direct: set[str]) -> set[str]:
    """`direct` and every stage of the tiny book that reads one of them, however indirectly."""
    build = Build(TINY, "unused")
    out = set(direct)
    for ref in build.plan():  # inputs first: one pass is enough
        if any(str(dep) in out for dep in build.inputs(ref).values()):
            out.add(str(ref))
    return out


GENERATION = set().union(*(_stage(n) for n in ("train_data", "calib_data", "knobs", "scan_base", "scan_data")))
TRANSPORT = _stage("transport")


# ---------------------------------------------------------------- keys

def test_the_plan_holds_every_stage_of_the_book_inputs_first():
    build = Build(TINY, "b")
    plan = build.plan()
    names = [str(r) for r in plan]
    assert {str(build.ref(r)) for r in book_refs(TINY)} <= set(names)
    for i, ref in enumerate(plan):
        assert all(names.index(str(dep)) < i for dep in build.inputs(ref).values()), ref
    assert "transport[layer=z128,seed=0,target=target]" in names and "transport[layer=z128_post,seed=0,target=target]" in names
    assert {"train_data", "calib_data", "knobs", "tagger", "latents", "known_maps", "transport", "evaluation",
            "scan"} <= {r.name for r in plan}
    assert _downstream({"tagger[seed=0]"}) >= _stage("latents") | TRANSPORT | _stage("evaluation") | _stage("scan")


def test_changing_one_knob_changes_only_its_stage_and_what_depends_on_it(tmp_path):
    base = Build(TINY, tmp_path)
    everything = set(_keys(base))

    def changed(section: str, **kw) -> set[str]:
        sec = getattr(TINY, section)
        return _changed(base, Build(TINY.with_sections(**{section: sec.replace(**kw)}), tmp_path))

    assert changed("transport", width=7) == _downstream(TRANSPORT | _stage("known_maps") | _stage("scan"))
    assert changed("evaluate", bins=7) == _downstream(_stage("evaluation") | _stage("scan"))
    assert changed("split", fit_fraction=0.6) >= _downstream(TRANSPORT | _stage("evaluation") | _stage("scan"))
    assert not changed("split", fit_fraction=0.6) & (GENERATION | _stage("tagger") | _stage("latents"))
    assert changed("knobs", jets=7) == _stage("knobs")
    assert changed("known_maps", samples=777) == _stage("known_maps")
    # calibration sizes do not retrain the tagger; training sizes do not regenerate calibration jets
    calib = changed("generate", calib_jets=77)
    assert calib == _downstream(_stage("calib_data")) and not calib & (_stage("train_data") | _stage("tagger"))
    train = changed("generate", train_jets_per_class=77)
    assert train == _downstream(_stage("train_data")) and not train & _stage("calib_data")
    seed = changed("generate", seed=5)
    assert seed == _downstream(GENERATION - _stage("knobs"))  # every generated sample but the knobs' (own seed)
    assert not seed & (_stage("knobs") | _stage("known_maps")) and seed < everything
    model = TINY.tagger.replace(model=TINY.tagger.model.replace(dim=16))
    assert _changed(base, Build(TINY.with_sections(tagger=model), tmp_path)) == _downstream(_stage("tagger"))
    # speed, not results
    assert changed("generate", workers=2) == set()
    assert changed("evaluate", workers=3) == set()
    assert changed("scan", workers=3) == set()
    faster = TINY.tagger.replace(train=TINY.tagger.train.replace(threads=2))
    assert _changed(base, Build(TINY.with_sections(tagger=faster), tmp_path)) == set()


def test_the_device_enters_the_keys_of_the_stages_it_can_change(tmp_path):
    cpu, cuda = Build(TINY, tmp_path), Build(TINY, tmp_path, device="cuda")
    uses = {str(r) for r in cpu.plan() if REGISTRY[r.name].uses_device}
    assert {"tagger[seed=0]", "evaluation[post=True]"} | TRANSPORT | _stage("latents") <= uses
    changed = _changed(cpu, cuda)
    assert changed == _downstream(uses) and not changed & GENERATION
    assert _keys(cuda) == _keys(Build(TINY, tmp_path, device="cuda:1"))  # any CUDA card computes the same


def test_keys_are_stable_and_distinguish_instances(tmp_path):
    build = Build("tiny", tmp_path)
    assert _keys(build) == _keys(Build(load_profile("tiny"), tmp_path / "elsewhere"))
    assert build.key("transport") == build.key("transport", layer="z128", target="target", seed=0)
    assert build.key("transport", layer="z128") != build.key("transport", layer="z128_post")
    assert build.key("transport", target="ip10") != build.key("transport")
    assert build.key("calib_data", variation="ip10") != build.key("calib_data", variation="ip20")
    assert build.key("tagger", seed=1) != build.key("tagger")
    assert build.key("transport").startswith("transport.z128.0.target-")
    assert build.folder("tagger") == tmp_path / "tiny" / "artifacts" / build.key("tagger")
    assert build.status("tagger") == "missing"
    ref = Ref.parse("transport[layer=z128_post, seed=1]")
    assert ref == Ref("transport", (("layer", "z128_post"), ("seed", 1)))
    assert str(build.ref(ref)) == "transport[layer=z128_post,seed=1,target=target]"
    assert Ref.parse("evaluation[post=false]").p == {"post": False}
    with pytest.raises(BuildError, match=r"unknown stage 'tagegr'.*tagger"):
        build.key("tagegr")
    with pytest.raises(BuildError, match=r"transport: unknown parameter.*lyer.*known: layer"):
        build.ref("transport", lyer="z128")
    with pytest.raises(BuildError, match="key=value"):
        Ref.parse("transport[z128]")


@pytest.fixture(scope="module")
def edited_copies(tmp_path_factory):
    """Copies of mindgap_lib: as is, a real statement added to transport/train.py, only comments/docstrings changed."""
    root = tmp_path_factory.mktemp("code")
    out = {}
    for name in ("same", "statement", "comment"):
        dest = root / name / "mindgap_lib"
        shutil.copytree(PACKAGE_ROOT, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        out[name] = dest
    train = "transport/train.py"
    with open(out["statement"] / train, "a") as fh:
        fh.write("\n_EDITED_FOR_A_TEST = 1  # a real statement: code that runs\n")
    text = (out["comment"] / train).read_text()
    head, sep, rest = text.partition('"""')
    assert sep, "transport/train.py has no module docstring"
    (out["comment"] / train).write_text(head + sep + "An edited docstring. " + rest + "\n# an added comment\n")
    return out


def test_editing_transport_code_rekeys_transport_and_downstream_only(edited_copies, tmp_path):
    """Issue "build layer": a code edit re-keys the stages that run it and what reads them; generation keeps its keys."""
    base = Build(TINY, tmp_path, code_root=PACKAGE_ROOT)
    assert _keys(Build(TINY, tmp_path, code_root=edited_copies["same"])) == _keys(base)  # the copy alone changes nothing
    changed = _changed(base, Build(TINY, tmp_path, code_root=edited_copies["statement"]))
    runs_it = {str(r) for r in base.plan() if any(c == "transport" or c.startswith("transport/")
                                                  for c in REGISTRY[r.name].code)}
    assert TRANSPORT | _stage("known_maps") | _stage("evaluation") <= runs_it
    assert changed == _downstream(runs_it)
    assert not changed & GENERATION and not changed & (_stage("tagger") | _stage("latents"))


def test_editing_only_a_comment_or_docstring_changes_no_key(edited_copies, tmp_path):
    base = Build(TINY, tmp_path, code_root=PACKAGE_ROOT)
    assert _changed(base, Build(TINY, tmp_path, code_root=edited_copies["comment"])) == set()


def test_editing_a_presets_content_rekeys_that_variation_only(monkeypatch, tmp_path):
    """Issue "build layer": the target preset's content (not its name) is part of calib_data[variation=target]'s key."""
    base = Build(TINY, tmp_path)
    before = _keys(base)  # keys are computed when first asked for: now, with the shipped preset
    worse = Variation("target", ip_smear_min=0.10, ip_smear_max=0.40, mu_r=2.0, mu_f=2.0)
    monkeypatch.setitem(variations.PRESETS, "target", worse)
    after = _keys(Build(TINY, tmp_path))
    changed = {name for name in before if before[name] != after[name]}
    assert {"calib_data[variation=target]", "latents[variation=target]", "evaluation[post=True]"} | TRANSPORT <= changed
    # what the preset decides directly: its own sample, and chapter 01's knob scan (which generates it too)
    assert changed == _downstream({"calib_data[variation=target]"} | _stage("knobs"))
    for unchanged in ("calib_data[variation=nominal]", "latents[variation=nominal]", "train_data", "tagger[seed=0]",
                      "calib_data[variation=ip20]", "scan"):
        assert unchanged not in changed, unchanged


# ---------------------------------------------------------------- running: reuse, partial, resume, failure

CALLS: list[tuple[str, list[str]]] = []


def _fake_config(prof, p):
    return {"seed": prof.split.seed, **p}


def _fake_run(ctx):
    CALLS.append((str(ctx.ref), sorted(f.name for f in ctx.out.iterdir())))
    if ctx.ref.p.get("fail"):
        (ctx.out / "half.txt").write_text("x")
        raise RuntimeError("stage failed on purpose")
    (ctx.out / "result.txt").write_text(json.dumps({k: v.path.name for k, v in ctx.inputs.items()}))
    (ctx.out / art.METRICS).write_text(json.dumps({"value": 7, "stage": str(ctx.ref)}))


@pytest.fixture
def fake_stages(monkeypatch):
    CALLS.clear()
    monkeypatch.setitem(REGISTRY, "up", StageDef("up", "an upstream test stage", ("splits",), _fake_config, _fake_run,
                                                 art.Artifact))
    monkeypatch.setitem(REGISTRY, "down", StageDef(
        "down", "a test stage reading up", ("splits",), _fake_config, _fake_run, art.Artifact,
        params=lambda prof: {"fail": False}, inputs=lambda prof, p: {"up": Ref("up")}))
    monkeypatch.setitem(REGISTRY, "resumable", StageDef("resumable", "a test stage that resumes itself", ("splits",),
                                                        _fake_config, _fake_run, art.Artifact, resume=True))
    return CALLS


def test_ensure_runs_inputs_first_then_reuses(fake_stages, tmp_path):
    build = Build(TINY, tmp_path, progress=False)
    down = build.ensure("down")
    assert [c[0] for c in fake_stages] == ["up", "down[fail=False]"] and fake_stages[1][1] == []
    assert down.path == build.folder("down") and build.status("down") == "cached" and build.status("up") == "cached"
    assert json.loads((down.path / "result.txt").read_text()) == {"up": build.key("up")}
    mark = json.loads((down.path / cache.COMPLETE).read_text())
    assert mark["stage"] == "down[fail=False]" and mark["inputs"] == {"up": build.key("up")} and "versions" in mark
    again = Build(TINY, tmp_path, progress=False).ensure("down")  # another run: reused, nothing recomputed
    assert again.path == down.path and len(fake_stages) == 2
    # an upstream change re-keys the downstream stage, which then runs again
    other = Build(TINY.with_sections(split=TINY.split.replace(seed=3)), tmp_path, progress=False)
    assert other.key("down") != build.key("down")
    other.ensure("down")
    assert len(fake_stages) == 4


def test_a_partial_folder_is_emptied_and_redone_unless_the_stage_resumes(fake_stages, tmp_path):
    build = Build(TINY, tmp_path, progress=False)
    killed = build.folder("up")
    killed.mkdir(parents=True)
    (killed / "half.txt").write_text("x")           # a killed run's leftovers, no completion mark
    assert build.status("up") == "partial"
    build.ensure("up")
    assert fake_stages[-1] == ("up", []) and not (killed / "half.txt").exists()
    resumable = build.folder("resumable")
    resumable.mkdir(parents=True)
    (resumable / "checkpoint.pt").write_text("x")
    build.ensure("resumable")
    assert fake_stages[-1] == ("resumable", ["checkpoint.pt"])  # its partial files are kept for it
    assert build.status("resumable") == "cached"


def test_a_failing_stage_stays_incomplete_and_is_retried(fake_stages, tmp_path):
    build = Build(TINY, tmp_path, progress=False)
    with pytest.raises(RuntimeError, match="on purpose"):
        build.ensure("down", fail=True)
    assert build.status("down", fail=True) == "partial" and build.status("up") == "cached"
    with pytest.raises(RuntimeError):
        build.ensure("down", fail=True)
    assert [c[0] for c in fake_stages] == ["up", "down[fail=True]", "down[fail=True]"]
    assert fake_stages[-1][1] == []                  # retried from a clean folder
    assert build.ensure_many(["up", "down"]) == [build.artifact("up"), build.artifact("down")]


def test_collect_metrics_gathers_registered_stages_chapters_and_versions(fake_stages, tmp_path):
    build = Build(TINY, tmp_path, progress=False)
    build.ensure("down")
    build.save_numbers("01_datasets", {"d0_width_ratio": 1.2})
    m = build.collect_metrics()
    assert m["profile"] == "tiny" and {"python", "torch", "numpy"} <= set(m["versions"])
    assert m["stages"]["down[fail=False]"] == {"value": 7, "stage": "down[fail=False]"}
    assert m["down"] == m["stages"]["down[fail=False]"] and m["up"]["stage"] == "up"  # short names
    assert m["folders"] == {"down[fail=False]": build.key("down"), "up": build.key("up")}
    assert m["chapters"]["01_datasets"]["d0_width_ratio"] == 1.2
    assert json.loads((tmp_path / "tiny" / "metrics.json").read_text()) == json.loads(json.dumps(m))
    # a registered folder that is no longer complete is left out
    (build.folder("up") / cache.COMPLETE).unlink()
    assert "up" not in build.collect_metrics()["stages"]


def test_a_held_stage_lock_makes_another_run_wait_then_time_out_naming_the_holder(fake_stages, tmp_path):
    from mindgap_lib.util.locks import LockTimeout

    build = Build(TINY, tmp_path, progress=False, lock_timeout=0.3)
    with cache.stage_lock(build.artifacts, build.key("up")):
        with pytest.raises(LockTimeout, match=rf"stage up-.*locked by pid {os.getpid()} .*waited 0.3 s"):
            build.ensure("up")
    assert fake_stages == [] and build.status("up") == "missing"
    build.ensure("up")  # released: it runs
    assert [c[0] for c in fake_stages] == ["up"]


_CONCURRENT = textwrap.dedent('''
    import os, sys, time
    from pathlib import Path

    from mindgap_lib import artifacts as art
    from mindgap_lib.build import stages
    from mindgap_lib.build.engine import Build

    def _config(prof, p):
        return {"test": "concurrent"}

    def _run(ctx):
        with open(Path(sys.argv[1]) / "runs.txt", "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        time.sleep(4)
        (ctx.out / "result.txt").write_text("done")

    stages.REGISTRY["slow"] = stages.StageDef("slow", "a slow test stage", ("splits",), _config, _run, art.Artifact)
    print("ENSURED", Build("tiny", sys.argv[1]).ensure("slow").path.name, flush=True)
''')


def test_concurrent_ensure_runs_a_stage_once(tmp_path):
    """Issue "build layer": two processes ensure one stage; it runs once, the second waits on its lock."""
    script = tmp_path / "ensure_slow.py"
    script.write_text(_CONCURRENT)
    build_dir = tmp_path / "b"
    build_dir.mkdir()
    procs = [subprocess.Popen([sys.executable, str(script), str(build_dir)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert len((build_dir / "runs.txt").read_text().split()) == 1
    folders = {line.split()[1] for out, _ in outs for line in out.splitlines() if line.startswith("ENSURED")}
    assert len(folders) == 1 and cache.is_complete(build_dir / "tiny" / "artifacts" / folders.pop())
    assert sum("waiting for stage" in out for out, _ in outs) == 1, [o[0] for o in outs]


# ---------------------------------------------------------------- the command line

def _listed(out: str) -> dict[str, tuple[str, str]]:
    rows = [line.split() for line in out.strip().splitlines()]
    return {r[0]: (r[1], r[2]) for r in rows}


def test_stages_command_lists_every_stage_then_runs_one(tmp_path, capsys):
    """Issue "build layer": the dry run names every stage with its key and status; --run puts one in the cache."""
    assert cli(["stages", "--profile", "tiny", "--build-dir", str(tmp_path)]) == 0
    listed = _listed(capsys.readouterr().out)
    build = Build("tiny", tmp_path)
    assert {str(build.ref(r)) for r in book_refs(TINY)} <= set(listed)
    assert listed == {name: (key, "missing") for name, key, _ in build.describe()}
    assert not (tmp_path / "tiny" / "artifacts").exists() or not any(
        p.name.startswith(("train_data", "tagger")) for p in (tmp_path / "tiny" / "artifacts").iterdir())
    assert cli(["stages", "--profile", "tiny", "--build-dir", str(tmp_path), "--run", "train_data", "--quiet"]) == 0
    assert "train_data" in capsys.readouterr().out
    assert cli(["stages", "--profile", "tiny", "--build-dir", str(tmp_path)]) == 0
    after = _listed(capsys.readouterr().out)
    assert after["train_data"] == (listed["train_data"][0], "cached")
    assert {name for name, (_, status) in after.items() if status != "missing"} == {"train_data"}
    jets = build.artifact("train_data").files("train", "nominal", "Hbb")
    assert len(read_jets(jets, ["jet_pt"])) == TINY.generate.train_jets_per_class
    assert cli(["stages", "--profile", "tiny", "--build-dir", str(tmp_path), "--run", "tagegr"]) == 2
    err = capsys.readouterr().err
    assert "tagegr" in err and err.count("\n") == 1


def test_cli_errors_are_one_line_with_exit_2_and_unexpected_ones_exit_1(tmp_path, capsys):
    assert cli(["stages", "--profile", "nope", "--build-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mindgap stages: error:") and "nope" in err and err.count("\n") == 1
    assert cli(["--debug", "stages", "--profile", "nope", "--build-dir", str(tmp_path)]) == 2
    assert "Traceback" in capsys.readouterr().err                  # the traceback on request
    blocker = tmp_path / "a_file"
    blocker.write_text("x")                                         # a build folder that cannot be made
    assert cli(["stages", "--profile", "tiny", "--build-dir", str(blocker), "--run", "known_maps", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "unexpected" in err and "--debug" in err and err.count("\n") == 1 and "Traceback" not in err


# ---------------------------------------------------------------- real stages

def test_real_calibration_stage_for_an_extra_variation_is_cached(tmp_path, monkeypatch):
    """An extra variation (ip20) gets QCD multijet jets as its own stage; a second build reuses it, never runs it."""
    prof = TINY.with_sections(generate=TINY.generate.replace(jets_per_shard=6, calib_jets=12))
    build = Build(prof, tmp_path, progress=False)
    assert build.status("calib_data", variation="ip20") == "missing"
    first = build.ensure("calib_data", variation="ip20")
    assert build.status("calib_data", variation="ip20") == "cached"
    assert build.describe([build.ref("calib_data", variation="ip20")]) == [
        ("calib_data[variation=ip20]", build.key("calib_data", variation="ip20"), "cached")]
    files = first.files("calib", "ip20", "QCD")
    assert [f.name for f in files] == ["QCD_0000.root", "QCD_0001.root"]
    assert len(read_jets(files, ["jet_pt"])) == 12
    assert first.metrics()["jets"] == {"calib/ip20/QCD": 12}
    mark = (first.path / cache.COMPLETE).read_bytes()

    def must_not_run(*args, **kwargs):
        raise AssertionError("the cached stage generated jets again")

    monkeypatch.setattr("mindgap_lib.generation.dataset.generate_dataset", must_not_run)  # what the stage calls
    again = Build(prof, tmp_path, progress=False)
    assert again.key("calib_data", variation="ip20") == build.key("calib_data", variation="ip20")  # same code hash
    assert again.ensure("calib_data", variation="ip20") == first
    assert again.status("calib_data", variation="ip20") == "cached" and (first.path / cache.COMPLETE).read_bytes() == mark


def test_known_map_stage_is_cached_and_reloads_the_same_fit(tmp_path):
    """Chapter 03's solver check runs once per configuration; the reload gives the same maps and samples.

    (Its fits run side by side in the chapter; `workers` is speed-only, so one worker here has the same key.)
    """
    prof = TINY.with_sections(known_maps=TINY.known_maps.replace(samples=150, steps=40, lr=5e-3))  # seconds, not minutes
    in_turn = prof.with_sections(known_maps=prof.known_maps.replace(workers=1))
    assert Build(in_turn, tmp_path).key("known_maps") == Build(prof, tmp_path).key("known_maps")
    artifact = Build(in_turn, tmp_path, progress=False).ensure("known_maps")
    first = artifact.results()
    assert [(r.row["pair"], r.row["dim"]) for r in first] == [("gaussian", 2), ("ridge", 2)]
    assert first[0].row["l2_uvp"] < first[0].row["l2_uvp_identity"]
    assert first[0].row["steps"] == 40 and first[0].row["samples"] == 150 and first[0].row["lr"] == 5e-3
    mark = artifact.path / cache.COMPLETE
    stamp = mark.stat().st_mtime_ns
    again = Build(prof, tmp_path, progress=False).ensure("known_maps").results()
    assert mark.stat().st_mtime_ns == stamp, "the cached validation was fitted again"
    for a, b in zip(first, again):
        assert a.row == b.row
        np.testing.assert_array_equal(a.source, b.source)
        np.testing.assert_allclose(a.tmap.transport(a.source[:50]), b.tmap.transport(a.source[:50]), rtol=1e-5, atol=1e-5)


def test_side_by_side_matches_running_in_turn():
    from mindgap_lib.util.parallel import side_by_side

    calls = [((7, 2), {}), ((9, 4), {}), ((20, 6), {})]
    assert side_by_side(divmod, calls, workers=2) == side_by_side(divmod, calls, workers=1) == [(3, 1), (2, 1), (3, 2)]


def test_no_module_of_the_package_is_ignored_by_git():
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "--others", "--ignored", "--exclude-standard", "mindgap_lib"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert [f for f in out if f.endswith((".py", ".toml"))] == []


def test_known_maps_without_their_own_lr_use_the_solvers(tmp_path):
    from mindgap_lib.transport.validation import fit_known_maps
    km = TINY.known_maps.replace(samples=120, steps=5, lr=0.0)
    rows = json.loads((fit_known_maps(km, TINY.transport, tmp_path, pairs=("gaussian",), workers=1)
                       / "rows.json").read_text())
    assert [r["lr"] for r in rows] == [TINY.transport.lr] and TINY.transport.lr != 5e-3
    with pytest.raises(TransportError, match=r"\[known_maps\] lr"):
        km.replace(lr=-1.0).check()
