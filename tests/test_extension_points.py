"""Issue 14: a user's own dataset and protocol without code, datasets as plugins, --limit."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from fake_plugins import plugin_module
from guide import EXAMPLES, write_blobs, write_protocol

import osrbench
from osrbench import DataOptions, DatasetArrays, DatasetSpec, OsrbenchError
from osrbench.cli import main
from osrbench.leaderboard import build_leaderboard
from osrbench.limit import first_per_class, limit_split
from osrbench.plugins import build_plugins, load_plugins
from osrbench.runner import RunRequest, run


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_built_in_datasets_come_through_the_entry_point_like_a_third_party():
    datasets = load_plugins().datasets
    for name in ("digits", "mnist", "svhn", "cifar10", "cifar100", "tinyimagenet"):
        assert datasets.entries[name].plugin == "datasets"
        assert datasets.entries[name].distribution.startswith("osrbench ")


@pytest.mark.slow
def test_a_prepared_npz_and_a_protocol_file_run_end_to_end_by_path_with_limit(tmp_path, capsys):
    """The guide's no-code route: an array file under any name, a protocol file, `run --protocol FILE`."""
    data_root, res = tmp_path / "data", tmp_path / "res"
    subprocess.run([sys.executable, str(EXAMPLES / "make_dataset.py"), str(data_root)], check=True)
    protocol = write_protocol(tmp_path / "mine", "blobs.json")
    code, out = run_cli(capsys, "run", "--protocol", protocol, "--data-root", data_root, "--results-dir", res,
                        "--split", "0", "--limit", "20", "--set", "epochs=8", "batch_size=16", "--quiet")
    assert code == 0, out
    assert "[limit 20]" in out
    record = json.loads(next(res.rglob("split0-seed0.json")).read_text())
    assert record["protocol"] == "blobs" and record["limit"] == 20 and record["split_family"] == "blobs-example"
    assert record["label"].startswith("ce@")  # a limited run never shares a label with a full run
    assert record["metrics"]["msp"]["osr"]["accuracy"] > 0.8  # 6 classes: chance is 1/6; the blobs are learnable
    row = build_leaderboard(res)["wide"]["osr.auroc"]["method"].tolist()
    assert row == [f"{record['label']}/mls [limit 20]", f"{record['label']}/msp [limit 20]"]


def test_limit_keeps_the_first_n_of_each_class(tmp_path):
    labels = torch.tensor([2, 0, 2, 1, 0, 2, 0, 1])
    assert first_per_class(labels, 2).tolist() == [0, 1, 2, 3, 4, 7]
    split = load_plugins().protocols.get("digits").load(0, DataOptions(tmp_path))
    small = limit_split(split, 5)
    assert torch.bincount(small.train_labels).tolist() == [5] * 6
    assert torch.bincount(small.test_labels).tolist() == [5] * 6
    assert torch.bincount(small.unknown_labels).tolist() == [5] * 4
    keep = first_per_class(split.train_labels, 5)
    assert torch.equal(small.train_images, split.train_images[keep])


def test_limit_must_be_positive(tmp_path, capsys):
    code, out = run_cli(capsys, "run", "--limit", "0", "--results-dir", tmp_path)
    assert code == 2 and "--limit 0" in out


def _noise_plugin(name: str = "noise8"):
    """A plugin module that registers a dataset through the hook: uniform noise, 8x8 grey."""
    def read(folder, download):
        rng = np.random.default_rng(1)
        x = rng.integers(0, 256, (80, 8, 8, 1), dtype=np.uint8)
        return DatasetArrays(x[:40], np.zeros(40, int), x[40:], np.arange(40) % 2, ["static", "snow"])

    return plugin_module("osrbench_test_noise", osrbench_datasets=[DatasetSpec(name, "noise", "generated", read,
                                                                                cache=False)])


