"""Issue 24, items 5 and 10: each valid-looking bad input of reproductions 7 and 8 is one line before any
training (or a recorded failure naming the rule), and a record made with --protocol FILE reproduces
without that file."""

import json

import numpy as np
import pytest
from committed_records import COMMITTED, copy_cifar10_ce
from guide import write_blobs, write_protocol
from test_faults import BadOutputs, EmptyConfig
from test_record_identity import NEAREST_MEAN, run

import osrbench
from osrbench import MethodSpec, OsrbenchError
from osrbench.cli import main
from osrbench.plugins import build_plugins


def one_line(capsys, *args, needle: str) -> None:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 2 and "Traceback" not in text and len(text.strip().splitlines()) == 1, text
    assert text.startswith("error: ") and needle in text, text


@pytest.mark.parametrize("args, needle", [
    (["--seed", "-1"], "--seed -1: give a seed from 0"),
    (["--limit", str(2**64)], "--limit 18446744073709551616: give a number of images per class from 1"),
    (["--set", "epochs=1e20"], "epochs=1e20: expected an int"),
    (["--set", "epochs=100000000000"], "epochs=100000000000: at most 100000"),
    (["--set", "tta_shift=100"], "tta_shift=100: the shift must be smaller than the 8x8 images"),
])
def test_bad_run_options_are_one_line_before_training(tmp_path, capsys, args, needle):
    one_line(capsys, "run", "--split", "0", "--results-dir", tmp_path / "res", "--quiet", *args, needle=needle)
    assert not list((tmp_path / "res").rglob("*.json")) and not list((tmp_path / "res").rglob("*.ckpt"))


class ReturnsNone:
    @osrbench.hookimpl
    def osrbench_methods(self):
        return [MethodSpec("returns-none", "fit returns None", EmptyConfig, lambda split, config, ctx: None)]


def test_a_fit_that_returns_none_names_the_method(tmp_path):
    write_blobs(tmp_path / "data")
    write_protocol(tmp_path)
    with pytest.raises(OsrbenchError, match="method 'returns-none': fit\\(\\) returned NoneType"):
        run(tmp_path, build_plugins(extra={"none": ReturnsNone()}), method="returns-none")


@pytest.mark.parametrize("method", [None, "ce"])
def test_reproducing_a_record_with_a_broken_method_config_is_one_line(tmp_path, capsys, method):
    results = copy_cifar10_ce(tmp_path / "results")
    path = results / "cifar10" / "ce" / "split0-seed0.json"
    record = json.loads(path.read_text())
    record["config"] = {k: v for k, v in record["config"].items() if k != "method"} | (
        {"method": method} if method else {})
    path.write_text(json.dumps(record))
    one_line(capsys, "reproduce", path, "--results-dir", tmp_path / "again", needle="config.'method'")


@pytest.mark.parametrize("output", ["folder", "/dev/full"])
def test_leaderboard_output_that_cannot_be_written_is_one_line(tmp_path, capsys, output):
    target = tmp_path if output == "folder" else output
    one_line(capsys, "leaderboard", "--results-dir", COMMITTED, "--output", target, needle=f"--output {target}: cannot write")


@pytest.mark.parametrize("arrays, protocol, needle", [
    (lambda a: {"x_test": a["x_test"][a["y_test"] != 9], "y_test": a["y_test"][a["y_test"] != 9]},
     {"splits": [{"known": [0, 1, 9], "unknown": [5]}]}, "class 9 ('blob9') has no test images"),
    (lambda a: {"classes": np.array([str(i) for i in range(12)])},
     {"splits": [{"known": [0, 1, 11], "unknown": [5]}]}, "class 11 ('11') has no training images"),
    (lambda a: {}, {"splits": [{"known": [0, 1], "unknown": [5, 5]}]}, "splits[0].unknown' lists a class twice"),
    (lambda a: {}, {"std": [float("nan")]}, "not valid JSON (holds NaN"),
    (lambda a: {}, {"splits": [{"known": [0], "unknown": [5]}]}, "must list at least 2 classes"),
])
def test_bad_data_and_protocol_files_are_one_line_before_training(tmp_path, arrays, protocol, needle):
    base = dict(np.load(write_blobs(tmp_path / "data")))
    write_blobs(tmp_path / "data", **arrays(base))
    write_protocol(tmp_path, **protocol)
    with pytest.raises(OsrbenchError) as info:
        run(tmp_path)
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert not list((tmp_path / "res").rglob("*.json"))


def test_a_label_out_of_range_after_the_first_batch_is_a_recorded_failure(tmp_path):
    write_blobs(tmp_path / "data")
    write_protocol(tmp_path)
    _, record = run(tmp_path, build_plugins(extra={"late": BadOutputs("late")}))
    (message,) = record["failures"][NEAREST_MEAN].values()
    assert "breaks the predict() contract: labels must lie in 0.." in message and not record["metrics"].get(NEAREST_MEAN)


def test_a_record_made_with_a_protocol_file_reproduces_without_it(tmp_path, capsys, monkeypatch):
    write_blobs(tmp_path / "data")
    protocol = write_protocol(tmp_path / "mine")
    plugins = build_plugins(extra={"good": BadOutputs("none")})
    monkeypatch.setattr("osrbench.runner.load_plugins", lambda: plugins)
    monkeypatch.setattr("osrbench.reproduce.load_plugins", lambda: plugins)
    _, record = run(tmp_path, plugins, protocol=str(protocol))
    protocol.unlink()
    (path,) = (tmp_path / "res").rglob("split0-seed0.json")
    code = main(["reproduce", str(path), "--results-dir", str(tmp_path / "again"), "--data-root",
                 str(tmp_path / "data"), "--quiet"])
    assert code == 0, capsys.readouterr()
    assert "reproduced" in capsys.readouterr().out
