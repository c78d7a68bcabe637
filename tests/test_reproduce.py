"""`osrbench reproduce`: a digits record rerun from its stored config gives the same metrics on the CPU."""

import json
import tempfile
from pathlib import Path

import pytest
import torch

from osrbench.api import DataOptions
from osrbench.cli import main
from osrbench.config import config_dict
from osrbench.plugins import load_plugins
from osrbench.reproduce import config_overrides, prepare, rerun_request
from osrbench.runner import Run, RunRequest

# One epoch that learns digits (the training-health guard rejects a model at chance level).
FAST = ["--split", "0", "--set", "epochs=1", "batch_size=32", "lr=0.02", "--quiet"]


def run_cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture(scope="module")
def digits_record(tmp_path_factory) -> Path:
    """One 1-epoch digits run with a non-default scorer option (kept for every test of the module)."""
    root = tmp_path_factory.mktemp("reproduce")
    assert main(["run", *FAST, "--set", "osr.tpr=0.9", "--results-dir", str(root / "results"),
                 "--data-root", str(root / "data")]) == 0
    return next((root / "results").rglob("split0-seed0.json"))


@pytest.mark.slow
def test_a_digits_record_reproduces_exactly_on_the_cpu(digits_record, tmp_path, capsys):
    scratch = tmp_path / "scratch"
    code, out = run_cli(capsys, "reproduce", str(digits_record), "--results-dir", str(scratch),
                        "--data-root", str(digits_record.parents[3] / "data"))
    assert code == 0, out
    assert "DIFFERS" not in out and "msp/osr.auroc" in out and "tolerance 0" in " ".join(out.split())
    rerun = json.loads(next(scratch.rglob("split0-seed0.json")).read_text())
    record = json.loads(digits_record.read_text())
    assert rerun["config"] == record["config"] and rerun["label"] == record["label"]
    assert rerun["metrics"]["msp"]["osr"]["auroc"] == record["metrics"]["msp"]["osr"]["auroc"]


