"""Profiles are data; overrides and dataclass building name what is wrong."""

import dataclasses

import pytest

from mindgap_lib.build import cache
from mindgap_lib import config


def test_every_profile_has_the_same_sections_and_keys():
    profiles = {name: config.load_profile(name) for name in config.available_profiles()}
    assert {"tiny", "cpu", "paper"} <= set(profiles)
    tiny = profiles["tiny"]
    for name, prof in profiles.items():
        assert prof["name"] == name
        for sec in ("generate", "tagger", "transport", "evaluate"):
            assert set(prof[sec]) == set(tiny[sec]), f"profile {name} [{sec}] keys differ from tiny"


def test_unknown_profile_names_the_file():
    with pytest.raises(config.ProfileError, match="nope"):
        config.load_profile("nope")


def test_override_unknown_key_is_named():
    vals = config.section("tiny", "transport")
    with pytest.raises(config.ProfileError, match="widht"):
        config.apply_overrides(vals, {"widht": 3}, where="transport")
    assert config.apply_overrides(vals, {"width": 3})["width"] == 3


def test_build_dataclass_names_unknown_field():
    @dataclasses.dataclass
    class C:
        a: int
        b: int = 2

    assert config.build_dataclass(C, {"a": 1}, "x") == C(1, 2)
    with pytest.raises(config.ProfileError, match="zzz"):
        config.build_dataclass(C, {"a": 1, "zzz": 0}, "x")


def test_cache_hash_is_order_free_and_sensitive(tmp_path):
    a = cache.config_hash({"x": 1, "y": [1, 2]}, {"data": "abc"})
    assert a == cache.config_hash({"y": [1, 2], "x": 1}, {"data": "abc"})
    assert a != cache.config_hash({"x": 2, "y": [1, 2]}, {"data": "abc"})
    assert a != cache.config_hash({"x": 1, "y": [1, 2]}, {"data": "abd"})
    d = cache.stage_dir(tmp_path, "tagger", {"x": 1})
    cache.reset_partial(d)
    (d / "partial.bin").write_text("half")
    assert not cache.is_complete(d)
    cache.reset_partial(d)  # a partial stage starts clean
    assert not (d / "partial.bin").exists()
    cache.mark_complete(d, {"x": 1})
    assert cache.is_complete(d)
    (d / "out.bin").write_text("kept")
    cache.reset_partial(d)  # a complete stage is left alone
    assert (d / "out.bin").exists()
