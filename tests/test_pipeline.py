"""The stage cache: keys follow the profile and the inputs, complete stages are reused, partial ones redone."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from mindgap_lib.build import cache, pipeline
from mindgap_lib.config import load_profile
from mindgap_lib.jetclass.io import read_jets

CHAIN = {
    "train": lambda p: pipeline.train_stage(p),
    "calib_nominal": lambda p: pipeline.calib_stage(p, "nominal"),
    "calib_target": lambda p: pipeline.calib_stage(p, "target"),
    "dataset": lambda p: pipeline.dataset_stage(p),
    "tagger": lambda p: pipeline.tagger_stage(p),
    "latents": lambda p: pipeline.latents_stage(p),
    "transport": lambda p: pipeline.transport_stage(p),
    "transport_post": lambda p: pipeline.transport_stage(p, "z128_post"),
    "evaluation": lambda p: pipeline.evaluation_stage(p, post_layer="z128_post"),
    "scan": lambda p: pipeline.scan_stage(p, ["ip10", "ip20"]),
}


def _keys(profile) -> dict[str, str]:
    return {name: plan(profile).key for name, plan in CHAIN.items()}


def _changed(section: str, key: str, value) -> set[str]:
    base = load_profile("tiny")
    prof = load_profile(base)
    prof[section][key] = value
    before, after = _keys(base), _keys(prof)
    return {name for name in CHAIN if before[name] != after[name]}


def test_changing_one_knob_changes_only_its_stage_and_what_depends_on_it():
    downstream_of_tagger = {"tagger", "latents", "transport", "transport_post", "evaluation", "scan"}
    assert _changed("transport", "steps", 7) == {"transport", "transport_post", "evaluation", "scan"}
    assert _changed("tagger", "dim", 16) == downstream_of_tagger
    assert _changed("evaluate", "bins", 7) == {"evaluation", "scan"}
    # calibration sizes do not retrain the tagger; training sizes do not regenerate calibration jets
    assert _changed("generate", "calib_jets", 77) == {"calib_nominal", "calib_target", "dataset", "latents",
                                                      "transport", "transport_post", "evaluation", "scan"}
    assert _changed("generate", "train_jets_per_class", 77) == {"train", "dataset"} | downstream_of_tagger
    assert _changed("generate", "workers", 2) == set()  # speed, not results
    assert _changed("generate", "seed", 5) == set(CHAIN)


def test_keys_are_stable_and_distinguish_layers_and_targets():
    assert _keys("tiny") == _keys(load_profile("tiny"))
    assert pipeline.transport_stage("tiny", "z128").key != pipeline.transport_stage("tiny", "z128_post").key
    assert pipeline.transport_stage("tiny", target="ip10").key != pipeline.transport_stage("tiny").key
    assert pipeline.calib_stage("tiny", "ip10").key != pipeline.calib_stage("tiny", "ip20").key
    assert pipeline.profile_root("tiny", "b").as_posix() == "b/tiny"
    assert pipeline.artifacts_dir({"name": "mine"}, "b").as_posix() == "b/mine/artifacts"


def test_run_stage_reuses_complete_redoes_partial_and_resumes(tmp_path):
    calls = []

    def work(out):
        calls.append(sorted(p.name for p in out.iterdir()))
        (out / "result.txt").write_text("done")

    stage = pipeline.Stage("fake", {"a": 1}, {"up": "other-123"})
    first = pipeline.run_stage(tmp_path, stage, work, log=False)
    assert first == tmp_path / stage.key and cache.is_complete(first) and calls == [[]]
    assert pipeline.run_stage(tmp_path, stage, work, log=False) == first and len(calls) == 1  # reused
    # a killed run leaves a partial folder: it is emptied and redone ...
    partial = pipeline.Stage("fake", {"a": 2})
    (tmp_path / partial.key).mkdir()
    (tmp_path / partial.key / "half.txt").write_text("x")
    pipeline.run_stage(tmp_path, partial, work, log=False)
    assert calls[-1] == []
    # ... unless the stage resumes itself, then its partial files are kept for it
    resumable = pipeline.Stage("fake", {"a": 3})
    (tmp_path / resumable.key).mkdir()
    (tmp_path / resumable.key / "checkpoint.pt").write_text("x")
    pipeline.run_stage(tmp_path, resumable, work, resume=True, log=False)
    assert calls[-1] == ["checkpoint.pt"]
    # a failing stage stays incomplete and is retried next time
    broken = pipeline.Stage("fake", {"a": 4})
    with pytest.raises(RuntimeError):
        pipeline.run_stage(tmp_path, broken, lambda out: (_ for _ in ()).throw(RuntimeError("x")), log=False)
    assert not cache.is_complete(tmp_path / broken.key)
    registry = json.loads((tmp_path / pipeline.REGISTRY).read_text())
    assert registry["fake"] == resumable.key  # the most recent ensure of a role wins


def test_collect_metrics_gathers_registered_stages_chapters_and_versions(tmp_path):
    prof = {**load_profile("tiny"), "name": "t"}
    artifacts = pipeline.artifacts_dir(prof, tmp_path)
    done = pipeline.run_stage(artifacts, pipeline.Stage("tagger", {"x": 1}),
                              lambda out: (out / "metrics.json").write_text(json.dumps({"accuracy": 0.7})), log=False)
    pipeline.save_chapter_numbers(prof, tmp_path, "01_datasets", {"d0_width_ratio": 1.2})
    m = pipeline.collect_metrics(prof, tmp_path)
    assert m["tagger"] == {"accuracy": 0.7} and m["config_hashes"] == {"tagger": done.name}
    assert m["chapters"]["01_datasets"]["d0_width_ratio"] == 1.2 and "torch" in m["versions"]
    assert json.loads((tmp_path / "t" / "metrics.json").read_text()) == json.loads(json.dumps(m))


@pytest.mark.slow
def test_real_calibration_stage_for_an_extra_variation_is_cached(tmp_path):
    """An extra variation (ip20) gets QCD generated as its own stage; the second call is instant."""
    prof = load_profile("tiny")
    prof["generate"].update(jets_per_shard=6, calib_jets=12)
    t0 = time.perf_counter()
    first = pipeline.ensure_calib(prof, "ip20", tmp_path, progress=False)
    cold = time.perf_counter() - t0
    files = sorted((first / "calib" / "ip20").glob("QCD_*.root"))
    assert [f.name for f in files] == ["QCD_0000.root", "QCD_0001.root"]
    assert len(read_jets(files, ["jet_pt"])) == 12
    assert json.loads((first / "metrics.json").read_text())["jets"] == {"calib/ip20/QCD": 12}
    t0 = time.perf_counter()
    assert pipeline.ensure_calib(prof, "ip20", tmp_path, progress=False) == first
    assert time.perf_counter() - t0 < 0.5 < cold


def test_known_map_validation_is_cached_and_reloads_the_same_fit(tmp_path):
    """Chapter 03's solver check runs once per configuration; the reload gives the same maps and samples.

    Its fits run side by side (processes save their maps and return rows): the rows equal those of fits in turn.
    """
    from mindgap_lib.transport import fit_known_maps, load_known_maps

    first = pipeline.ensure_known_maps("tiny", tmp_path, workers=2)
    assert [(r.row["pair"], r.row["dim"]) for r in first] == [("gaussian", 2), ("ridge", 2)]
    assert first[0].row["l2_uvp"] < first[0].row["l2_uvp_identity"]
    mark = pipeline.artifacts_dir("tiny", tmp_path) / pipeline.known_maps_stage("tiny").key / cache.COMPLETE
    stamp = mark.stat().st_mtime_ns
    again = pipeline.ensure_known_maps("tiny", tmp_path)
    assert mark.stat().st_mtime_ns == stamp, "the cached validation was fitted again"
    for a, b in zip(first, again):
        assert a.row == b.row
        np.testing.assert_array_equal(a.source, b.source)
        np.testing.assert_allclose(a.tmap.transport(a.source[:50]), b.tmap.transport(a.source[:50]), rtol=1e-5, atol=1e-5)
    in_turn = load_known_maps(fit_known_maps("tiny", tmp_path / "in_turn", workers=1))
    untimed = lambda rs: [{k: v for k, v in r.row.items() if k != "train_time_s"} for r in rs]  # noqa: E731
    assert untimed(in_turn) == untimed(first)


def test_side_by_side_matches_running_in_turn():
    from mindgap_lib.build.parallel import side_by_side

    calls = [((7, 2), {}), ((9, 4), {}), ((20, 6), {})]
    assert side_by_side(divmod, calls, workers=2) == side_by_side(divmod, calls, workers=1) == [(3, 1), (2, 1), (3, 2)]