@pytest.mark.slow
def test_a_changed_metric_is_reported_and_fails_unless_within_tol(digits_record, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    record = json.loads(digits_record.read_text())
    record["metrics"]["msp"]["osr"]["auroc"] += 1e-6
    edited = tmp_path / "results" / "digits" / record["label"] / "split0-seed0.json"
    edited.parent.mkdir(parents=True)
    edited.write_text(json.dumps(record))
    data = str(digits_record.parents[3] / "data")
    code, out = run_cli(capsys, "reproduce", str(edited), "--data-root", data)  # into a scratch folder
    assert code == 1 and "DIFFERS" in out and "-1e-06" in out and "1 metric(s) differ" in out
    assert list((tmp_path / "tmp").iterdir()) == []  # the scratch folder is gone after the failed reproduction
    code, out = run_cli(capsys, "reproduce", str(edited), "--tol", "1e-5", "--results-dir", str(tmp_path / "s2"),
                        "--data-root", data)
    assert code == 0 and "DIFFERS" not in out


def test_the_stored_config_becomes_set_pairs_that_convert_back():
    config = {"method": {"epochs": 1, "lr": 0.2, "compile": True, "backbone": "auto", "crop_pad": -1},
              "augmentation": {"alpha": 0.4}, "scorers": {"osr": {"tpr": 0.9, "plots": False},
                                                         "ood": {"sets": ["cifar100", "svhn"], "extra": None}}}
    assert config_overrides(config, "mixup") == {
        "epochs": "1", "lr": "0.2", "compile": "true", "backbone": "auto", "crop_pad": "-1",
        "osr.tpr": "0.9", "osr.plots": "false", "ood.sets": "cifar100,svhn", "ood.extra": "none", "mixup.alpha": "0.4"}


@pytest.mark.parametrize("args, message", [
    (["nowhere.json"], "no record at nowhere.json: no such file"),
    (["--tol", "-1"], "expected a finite number"),
])
def test_reproduce_bad_input_gives_one_line(tmp_path, capsys, args, message):
    if args[0] == "--tol":
        (tmp_path / "r.json").write_text("{}")
        args = [str(tmp_path / "r.json"), *args]
    code, out = run_cli(capsys, "reproduce", *args, "--results-dir", str(tmp_path / "s"))
    assert code == 2 and message in out and len(out.strip().splitlines()) == 1, out


def configs_of(run) -> dict:
    return {"method": config_dict(run.method_config),
            "augmentation": config_dict(run.aug_config) if run.aug_config else None,
            **run.evaluation.config()}


def test_every_installed_method_and_augmentation_config_is_rebuilt_exactly(tmp_path):
    plugins = load_plugins()
    scorers = [name for name in ("osr", "ood", "linear-probe") if name in {s.spec.name for s in plugins.scorers}]
    for method in plugins.methods:
        augmentations = [None] + ([a.spec.name for a in plugins.augmentations] if method.spec.accepts_augmentation else [])
        for augmentation in augmentations:
            original = Run(RunRequest(method=method.spec.name, augment=augmentation, scorers=scorers,
                                      results_dir=tmp_path), plugins)
            record = {"method": method.spec.name, "protocol": "digits", "augmentation": augmentation, "split": 0,
                      "seed": 0, "config": configs_of(original), "metrics": {}}
            again = Run(rerun_request(record, tmp_path, DataOptions(tmp_path), "cpu", True), plugins)
            assert configs_of(again) == configs_of(original), (method.spec.name, augmentation)
            assert again.label == original.label


@pytest.mark.slow
def test_a_record_made_without_the_health_check_and_with_postprocessors_reproduces(tmp_path, capsys):
    """An untrained model recorded with --no-health-check (lr=0) and scored by three postprocessors: the rerun
    keeps the check off (instead of stopping at it) and scores all three."""
    data, results = tmp_path / "data", tmp_path / "results"
    assert main(["run", *FAST, "--set", "lr=0", "--no-health-check", "--postprocessor", "msp,mls,energy",
                 "--results-dir", str(results), "--data-root", str(data)]) == 0
    path = next(results.rglob("split0-seed0.json"))
    record = json.loads(path.read_text())
    assert record["health_check"] is False and record["warnings"]
    assert rerun_request(record, tmp_path / "s", DataOptions(data), "cpu", True).health_check is False
    del record["health_check"]  # a record from before the field: its warnings say the check was off
    assert rerun_request(record, tmp_path / "s", DataOptions(data), "cpu", True).health_check is False
    code, out = run_cli(capsys, "reproduce", str(path), "--results-dir", str(tmp_path / "scratch"),
                        "--data-root", str(data))
    assert code == 0 and "DIFFERS" not in out, out
    assert {"msp/osr.auroc", "mls/osr.auroc", "energy/osr.auroc"} <= set(out.split())


def test_reproduce_removes_its_scratch_folder_also_when_it_fails(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, out = run_cli(capsys, "reproduce", str(tmp_path / "nowhere.json"))
    assert code == 2 and "no record at" in out
    assert not list(tmp_path.glob("osrbench-reproduce-*"))


def test_every_committed_record_rebuilds_its_config_and_a_gpu_record_says_it_needs_a_gpu(tmp_path, capsys):
    committed = sorted(Path(__file__).resolve().parents[1].glob("leaderboards/records/*/*/split*-seed*.json"))
    assert len(committed) >= 20
    for path in committed:
        record, run = prepare(path, tmp_path / "s", DataOptions(tmp_path / "data"), device="cpu", quiet=True)
        assert config_dict(run.method_config) == record["config"]["method"], path
        assert record["versions"]["git_revision"], path  # the source revision each record was made with
    if not torch.cuda.is_available():
        code, out = run_cli(capsys, "reproduce", str(committed[0]))
        assert code == 2 and "made on a GPU" in out and "config rebuilds exactly" in out


def test_a_record_older_than_the_recipe_options_is_migrated_with_the_values_its_run_resolved(tmp_path):
    committed = Path(__file__).resolve().parents[1] / "leaderboards" / "records" / "mnist" / "ce" / "split0-seed0.json"
    record = json.loads(committed.read_text())
    newer = ("width", "stem_stride", "crop", "crop_scale", "ema", "tta_shift")
    record["config"]["method"] = {k: v for k, v in record["config"]["method"].items() if k not in newer}
    old = tmp_path / "results" / "mnist" / "ce" / "split0-seed0.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps(record))
    migrated, run = prepare(old, tmp_path / "s", DataOptions(tmp_path / "data"), device="cpu", quiet=True)
    since_the_committed_records = {"flip", "lookahead"}  # their recipes stored neither: both default to auto
    assert set(migrated["migrated_options"]) == set(newer) | since_the_committed_records
    for key in newer:  # what the run used, not today's "auto" (which may resolve differently)
        assert getattr(run.method_config, key) == record["method_info"]["recipe"][key]
    assert (run.method_config.flip, run.method_config.lookahead) == ("auto", -1)  # resolve as those runs did: random flips, no lookahead


@pytest.mark.slow
def test_a_cpu_record_reruns_on_its_recorded_thread_count(digits_record, tmp_path, capsys):
    record = json.loads(digits_record.read_text())
    assert record["cost"]["cpu_threads"] == torch.get_num_threads()
    record["cost"]["cpu_threads"] = 1
    one = tmp_path / "results" / "digits" / record["label"] / "split0-seed0.json"
    one.parent.mkdir(parents=True)
    one.write_text(json.dumps(record))
    threads = torch.get_num_threads()
    run_cli(capsys, "reproduce", str(one), "--results-dir", str(tmp_path / "s"),
            "--data-root", str(digits_record.parents[3] / "data"))
    rerun = json.loads(next((tmp_path / "s").rglob("split0-seed0.json")).read_text())
    assert rerun["cost"]["cpu_threads"] == 1 and "1 thread)" in rerun["cost"]["device"]
    assert torch.get_num_threads() == threads  # restored for whatever runs next in this process


@pytest.mark.slow
def test_a_record_of_another_method_version_is_refused_with_the_revision_to_check_out(digits_record, tmp_path, capsys):
    record = json.loads(digits_record.read_text())
    record["method_version"] = "7"  # as if the plugin's default recipe had changed since
    edited = tmp_path / "results" / "digits" / record["label"] / "split0-seed0.json"
    edited.parent.mkdir(parents=True)
    edited.write_text(json.dumps(record))
    code, out = run_cli(capsys, "reproduce", str(edited), "--results-dir", str(tmp_path / "scratch"),
                        "--data-root", str(digits_record.parents[3] / "data"))
    assert code != 0 and "version 7 of method 'ce'" in out and "at version 1" in out, out
    assert f"git checkout {record['versions']['git_revision']}" in out and len(out.strip().splitlines()) == 1, out
    assert not any((tmp_path / "scratch").rglob("split0-seed0.json"))  # nothing was trained