def test_a_dataset_registered_through_the_hook_serves_as_the_unknown_set(tmp_path):
    data_root = tmp_path / "data"
    write_blobs(data_root)
    protocol = write_protocol(tmp_path, name="blobs-vs-noise", unknown_dataset="noise8",
                              splits=[{"known": [0, 1, 2, 3, 4, 5], "unknown": [0, 1]}])
    plugins = build_plugins(extra={"noise": _noise_plugin()})
    assert plugins.datasets.entries["noise8"].plugin == "noise"
    split = plugins.protocol(str(protocol)).load(0, DataOptions(data_root, datasets=plugins.datasets))
    assert split.unknown_class_names == ["static", "snow"] and len(split.unknown_images) == 40
    records = run(RunRequest(protocol=str(protocol), splits=[0], data=DataOptions(data_root),
                             results_dir=tmp_path / "res", overrides={"epochs": "1"}, quiet=True,
                             health_check=False), plugins=plugins)  # plumbing: 1 epoch need not learn
    assert records[0]["protocol"] == "blobs-vs-noise"
    assert 0 <= records[0]["metrics"]["msp"]["osr"]["auroc"] <= 1
    assert "+" in records[0]["data_fingerprint"]  # known and unknown data fingerprinted separately


def test_an_unregistered_name_without_a_prepared_file_says_how_to_add_it(tmp_path):
    with pytest.raises(OsrbenchError, match=r"'mystery' is not registered .* no prepared .*mystery\.npz"):
        osrbench.data.load_dataset("mystery", DataOptions(tmp_path))


def test_a_missing_ood_dataset_is_reported_before_training(tmp_path, capsys):
    trained = []
    base = load_plugins().methods.get("ce")
    spy = osrbench.MethodSpec("spy", "", base.config, lambda *a: trained.append(1) or base.fit(*a))
    method = plugin_module("osrbench_test_spy", osrbench_methods=[spy])
    plugins = build_plugins(extra={"spy": method})
    request = RunRequest(method="spy", scorers=["osr", "ood"], splits=[0], data=DataOptions(tmp_path),
                         results_dir=tmp_path / "res", overrides={"ood.sets": "digits,nowhere"}, quiet=True)
    with pytest.raises(OsrbenchError, match="'nowhere' is not registered"):
        run(request, plugins=plugins)
    assert not trained and not list((tmp_path / "res").rglob("*.json"))


def test_search_path_protocols_run_by_name(tmp_path, monkeypatch):
    data_root = tmp_path / "data"
    write_blobs(data_root)
    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    write_protocol(folder_a, "one.json", name="one")
    write_protocol(folder_b, "two.json", name="two")
    plugins = build_plugins(search_path=f"{folder_a}:{folder_b}:{tmp_path / 'missing'}")
    assert plugins.protocols.entries["two"].file == folder_b / "two.json"
    assert plugins.protocols.get("one").load(1, DataOptions(data_root)).class_names[0] == "blob4"
    assert "no such folder" in plugins.failures[f"$OSRBENCH_PROTOCOLS folder {tmp_path / 'missing'}"]


def test_a_source_tree_without_entry_points_says_how_to_install(capsys):
    plugins = build_plugins(eps=[])
    with pytest.raises(OsrbenchError, match=r"Known methods: none.*pip install -e \."):
        plugins.methods.get("msp")


def test_python_dash_m_osrbench_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "osrbench", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("osrbench ")


@pytest.mark.slow
def test_output_in_a_log_has_no_blank_lines_no_wrapped_cells_and_one_column_order(tmp_path):
    """stdout and stderr redirected (as in a log): no progress-bar residue, table rows on one line,
    and the summary read back from the records has the columns of the summary just trained."""
    command = [sys.executable, "-m", "osrbench", "run", "--split", "0,1", "--scorer", "osr,linear-probe",
               "--set", "epochs=1", "batch_size=32", "lr=0.02", "--results-dir", str(tmp_path / "res"),
               "--data-root", str(tmp_path)]
    trained = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "" not in trained.stderr.splitlines()
    lines = trained.stdout.splitlines() + trained.stderr.splitlines()
    assert [line for line in lines if line != line.rstrip()] == []  # no padding at the ends of lines
    title = " on digits (last rows: mean ± sample std over 2 runs; train s: their total)"
    assert any(line.startswith("ce@") and line.endswith(title) for line in lines)  # one line, not wrapped
    assert next(line for line in lines if "mean ± std" in line).rstrip("│ ").split()[-2] == "total"

    def header(out: str) -> str:
        return next(line for line in out.splitlines() if "AUROC" in line)

    mean_row = next(line for line in trained.stdout.splitlines() if "mean ± std" in line)
    metric_columns = header(trained.stdout).count("┃") - 4  # less the split, postprocessor and train-seconds columns
    assert metric_columns >= 6 and mean_row.count("±") == 1 + metric_columns  # every cell on one line
    again = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "skipped" in again.stderr
    assert header(again.stdout) == header(trained.stdout)
