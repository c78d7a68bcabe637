"""Issue 13, the rows about plugins, protocol files and prepared data: each bad input gives one clear
line (or a correct result), never a traceback, a wrong class or a file outside the results dir."""

import json
from importlib.metadata import EntryPoint

import numpy as np
import pytest
from fake_plugins import plugin_module
from guide import example_protocol, write_blobs, write_protocol
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import osrbench
from osrbench import DataOptions, OsrbenchError
from osrbench.cli import main
from osrbench.data import load_dataset
from osrbench.plugins import build_plugins, load_plugins
from osrbench.protocol_files import load_protocol_file


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def search_path(tmp_path, monkeypatch):
    """A protocol search-path folder, seen by the CLI's plugin loading for this test only."""
    folder = tmp_path / "protocols"
    folder.mkdir()
    monkeypatch.setenv("OSRBENCH_PROTOCOLS", str(folder))
    load_plugins.cache_clear()
    yield folder
    load_plugins.cache_clear()


def _assert_one_line_error(code, out, *fragments):
    assert code == 2 and "Traceback" not in out, out
    assert len(out.strip().splitlines()) == 1, out
    for fragment in fragments:
        assert fragment in out, out


# ---------------------------------------------------------------- one malformed protocol file among others


def test_one_malformed_protocol_file_fails_alone(search_path, tmp_path, capsys):
    write_protocol(search_path, "good.json", name="good")
    (search_path / "broken.json").write_text('{"name": "broken", "splits": [')
    plugins = load_plugins()
    assert "good" in plugins.protocols and "digits" in plugins.protocols
    assert any("broken.json" in source for source in plugins.failures)
    code, out = run_cli(capsys, "list", "protocols")
    assert code == 0 and "good" in out and "digits" in out and "broken.json" in out and "not valid JSON" in out
    code, out = run_cli(capsys, "run", "--protocol", "broken", "--results-dir", tmp_path / "res")
    _assert_one_line_error(code, out, "unknown protocol 'broken'", "broken.json", "not valid JSON")


def test_list_protocols_verbose_says_where_each_came_from(search_path, capsys):
    path = write_protocol(search_path, "mine.json", name="mine")
    code, out = run_cli(capsys, "list", "protocols", "-v")
    assert code == 0
    lines = out.splitlines()
    origin = {lines[i].split(":")[0].strip(): lines[i + 1] for i in range(len(lines) - 1)
              if lines[i + 1].startswith("    from ")}  # each plugin's line, then where it came from
    assert str(path) in origin["mine"]
    assert "digits.json" in origin["digits"] and "plugin 'protocols'" in origin["digits"]


# ---------------------------------------------------------------- class ids


@pytest.mark.parametrize("known, problem", [
    ([0, 1, True], "integers >= 0"),  # a bool would silently be class 1
    ([0, 1, -1], "integers >= 0"),  # -1 would silently be class 9
    ([0, 1, 2.0], "integers >= 0"),
])
def test_bool_negative_or_float_class_ids_are_rejected_naming_the_field(tmp_path, known, problem):
    path = write_protocol(tmp_path, splits=[{"known": known, "unknown": [5]}])
    with pytest.raises(OsrbenchError, match=r"field 'splits\[0\]\.known'.*" + problem):
        load_protocol_file(path)


def test_class_id_out_of_range_is_reported_before_training(tmp_path, capsys):
    data_root = tmp_path / "data"
    write_blobs(data_root)
    path = write_protocol(tmp_path, splits=[{"known": [0, 1, 99], "unknown": [5]}])
    code, out = run_cli(capsys, "run", "--protocol", path, "--data-root", data_root, "--results-dir",
                        tmp_path / "res", "--quiet")
    _assert_one_line_error(code, out, "known class 99 does not exist", "'blobs' has the classes 0..9")
    assert not list((tmp_path / "res").rglob("*.json"))


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["../../../x", "a/b", "..", "", "x y", "[bold]x"])
def test_a_protocol_file_with_an_unsafe_name_is_rejected(tmp_path, capsys, name):
    path = write_protocol(tmp_path, name=name)
    with pytest.raises(OsrbenchError, match="field 'name'"):
        load_protocol_file(path)
    code, out = run_cli(capsys, "run", "--protocol", path, "--results-dir", tmp_path / "res")
    _assert_one_line_error(code, out, "field 'name'")
    assert not (tmp_path / "x").exists() and not (tmp_path / "res").exists()


def test_a_plugin_registering_an_unsafe_name_is_reported_and_the_rest_still_load():
    spec = osrbench.ScorerSpec(name="../escape", description="", config=object, score=None)
    good = osrbench.ScorerSpec(name="fine", description="", config=object, score=None)
    bad = plugin_module("osrbench_test_unsafe", osrbench_scorers=[spec, good])
    plugins = build_plugins([EntryPoint("unsafe", bad.__name__, "osrbench")])
    assert "'../escape' is not a valid name" in plugins.failures["plugin 'unsafe'"]
    assert "fine" in plugins.scorers and "../escape" not in plugins.scorers


# ---------------------------------------------------------------- clashes


def test_a_clash_names_both_sources_and_list_keeps_working(search_path, tmp_path, capsys):
    first = write_protocol(search_path, "a.json", name="digits")  # clashes with the built-in digits
    code, out = run_cli(capsys, "list", "protocols")
    assert code == 0 and "clash" in out and str(first) in out and "plugin 'protocols'" in out
    code, out = run_cli(capsys, "run", "--protocol", "digits", "--results-dir", tmp_path / "res")
    _assert_one_line_error(code, out, "registered twice", str(first), "digits.json")


