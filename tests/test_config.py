"""Profiles are typed, frozen data: strict sections that name what is wrong, speed-only fields out of the keys."""

from __future__ import annotations

import dataclasses
import importlib
import re
import tomllib
import types
from pathlib import Path

import pytest

from mindgap_lib import config
from mindgap_lib.build import cache
from mindgap_lib.cli.main import main as cli
from mindgap_lib.config import Profile, ProfileError, load_profile
from mindgap_lib.errors import BuildError, MindgapError
from mindgap_lib.evaluate.config import DiscriminatorConfig, EvaluateConfig, ScanConfig
from mindgap_lib.generation.config import GenerateConfig
from mindgap_lib.tagger.config import TaggerSection, TrainConfig
from mindgap_lib.transport.config import TransportConfig, transport_config
from mindgap_lib.util.sections import Section, hashed


def _without_line(text: str, section: str, key: str) -> str:
    """TOML `text` with the line ``key = ...`` of table ``[section]`` removed."""
    out, current, removed = [], None, False
    for line in text.splitlines():
        m = re.match(r"\s*\[([\w.]+)\]", line)
        if m:
            current = m.group(1)
        if current == section and re.match(rf"\s*{re.escape(key)}\s*=", line) and not removed:
            removed = True
            continue
        out.append(line)
    assert removed, f"no {key} in [{section}]"
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- the shipped profiles

def test_every_profile_loads_into_the_same_typed_sections():
    names = config.available_profiles()
    assert {"tiny", "cpu", "paper"} <= set(names)
    tiny = load_profile("tiny")
    for name in names:
        prof = load_profile(name)
        assert isinstance(prof, Profile) and prof.name == name and prof.source.endswith(f"{name}.toml")
        for section, cls in Profile.sections().items():
            assert type(getattr(prof, section)) is cls, (name, section)
            assert set(prof.hashed(section)) == set(tiny.hashed(section)), (name, section)
        raw = tomllib.loads(config.profile_path(name).read_text())
        assert set(raw) == set(Profile.sections()) | {"name"}, f"{name}: tables differ from the Profile's sections"


def test_profiles_are_frozen_and_variants_are_made_by_replacing_sections():
    prof = load_profile("tiny")
    with pytest.raises(dataclasses.FrozenInstanceError):
        prof.transport = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        prof.transport.steps = 3
    short = prof.with_sections(transport=prof.transport.replace(steps=10))
    assert short.transport.steps == 10 and prof.transport.steps != 10
    assert short.tagger is prof.tagger and short.name == prof.name
    assert load_profile(prof) is prof                       # a Profile passes through
    assert load_profile(config.profile_path("tiny")) == prof  # a path gives the same profile
    raw = tomllib.loads(config.profile_path("tiny").read_text())
    assert load_profile(raw).transport == prof.transport     # so does the parsed mapping


def test_unknown_profile_names_it_and_lists_the_known_ones():
    with pytest.raises(ProfileError, match=r"'nope'.*available: .*tiny"):
        load_profile("nope")
    with pytest.raises(ProfileError, match=r"nope\.toml"):
        load_profile("/nowhere/nope.toml")


# ---------------------------------------------------------------- strict sections

def test_custom_toml_missing_a_key_names_the_key_and_the_file(tmp_path):
    """Issue "build layer": a custom profile never silently inherits a default."""
    bad = tmp_path / "mine.toml"
    bad.write_text(_without_line(config.profile_path("tiny").read_text(), "transport", "steps"))
    with pytest.raises(ProfileError) as err:
        load_profile(bad)
    msg = str(err.value)
    assert "[transport]" in msg and "steps" in msg and str(bad) in msg, msg
    # a nested table too
    bad.write_text(_without_line(config.profile_path("tiny").read_text(), "tagger.train", "lr"))
    with pytest.raises(ProfileError, match=r"mine\.toml.*\[tagger\.train\].*missing.*\blr\b"):
        load_profile(bad)


