"""Plugin discovery through entry points, broken plugins, name collisions, unknown names."""

from importlib.metadata import EntryPoint

import pytest
from fake_plugins import plugin_module

import osrbench
from osrbench import OsrbenchError
from osrbench.plugins import build_plugins, load_plugins

BUILT_IN = {
    "protocols": {"mnist", "svhn", "cifar10", "cifar+10", "cifar+50", "tinyimagenet", "digits"},
    "methods": {"ce"},
    "postprocessors": {"msp", "mls", "energy"},
    "scorers": {"osr"},
}


def test_built_in_plugins_are_found_through_entry_points():
    plugins = load_plugins()
    assert not plugins.failures
    for kind, names in BUILT_IN.items():
        registry = plugins.registry(kind)
        assert names <= set(registry.entries), kind
        for name in names:
            assert registry.entries[name].distribution.startswith("osrbench ")


def test_third_party_plugin_is_found_through_its_own_entry_point():
    pytest.importorskip("osrbench_example", reason="install tests/example_plugin (see README)")
    plugins = load_plugins()
    entry = plugins.methods.entries["nearest-mean"]
    assert entry.distribution.startswith("osrbench-example-plugin")
    assert "mean-score" in plugins.scorers


def test_broken_plugin_is_reported_and_others_still_load():
    good = plugin_module("osrbench_test_good", osrbench_scorers=[
        osrbench.ScorerSpec(name="good", description="", config=object, score=None)])
    eps = [EntryPoint("broken", "osrbench_test_missing_module_xyz", "osrbench"),
           EntryPoint("good", good.__name__, "osrbench")]
    plugins = build_plugins(eps)
    assert "ModuleNotFoundError" in plugins.failures["plugin 'broken'"]
    assert "good" in plugins.scorers


def test_two_plugins_with_the_same_name_is_an_error_naming_both():
    spec = osrbench.ScorerSpec(name="same", description="", config=object, score=None)
    a = plugin_module("osrbench_test_a", osrbench_scorers=[spec])
    b = plugin_module("osrbench_test_b", osrbench_scorers=[spec])
    plugins = build_plugins([EntryPoint("plugin-a", a.__name__, "osrbench"),
                             EntryPoint("plugin-b", b.__name__, "osrbench")])
    with pytest.raises(OsrbenchError, match="'plugin-a'.*'plugin-b'"):
        plugins.scorers.get("same")


def test_unknown_name_lists_known_ones_and_suggests_a_close_match():
    with pytest.raises(OsrbenchError, match=r"unknown method 'grdmix'.*Did you mean 'gradmix'.*ce"):
        load_plugins().methods.get("grdmix")