def test_a_protocol_file_by_path_may_not_take_a_registered_name(tmp_path, capsys):
    path = write_protocol(tmp_path, name="digits")
    code, out = run_cli(capsys, "run", "--protocol", path, "--results-dir", tmp_path / "res")
    _assert_one_line_error(code, out, f"protocol file {path} is named 'digits'", "another \"name\"")


def test_two_plugins_registering_one_dataset_name_both_named():
    spec = osrbench.DatasetSpec("twin", "", "nowhere", read=None)
    a, b = plugin_module("osrbench_test_twin_a", osrbench_datasets=[spec]), plugin_module("osrbench_test_twin_b",
                                                                               osrbench_datasets=[spec])
    plugins = build_plugins([EntryPoint("twin-a", a.__name__, "osrbench"),
                             EntryPoint("twin-b", b.__name__, "osrbench")])
    assert any("'twin-a'" in line and "'twin-b'" in line for line in plugins.clashes())
    with pytest.raises(OsrbenchError, match="'twin-a'.*'twin-b'"):
        load_dataset("twin", DataOptions(".", datasets=plugins.datasets))


# ---------------------------------------------------------------- prepared data


@pytest.mark.parametrize("arrays, field, problem", [
    ({"y_train": np.zeros(10, np.int64)}, "y_train", "holds 10 labels for the 600 images"),
    ({"x_train": np.zeros((600, 1, 8, 8), np.uint8)}, "x_train", "not N,H,W,C"),  # NCHW
    ({"x_test": np.zeros((0, 8, 8, 1), np.uint8), "y_test": np.zeros(0, np.int64)}, "x_test", "holds no images"),
    ({"y_test": np.full(300, 10)}, "y_test", "has label 10, outside the 10 classes"),
    ({"y_test": np.full(300, -2)}, "y_test", "has label -2"),
    ({"x_train": np.zeros((600, 8, 8, 1), np.float32)}, "x_train", "not uint8"),
    ({"x_test": np.zeros((300, 4, 4, 1), np.uint8)}, "x_test", "x_train of"),
    ({"y_train": np.zeros(600, np.float64)}, "y_train", "1-D integer"),
])
def test_a_bad_prepared_file_is_named_with_its_field(tmp_path, capsys, arrays, field, problem):
    data_root = tmp_path / "data"
    npz = write_blobs(data_root, **arrays)
    with pytest.raises(OsrbenchError, match=f"prepared dataset {npz}: field '{field}'") as err:
        load_dataset("blobs", DataOptions(data_root))
    assert problem in str(err.value)
    code, out = run_cli(capsys, "run", "--protocol", write_protocol(tmp_path), "--data-root", data_root,
                        "--results-dir", tmp_path / "res", "--quiet")
    _assert_one_line_error(code, out, str(npz), field)


def test_a_file_that_is_not_an_npz_is_reported(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(OsrbenchError, match="cannot read .*junk.npz"):
        load_dataset("junk", DataOptions(tmp_path))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=5), labels=st.integers(0, 6),
       dtype=st.sampled_from(["uint8", "int64", "float32", "bool"]), low=st.integers(-3, 12))
def test_any_prepared_arrays_load_or_give_one_osrbench_error(tmp_path_factory, shape, labels, dtype, low):
    root = tmp_path_factory.mktemp("data")
    x = np.zeros(shape, dtype)
    y = np.full(labels, low)
    np.savez(root / "fuzz.npz", x_train=x, y_train=y, x_test=x, y_test=y, classes=np.array(list("abcdefghij")))
    try:
        ds = load_dataset("fuzz", DataOptions(root))
    except OsrbenchError as exc:
        assert "\n" not in str(exc) and "fuzz.npz" in str(exc)
    else:  # it loaded: then it really is a valid dataset
        assert ds.x_train.dtype.is_floating_point is False and ds.x_train.shape[1] in (1, 3)
        assert len(ds.x_train) == len(ds.y_train) > 0 and 0 <= int(ds.y_train.min()) <= int(ds.y_train.max()) < 10


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.recursive(st.none() | st.booleans() | st.integers(-5, 20) | st.floats(allow_nan=True) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20),
       st.sampled_from(["splits", "known", "name", "mean", "dataset", "hflip", None]))
def test_any_protocol_file_loads_or_gives_one_osrbench_error(tmp_path_factory, value, where):
    data = example_protocol()
    if where == "known":
        data["splits"][0]["known"] = value
    elif where is not None:
        data[where] = value
    path = tmp_path_factory.mktemp("p") / "fuzz.json"
    path.write_text(json.dumps(data))
    try:
        spec = load_protocol_file(path)
    except OsrbenchError as exc:
        assert "\n" not in str(exc) and "fuzz.json" in str(exc)
    else:
        assert spec.n_splits >= 1 and spec.name


def test_processes_building_one_dataset_cache_at_once_all_succeed(tmp_path):
    """``run --parallel`` starts every split at once: each process may build the same missing cache file
    (TinyImageNet from its originals) at the same moment; each writes its own temporary file."""
    import threading

    import numpy as np

    from osrbench import data

    arrays = {"x_train": np.zeros((4, 2, 2, 3), np.uint8), "y_train": np.arange(4)}
    start, errors = threading.Barrier(8), []

    def build() -> None:
        start.wait()
        try:
            data._atomic_savez(tmp_path / "set.npz", **arrays)
        except OSError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with np.load(tmp_path / "set.npz") as saved:
        assert (saved["y_train"] == arrays["y_train"]).all()
    assert [p.name for p in tmp_path.iterdir()] == ["set.npz"]
