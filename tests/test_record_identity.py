"""Issue 24, items 1 and 2: a record is reused only when everything that produced it matches, and the
one writer writes only what the one reader reads."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from committed_records import COMMITTED, copy_cifar10_ce
from guide import example_module, write_blobs, write_protocol
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_faults import BadOutputs, EmptyConfig

import osrbench
from osrbench import DataOptions, OsrbenchError, ScorerSpec
from osrbench.config import config_dict
from osrbench.identity import differences, record_identity
from osrbench.leaderboard import build_leaderboard
from osrbench.plugins import build_plugins
from osrbench.records import DamagedRecord, read_record, scan_records, write_record
from osrbench.reproduce import rerun_request
from osrbench.runner import Run, RunRequest

NEAREST_MEAN = "bad-outputs"  # test_faults' nearest-class-mean method (mode none): no training, no kept weights


def run(tmp_path, plugins=None, **fields):
    """One split of the nearest-mean method on the example (blobs) protocol, quietly; returns (run, record)."""
    plugins = plugins or build_plugins(extra={"good": BadOutputs("none")})
    fields.setdefault("protocol", str(tmp_path / "blobs.json"))
    fields.setdefault("method", NEAREST_MEAN)
    request = RunRequest(splits=[0], results_dir=tmp_path / "res", quiet=True,
                         data=DataOptions(tmp_path / "data"), **fields)
    the_run = Run(request, plugins)
    (record,) = the_run.execute()
    return the_run, record


@pytest.fixture
def blobs(tmp_path):
    write_blobs(tmp_path / "data")
    write_protocol(tmp_path)
    return tmp_path


def stale_copies(tmp_path):
    return sorted(p.name for p in (tmp_path / "res").rglob("*.stale*"))


# --------------------------------------------------------------------------- item 1: identity

def test_a_changed_scorer_option_without_kept_weights_reruns_and_no_rerun_refuses(blobs):
    _, first = run(blobs)
    with pytest.raises(OsrbenchError, match=r"osr with other options, and the run kept no weights.*--no-rerun"):
        run(blobs, overrides={"osr.tpr": "0.5"}, no_rerun=True)
    the_run, second = run(blobs, overrides={"osr.tpr": "0.5"})
    assert the_run.trained == [0] and second["config"]["scorers"]["osr"]["tpr"] == 0.5
    shutil.copytree(blobs / "data", blobs / "fresh" / "data")
    _, fresh = run(blobs / "fresh", protocol=str(blobs / "blobs.json"), overrides={"osr.tpr": "0.5"})
    assert second["metrics"] == fresh["metrics"] != first["metrics"]
    assert stale_copies(blobs) == ["split0-seed0.json.stale"]


@pytest.mark.parametrize("change, phrase", [
    ({"version": "2", "splits": [{"known": [0, 1, 2, 3], "unknown": [6, 7]}]}, "protocol version '1' -> '2'"),
    ({"split_family": "other"}, "split family"),
    ({"splits": [{"known": [0, 1, 2, 4], "unknown": [6, 7]}]}, "split classes"),
])
def test_a_changed_protocol_file_reruns_and_no_rerun_names_it(blobs, change, phrase):
    write_protocol(blobs, splits=[{"known": [0, 1, 2, 3], "unknown": [6, 7]}])
    run(blobs)
    write_protocol(blobs, **{"splits": [{"known": [0, 1, 2, 3], "unknown": [6, 7]}], **change})
    with pytest.raises(OsrbenchError, match=phrase):
        run(blobs, no_rerun=True)
    the_run, record = run(blobs)
    assert the_run.trained == [0] and stale_copies(blobs) == ["split0-seed0.json.stale"]
    assert record["protocol_version"] == change.get("version", "1")


def test_replaced_data_are_not_reused(blobs):
    _, first = run(blobs)
    arrays = dict(np.load(blobs / "data" / "blobs.npz"))
    write_blobs(blobs / "data", x_train=arrays["x_train"][:-5], y_train=arrays["y_train"][:-5])
    with pytest.raises(OsrbenchError, match="data fingerprint"):
        run(blobs, no_rerun=True)
    the_run, second = run(blobs)
    assert the_run.trained == [0] and second["data_fingerprint"] != first["data_fingerprint"]


def test_another_cpu_thread_count_is_another_record(blobs):
    _, record = run(blobs)
    (path,) = (blobs / "res").rglob("split0-seed0.json")
    record["cost"]["cpu_threads"] = torch.get_num_threads() + 1
    write_record(record, path)
    with pytest.raises(OsrbenchError, match=f"CPU threads {torch.get_num_threads() + 1} -> {torch.get_num_threads()}"):
        run(blobs, no_rerun=True)


def test_a_record_of_another_method_version_is_not_reused(blobs):
    """A plugin that bumps MethodSpec.version (e.g. a new default recipe behind an ``auto`` option) retrains what
    its older records hold; a record from before versions were recorded counts as version 1."""
    _, record = run(blobs)
    assert record["method_version"] == "1"
    (path,) = (blobs / "res").rglob("split0-seed0.json")
    write_record({k: v for k, v in record.items() if k != "method_version"}, path)
    assert run(blobs, no_rerun=True)[0].trained == []
    plugins = build_plugins(extra={"good": BadOutputs("none")})
    plugins.methods.get(NEAREST_MEAN).version = "2"
    with pytest.raises(OsrbenchError, match="method version '1' -> '2'"):
        run(blobs, plugins, no_rerun=True)
    the_run, again = run(blobs, plugins)
    assert the_run.trained == [0] and again["method_version"] == "2"


def test_a_method_version_of_the_split_retrains_only_the_image_size_whose_version_changed(blobs):
    """MethodSpec.version may be a function of the split (the baseline's recipe per image size): the record
    stores the string it returns, and a new version for one image size leaves the records of the others in use."""
    make_blobs = example_module("make_dataset").make_blobs
    write_blobs(blobs / "data", "blobs12", **make_blobs(size=12))
    write_protocol(blobs, "blobs12.json", name="blobs12", dataset="blobs12", unknown_dataset="blobs12")
    protocols = {8: str(blobs / "blobs.json"), 12: str(blobs / "blobs12.json")}
    for protocol in protocols.values():
        assert run(blobs, protocol=protocol)[1]["method_version"] == "1"
    plugins = build_plugins(extra={"good": BadOutputs("none")})
    plugins.methods.get(NEAREST_MEAN).version = lambda split: "2" if split.image_shape[1] > 8 else "1"
    small, kept = run(blobs, plugins, protocol=protocols[8], no_rerun=True)
    assert small.trained == [] and kept["method_version"] == "1"
    with pytest.raises(OsrbenchError, match="method version '1' -> '2'"):
        run(blobs, plugins, protocol=protocols[12], no_rerun=True)
    large, again = run(blobs, plugins, protocol=protocols[12])
    assert large.trained == [0] and again["method_version"] == "2"
    assert read_record(next((blobs / "res" / "blobs12").rglob("split0-seed0.json")))["method_version"] == "2"
    assert run(blobs, plugins, protocol=protocols[12], no_rerun=True)[0].trained == []
    assert stale_copies(blobs) == ["split0-seed0.json.stale"]


@pytest.mark.parametrize("version, told", [
    (lambda split: "", r"version\(split\) returned '' for split 0 of protocol 'blobs'"),
    (lambda split: 2, r"version\(split\) returned 2 for split 0 of protocol 'blobs'"),
    (None, "version is None"),
])
def test_a_method_version_that_is_no_string_is_a_plugin_bug_named_before_training(blobs, version, told):
    plugins = build_plugins(extra={"good": BadOutputs("none")})
    method = plugins.methods.get(NEAREST_MEAN)
    method.version, fitted = version, []
    method.fit = lambda *args: fitted.append(args)
    with pytest.raises(OsrbenchError, match=f"method '{NEAREST_MEAN}': its {told}, not a non-empty string; a bug "
                                            "in the method's plugin"):
        run(blobs, plugins)
    assert fitted == [] and not list((blobs / "res").rglob("*.json"))


def test_a_matching_record_is_reused(blobs):
    run(blobs)
    the_run, _ = run(blobs, no_rerun=True)
    assert the_run.trained == [] and not stale_copies(blobs)


KEYS = list(record_identity({}))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(KEYS), st.one_of(st.integers(0, 9), st.text(max_size=3)), st.integers(0, 9))
def test_every_changed_part_of_the_identity_is_named(key, value, seed):
    stored = {k: f"v-{k}" for k in KEYS} | {"seed": seed, "method config": {"lr": 0.1}, "augmentation config": None}
    wanted = dict(stored)
    wanted[key] = {"lr": value} if key == "method config" else value
    changes = differences(stored, wanted)
    assert bool(changes) == (wanted != stored)
    assert all(c.startswith(key) for c in changes)


def test_what_older_records_lack_is_unknown_not_a_change():
    stored = {"split classes": None, "CPU threads": None, "method config": {"lr": 0.1}}
    wanted = {"split classes": "abc", "CPU threads": 4, "method config": {"lr": 0.1, "new_option": 3}}
    assert differences(stored, wanted, {"method config": {"new_option": 3}}) == []
    assert differences(stored, {**wanted, "method config": {"lr": 0.1, "new_option": 4}},
                       {"method config": {"new_option": 3}}) == ["method config new_option 'unset' -> 4"]


def test_the_committed_records_match_the_runs_that_made_them():
    """A run asking for a committed record's experiment reuses it: its configs are today's."""
    for path, record in scan_records(COMMITTED).records:
        the_run = Run(rerun_request(record, COMMITTED, DataOptions(Path(".")), "auto", quiet=True))
        stored = record_identity(record)
        wanted = {**stored, "method config": config_dict(the_run.method_config),
                  "augmentation config": config_dict(the_run.aug_config) if the_run.aug_config else None,
                  "protocol version": the_run.protocol.version, "split family": the_run.protocol.split_family,
                  "split classes": stored.get("split classes"), "CPU threads": None}  # class lists need the data
        defaults = {"method config": config_dict(type(the_run.method_config)())}
        assert differences(stored, wanted, defaults) == [], path
        assert not the_run.evaluation.changed_options(record), path


@pytest.mark.parametrize("column, values, tag", [
    ("protocol_version", ["1", "1", "1", "2", "2"], "[v2]"),
    ("method_version", ["1", "1", "1", "2", "2"], "[method v2]"),
    ("split_family", ["a", "a", "a", "b", "b"], "[splits b]"),
])
def test_the_leaderboard_never_averages_across_versions_families_or_class_lists(tmp_path, column, values, tag):
    results = copy_cifar10_ce(tmp_path / "results")
    for split, value in enumerate(values):
        path = results / "cifar10" / "ce" / f"split{split}-seed0.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), column: value}))
    cells = build_leaderboard(results)["wide"]["osr.auroc"].set_index("method")["cifar10"]
    assert sorted(cells.index) == sorted(f"ce/{pp} {t}" for pp in ("msp", "mls")
                                         for t in (tag.replace(values[-1], values[0]), tag))
    assert "(n=2" in cells[f"ce/msp {tag}"]  # two runs (an interval past 1 reads "n too small")


def test_each_split_has_its_own_class_list_and_only_runs_of_one_split_on_two_lists_are_told_apart(tmp_path):
    results = copy_cifar10_ce(tmp_path / "results")
    folder = results / "cifar10" / "ce"
    for split in range(5):
        path = folder / f"split{split}-seed0.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "split_hash": f"{split}" * 16}))
    cells = build_leaderboard(results)["wide"]["osr.auroc"].set_index("method")["cifar10"]
    assert sorted(cells.index) == ["ce/mls", "ce/msp"] and cells["ce/msp"].endswith("(n=5)")
    changed = json.loads((folder / "split0-seed0.json").read_text()) | {"seed": 1, "name": "split0-seed1",
                                                                         "split_hash": "f" * 16}
    (folder / "split0-seed1.json").write_text(json.dumps(changed))
    cells = build_leaderboard(results)["wide"]["osr.auroc"].set_index("method")["cifar10"]
    assert sorted(cells.index) == sorted(f"ce/{pp}{t}" for pp in ("msp", "mls")
                                         for t in ("", " [classes 00000000]", " [classes ffffffff]"))
    assert cells["ce/msp"].endswith("(n=4)") and cells["ce/msp [classes ffffffff]"].endswith("(n=1)")


def test_records_without_a_split_hash_average_with_those_that_have_one(tmp_path):
    results = copy_cifar10_ce(tmp_path / "results")
    path = results / "cifar10" / "ce" / "split0-seed0.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "split_hash": "abc"}))
    cells = build_leaderboard(results)["wide"]["osr.auroc"].set_index("method")["cifar10"]
    assert cells["ce/msp"].endswith("(n=5)")


# --------------------------------------------------------------------------- item 2: one writer, one reader

class Scorers:
    """Scorers that break the scorer contract in one way each (and one that keeps it with numpy/torch)."""

    OUTPUTS = {
        "text": lambda: {"val": "0.5"},
        "bare": lambda: 0.5,
        "nested-text": lambda: {"curve": [{"x": "1.0"}]},
        "object": lambda: {"val": object()},
        "arrays": lambda: {"np": np.float32(0.5), "torch": torch.tensor(0.25), "nan": float("nan"),
                           "inf": np.float64("inf"), "list": np.arange(3), "note": "fine"},
    }

    @osrbench.hookimpl
    def osrbench_scorers(self):
        return [ScorerSpec(name, "test", EmptyConfig, lambda m, s, c, x, out=out: out())
                for name, out in self.OUTPUTS.items()]


@pytest.mark.parametrize("scorer, rule", [
    ("text", "metric.val is the text '0.5'"), ("bare", "returned a float, not an object of metrics"),
    ("nested-text", r"metric.curve\[0\].x is the text"), ("object", "metric.val is a object"),
])
def test_a_scorer_breaking_the_contract_is_a_recorded_failure_naming_it(blobs, scorer, rule):
    plugins = build_plugins(extra={"good": BadOutputs("none"), "bad-scorers": Scorers()})
    _, record = run(blobs, plugins, scorers=["osr", scorer])
    (message,) = record["failures"][NEAREST_MEAN].values()
    assert f"scorer '{scorer}' breaks the scorer contract" in message and re.search(rule, message), message
    assert record["metrics"][NEAREST_MEAN]["osr"]["auroc"] > 0.5
    board = build_leaderboard(blobs / "res")
    assert not board["damaged"]


def test_numpy_and_torch_numbers_are_recorded_and_nan_is_null(blobs):
    plugins = build_plugins(extra={"good": BadOutputs("none"), "bad-scorers": Scorers()})
    _, record = run(blobs, plugins, scorers=["arrays"])
    assert record["metrics"][NEAREST_MEAN]["arrays"] == {"np": 0.5, "torch": 0.25, "nan": None, "inf": None,
                                                         "list": [0, 1, 2], "note": "fine"}
    (path,) = (blobs / "res").rglob("split0-seed0.json")
    assert "NaN" not in path.read_text() and read_record(path) == record


METRIC = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(), st.text(max_size=4)),
                      lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner,
                                                                                             max_size=3)),
                      max_leaves=8)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.text(min_size=1, max_size=4), METRIC, max_size=4))
def test_what_the_writer_writes_the_reader_reads(tmp_path, metrics):
    record = read_record(COMMITTED / "cifar10" / "ce" / "split0-seed0.json")
    record["metrics"] = {"msp": {"osr": metrics}}
    path = tmp_path / "split0-seed0.json"
    path.unlink(missing_ok=True)
    try:
        write_record(record, path)
    except OsrbenchError as exc:
        assert "not writing the record" in str(exc) and not path.exists()
        return
    assert read_record(path) == record


def test_a_deeply_nested_record_is_one_damaged_record_everywhere(tmp_path, capsys):
    results = copy_cifar10_ce(tmp_path / "results")
    path = results / "cifar10" / "ce" / "split1-seed0.json"
    path.write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(DamagedRecord, match="nested more than"):
        read_record(path)
    board = build_leaderboard(results)
    assert [d.path for d in board["damaged"]] == [path]


def test_a_fifo_or_a_folder_in_place_of_a_record_is_damaged_not_a_hang(tmp_path):
    results = copy_cifar10_ce(tmp_path / "results")
    fifo = results / "cifar10" / "ce" / "split1-seed0.json"
    fifo.unlink()
    os.mkfifo(fifo)
    folder = results / "cifar10" / "ce" / "split2-seed0.json"
    folder.unlink()
    folder.mkdir()
    damaged = {d.path: d.reason for d in scan_records(results).damaged}
    assert "not a regular file" in damaged[fifo] and folder in damaged