def test_cli_prints_the_missing_key_and_the_file_on_one_line(tmp_path, capsys):
    bad = tmp_path / "mine.toml"
    bad.write_text(_without_line(config.profile_path("tiny").read_text(), "generate", "calib_jets"))
    assert cli(["generate", "--profile", str(bad), "--out", str(tmp_path / "d"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("mindgap generate: error:") and "calib_jets" in err and str(bad) in err, err
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())  # nothing generated
    assert cli(["stages", "--profile", str(bad), "--build-dir", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "calib_jets" in err and str(bad) in err, err


def test_unknown_key_section_and_bad_toml_are_named(tmp_path):
    text = config.profile_path("tiny").read_text()
    bad = tmp_path / "typo.toml"
    bad.write_text(text.replace("[split]\n", "[split]\nfit_fractoin = 0.3\n"))
    with pytest.raises(ProfileError, match=r"typo\.toml.*\[split\].*unknown key.*fit_fractoin"):
        load_profile(bad)
    bad.write_text(text + "\n[extra]\nx = 1\n")
    with pytest.raises(ProfileError, match=r"unknown section.*extra"):
        load_profile(bad)
    bad.write_text("name = 'x'\n[generate\n")
    with pytest.raises(ProfileError, match=r"typo\.toml.*not valid TOML"):
        load_profile(bad)


def test_values_are_type_and_range_checked():
    tr = load_profile("tiny").transport
    with pytest.raises(ProfileError, match=r"\[transport\] lr must be a number.*'abc'"):
        tr.replace(lr="abc")
    with pytest.raises(ProfileError, match=r"\[transport\] steps must be an integer"):
        tr.replace(steps=2.5)
    with pytest.raises(ProfileError, match=r"\[transport\] steps must be an integer"):
        tr.replace(steps=True)                                  # a bool is not an int
    assert tr.replace(lr=1).lr == 1.0 and isinstance(tr.replace(lr=1).lr, float)  # an int is a fine float
    with pytest.raises(ValueError, match=r"steps must be >= 1"):
        tr.replace(steps=0)                                     # the section's own range check
    with pytest.raises(ProfileError, match=r"\[transport\].*unknown key.*widht"):
        tr.replace(widht=3)
    with pytest.raises(ProfileError, match=r"\[tagger\.train\].*missing key.*steps"):
        TrainConfig.from_mapping({k: v for k, v in TrainConfig().as_dict().items() if k != "steps"})
    with pytest.raises(ProfileError, match=r"calib_variations\[1\] must be a string"):
        GenerateConfig(calib_variations=("nominal", 3))
    assert GenerateConfig(calib_variations=["nominal"]).calib_variations == ("nominal",)  # lists become tuples
    with pytest.raises(ValueError, match="tagret"):
        GenerateConfig(calib_variations=("nominal", "tagret"))
    with pytest.raises(ProfileError, match="does not give QCD"):
        GenerateConfig(calib_process="Hbb")
    with pytest.raises(ValueError, match=r"\[scan\].*target"):
        ScanConfig(variations=("target",))                     # no single smearing strength


def test_mapping_values_of_a_profile_section_are_checked_at_load_time(tmp_path):
    """Every value a run will use is checked when the profile is read, not hours later."""
    text = config.profile_path("tiny").read_text()
    bad = tmp_path / "scan.toml"
    bad.write_text(re.sub(r"(?m)^transport = \{\}.*$", "transport = { stesp = 10 }", text))
    assert "stesp" in bad.read_text()
    with pytest.raises(ProfileError, match="stesp"):
        load_profile(bad)


def test_nested_sections_are_strict_too():
    sec = load_profile("tiny").tagger
    assert isinstance(sec, TaggerSection)
    with pytest.raises(ProfileError, match=r"\[tagger\.model\].*unknown key.*depth"):
        TaggerSection.from_mapping({"model": {**sec.model.as_dict(), "depth": 3}, "train": sec.train.as_dict()})
    with pytest.raises(ProfileError, match=r"\[evaluate\.discriminator\].*missing.*folds"):
        EvaluateConfig.from_mapping({**{k: v for k, v in load_profile("tiny").evaluate.as_dict().items()},
                                     "discriminator": {k: v for k, v in DiscriminatorConfig().as_dict().items()
                                                       if k != "folds"}})


def test_speed_only_fields_stay_out_of_the_hashed_dict():
    prof = load_profile("tiny")
    assert "workers" not in prof.hashed("generate") and "seed" in prof.hashed("generate")
    assert "threads" not in prof.hashed("tagger")["train"] and "lr" in prof.hashed("tagger")["train"]
    assert "threads" not in prof.hashed("transport")
    ev = prof.hashed("evaluate")
    assert "workers" not in ev and "threads" not in ev["discriminator"] and "epochs" in ev["discriminator"]
    assert "workers" not in prof.hashed("known_maps") and "workers" not in prof.hashed("scan")
    faster = prof.with_sections(generate=prof.generate.replace(workers=7),
                                transport=prof.transport.replace(threads=3))
    assert all(faster.hashed(s) == prof.hashed(s) for s in Profile.sections())
    assert hashed(prof.transport.replace(steps=3)) != hashed(prof.transport)


def test_transport_config_builds_a_section_from_a_profile_name():
    cfg = transport_config("tiny", steps=50)
    assert isinstance(cfg, TransportConfig) and cfg.steps == 50
    assert cfg.replace(steps=load_profile("tiny").transport.steps) == load_profile("tiny").transport
    with pytest.raises(ProfileError, match="widht"):
        transport_config("tiny", widht=2)


# ---------------------------------------------------------------- errors, cache hashes, package exports

def test_every_error_is_a_mindgap_error_and_a_value_error():
    from mindgap_lib.build.runner import ChapterError
    from mindgap_lib.evaluate.config import EvaluateError
    from mindgap_lib.generation.dataset import DatasetError
    from mindgap_lib.generation.generate import GenerationError
    from mindgap_lib.generation.processes import UnknownProcessError
    from mindgap_lib.generation.variations import UnknownVariationError
    from mindgap_lib.jetclass.io import JetFileError
    from mindgap_lib.splits import SplitError
    from mindgap_lib.tagger.config import TaggerError
    from mindgap_lib.tagger.features import FeatureError
    from mindgap_lib.transport.config import TransportError
    from mindgap_lib.util.locks import LockTimeout
    from mindgap_lib.util.torch_env import DeviceError

    for err in (ProfileError, BuildError, ChapterError, EvaluateError, DatasetError, GenerationError,
                UnknownProcessError, UnknownVariationError, JetFileError, SplitError, TaggerError, FeatureError,
                TransportError, DeviceError):
        assert issubclass(err, MindgapError) and issubclass(err, ValueError), err
    assert issubclass(LockTimeout, MindgapError)


def test_cache_hash_is_order_free_and_sensitive(tmp_path):
    a = cache.config_hash({"x": 1, "y": [1, 2]}, {"data": "abc"})
    assert a == cache.config_hash({"y": [1, 2], "x": 1}, {"data": "abc"})
    assert a != cache.config_hash({"x": 2, "y": [1, 2]}, {"data": "abc"})
    assert a != cache.config_hash({"x": 1, "y": [1, 2]}, {"data": "abd"})
    d = tmp_path / "stage-abc"
    assert cache.status(d) == "missing"
    cache.reset_partial(d)
    (d / "partial.bin").write_text("half")
    assert not cache.is_complete(d) and cache.status(d) == "partial"
    cache.reset_partial(d)  # a partial stage starts clean
    assert not (d / "partial.bin").exists()
    cache.mark_complete(d, {"x": 1})
    assert cache.is_complete(d) and cache.status(d) == "cached"
    (d / "out.bin").write_text("kept")
    cache.reset_partial(d)  # a complete stage is left alone
    assert (d / "out.bin").exists()
    assert not list(d.glob(".*.tmp"))


PACKAGES = ("mindgap_lib", "mindgap_lib.build", "mindgap_lib.generation", "mindgap_lib.jetclass", "mindgap_lib.util",
            "mindgap_lib.tagger", "mindgap_lib.evaluate", "mindgap_lib.evaluate.methods", "mindgap_lib.geometry",
            "mindgap_lib.transport")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_of_a_package_resolves(package):
    module = importlib.import_module(package)
    broken = []
    for name in getattr(module, "__all__", []):
        try:
            getattr(module, name)
            value = getattr(module, name)  # again: a lazily imported submodule of the same name must not shadow it
        except (AttributeError, ImportError) as err:
            broken.append(f"{name}: {err}")
            continue
        if isinstance(value, types.ModuleType):
            broken.append(f"{name}: is the module {value.__name__}, not what it defines")
    assert not broken, broken


def test_section_base_class_contract():
    """Every profile section is a Section; from_mapping(as_dict()) round-trips it."""
    prof = load_profile("cpu")
    for name in Profile.sections():
        sec = getattr(prof, name)
        assert isinstance(sec, Section)
        assert type(sec).from_mapping(sec.as_dict()) == sec, name
    assert Path(config.PROFILES_DIR).is_dir()
