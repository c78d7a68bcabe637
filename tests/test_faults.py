"""Fault injection: each bad input of issue 13 ends in one clear line or a correct result, never a traceback."""

import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

import osrbench
from osrbench import DataOptions, MethodSpec, OpenSetModel, Prediction, RunContext, ScorerSpec, cli, metrics, ood_metrics
from osrbench.api import OsrbenchError
from osrbench.cli import main
from osrbench.health import ContractViolation
from osrbench.leaderboard import build_leaderboard, render
from osrbench.plugins import build_plugins
from osrbench.progress import Progress
from osrbench.records import DamagedRecord, read_record, record_path
from osrbench.runner import Run, RunRequest
from osrbench.training import train_epochs
from committed_records import copy_cifar10_ce
from interrupts import ctrl_c_after_epoch

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "leaderboards" / "records"
# One epoch that learns digits (the training-health guard rejects a model at chance level).
FAST = ["--split", "0", "--set", "epochs=1", "batch_size=32", "lr=0.02", "--quiet"]


def run_cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def one_line_error(code: int, out: str, *needles: str) -> None:
    assert code == 2, out
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    for needle in needles:
        assert needle in out, (needle, out)


@pytest.fixture
def results(tmp_path) -> Path:
    """A copy of the committed cifar10 records (label ce, postprocessors msp and mls, five splits)."""
    target = tmp_path / "results"
    copy_cifar10_ce(target)
    return target


def mls_record(results: Path, split: int = 0) -> Path:
    return results / "cifar10" / "ce" / f"split{split}-seed0.json"


# --------------------------------------------------------------------------- damaged records

DAMAGE = {
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "empty object": lambda text: "{}",
    "non-object": lambda text: "[1, 2, 3]",
    "missing field": lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "label"}),
    "ill-typed split": lambda text: json.dumps({**json.loads(text), "split": "0"}),
    "metric as text": lambda text: json.dumps(
        {**json.loads(text), "metrics": {"mls": {"osr": {**json.loads(text)["metrics"]["mls"]["osr"], "auroc": "0.9"}}}}),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_record_is_named_with_its_path_and_reason(results, damage):
    path = mls_record(results)
    path.write_text(DAMAGE[damage](path.read_text()))
    with pytest.raises(DamagedRecord) as info:
        read_record(path)
    assert str(path) in str(info.value) and info.value.reason


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_leaderboard_leaves_a_damaged_record_out_with_a_warning_and_strict_fails(results, damage, capsys):
    path = mls_record(results, 2)
    path.write_text(DAMAGE[damage](path.read_text()))
    code, out = run_cli(capsys, "leaderboard", "--results-dir", str(results), "--format", "csv")
    assert code == 0 and "warning: left out 1 damaged record" in out and str(path) in out
    row = next(line for line in out.splitlines() if line.startswith("ce/mls,"))
    assert row.split(",")[2] == "4"  # splits: the damaged one is not counted
    code, out = run_cli(capsys, "leaderboard", "--results-dir", str(results), "--strict")
    one_line_error(code, out, str(path), "--strict")


def test_report_names_a_damaged_record(results, capsys):
    path = mls_record(results)
    path.write_text("{")
    code, out = run_cli(capsys, "report", str(path))
    one_line_error(code, out, str(path), "not valid JSON")


def test_a_missing_metric_gives_a_smaller_n_in_its_cell_only(results):
    path = mls_record(results, 3)
    record = json.loads(path.read_text())
    del record["metrics"]["mls"]["osr"]["auroc"]
    path.write_text(json.dumps(record))
    board = build_leaderboard(results)
    auroc = board["wide"]["osr.auroc"].set_index("method")["cifar10"]
    oscr = board["wide"]["osr.oscr"].set_index("method")["cifar10"]
    assert auroc["ce/mls"].endswith("(n=4)") and oscr["ce/mls"].endswith("(n=5)") and auroc["ce/msp"].endswith("(n=5)")
    long = board["long"].set_index("method")
    assert long.loc["ce/mls", "osr.auroc_n"] == 4 and long.loc["ce/mls", "splits"] == 5
    expected = sum(json.loads(mls_record(results, s).read_text())["metrics"]["mls"]["osr"]["auroc"]
                   for s in (0, 1, 2, 4)) / 4
    assert long.loc["ce/mls", "osr.auroc_mean"] == pytest.approx(expected)


def test_copies_in_subfolders_are_not_read(results):
    before = build_leaderboard(results)["long"].set_index("method")
    shutil.copytree(results / "cifar10", results / "backup" / "cifar10")
    shutil.copytree(results / "cifar10" / "ce", results / "backup" / "ce")  # backup/ce looks canonical
    board = build_leaderboard(results)
    after = board["long"].set_index("method")
    assert after.loc["ce/mls", "splits"] == 5
    assert after.loc["ce/mls", "train_seconds"] == before.loc["ce/mls", "train_seconds"]
    assert after.loc["ce/mls", "osr.auroc_std"] == before.loc["ce/mls", "osr.auroc_std"]
    assert set(board["long"]["protocol"]) == {"cifar10"}
    assert {d.path.parent.parent.name for d in board["damaged"]} == {"backup"}  # named, not counted


# --------------------------------------------------------------------------- names that reach files, rich, markdown

def test_a_record_path_outside_the_results_dir_is_refused(tmp_path):
    with pytest.raises(OsrbenchError, match="outside the results dir"):
        record_path(tmp_path / "results", "../../../x", "msp", 0, 0)
    with pytest.raises(OsrbenchError, match="outside the results dir"):
        record_path(tmp_path / "results", "digits", "..", 0, 0)


def test_names_with_pipes_and_html_do_not_break_markdown_or_html(results):
    for split in range(5):
        path = mls_record(results, split)
        record = json.loads(path.read_text())
        record["label"] = "a|b<script>x"
        target = results / "cifar10" / record["label"] / path.name
        target.parent.mkdir(exist_ok=True)
        target.write_text(json.dumps(record))
    board = build_leaderboard(results)
    md = render(board, "md")
    assert "<script>" not in md and "a\\|b&lt;script&gt;" in md
    for table in md.split("###")[1:]:  # every row of a table has as many cell borders as its header
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert len({line.count("|") - line.count("\\|") for line in rows}) <= 1, table
    page = render(board, "html")
    assert "a|b<script>x" not in page and "a|b&lt;script&gt;x" in page


@pytest.mark.parametrize("name", ["[/bold]", "[blink red]x"])
def test_markup_in_a_name_is_shown_literally(name, capsys, tmp_path):
    code, out = run_cli(capsys, "run", "--method", name, "--results-dir", str(tmp_path))
    one_line_error(code, out, f"unknown method {name!r}")


# --------------------------------------------------------------------------- config validation before data

@pytest.mark.parametrize("setting, message", [
    ("lr=nan", "expected a finite number"),
    ("lr=inf", "expected a finite number"),
    ("momentum=-5", "momentum=-5.0: must lie in [0, 1)"),
    ("label_smoothing=5", "label_smoothing=5.0: must lie in [0, 1)"),
    ("weight_decay=-1", "weight_decay=-1.0: must not be negative"),
    ("lr=-0.1", "lr=-0.1: must not be negative"),
    ("osr.tpr=nan", "expected a finite number"),
    ("osr.batch_size=0", "osr.batch_size=0"),
])
def test_bad_settings_are_rejected_before_any_data_is_loaded(setting, message, capsys, tmp_path):
    empty_root = tmp_path / "no-data-here"
    code, out = run_cli(capsys, "run", "--set", setting, "--results-dir", str(tmp_path / "r"),
                        "--data-root", str(empty_root), "--quiet")
    one_line_error(code, out, message)
    assert not empty_root.exists() and not (tmp_path / "r").exists()


def test_a_repeated_split_is_rejected(capsys, tmp_path):
    code, out = run_cli(capsys, "run", "--split", "0,0", "--results-dir", str(tmp_path))
    one_line_error(code, out, "split 0 more than once")


# --------------------------------------------------------------------------- results dir

def test_a_results_dir_that_is_a_file_is_one_line(capsys, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    code, out = run_cli(capsys, "run", "--results-dir", str(target), "--data-root", str(tmp_path), *FAST)
    one_line_error(code, out, "is a file")


def test_a_read_only_results_dir_is_one_line(capsys, tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    target.chmod(0o555)
    try:
        code, out = run_cli(capsys, "run", "--results-dir", str(target), "--data-root", str(tmp_path), *FAST)
        one_line_error(code, out, "not writable")
    finally:
        target.chmod(0o755)


def test_a_results_dir_below_a_file_is_one_line(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, out = run_cli(capsys, "run", "--results-dir", str(tmp_path / "file" / "sub"), "--data-root", str(tmp_path),
                        *FAST)
    one_line_error(code, out, "not writable")


def test_leaderboard_into_a_closed_pipe_ends_quietly(results):
    proc = subprocess.Popen([sys.executable, "-m", "osrbench.cli", "leaderboard", "--results-dir", str(results),
                             "--format", "csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head -1` that has read its line: nothing reads any more
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


@pytest.mark.slow
def test_run_moves_a_damaged_record_aside_and_reruns_the_split(capsys, tmp_path):
    res = tmp_path / "res"
    args = ["run", "--results-dir", str(res), "--data-root", str(tmp_path), *FAST]
    assert run_cli(capsys, *args)[0] == 0
    (path,) = res.glob("digits/*/split0-seed0.json")
    good = json.loads(path.read_text())
    path.write_text(path.read_text()[:100])
    code, out = run_cli(capsys, *args)
    assert code == 0 and "moved it to split0-seed0.json.corrupt" in out
    assert path.with_name("split0-seed0.json.corrupt").read_text() == json.dumps(good, indent=1, sort_keys=True)[:100]
    assert read_record(path)["metrics"]["msp"]["osr"]["auroc"] == pytest.approx(good["metrics"]["msp"]["osr"]["auroc"])


def test_the_source_revision_is_recorded_without_git(monkeypatch, tmp_path):
    from osrbench import records

    monkeypatch.setattr(records, "REVISION_FILE", tmp_path / "REVISION")  # a tree copied without .git
    monkeypatch.delenv("OSRBENCH_REVISION", raising=False)
    assert records.git_revision.__wrapped__() is None
    (tmp_path / "REVISION").write_text("0123abcd\n")
    assert records.git_revision.__wrapped__() == "0123abcd"
    monkeypatch.setenv("OSRBENCH_REVISION", "feedbeef")
    assert records.git_revision.__wrapped__() == "feedbeef"


def test_a_set_revision_wins_over_a_stale_git_checkout(monkeypatch):
    """A tree copied to a GPU machine can carry the .git of an older commit: the revision the user names wins."""
    from osrbench import records

    monkeypatch.setattr(records, "_git_head", lambda source: "0ld0ld-dirty")
    monkeypatch.setenv("OSRBENCH_REVISION", "feedbeef")
    assert records.git_revision.__wrapped__() == "feedbeef"
    monkeypatch.delenv("OSRBENCH_REVISION")
    assert records.git_revision.__wrapped__() == "0ld0ld-dirty"


# --------------------------------------------------------------------------- training health (issue 8)

@pytest.mark.slow
def test_lr_zero_fails_the_health_check_and_leaves_no_record_or_folder(capsys, tmp_path):
    res = tmp_path / "res"
    code, out = run_cli(capsys, "run", "--results-dir", str(res), "--data-root", str(tmp_path), *FAST,
                        "--set", "lr=0", "epochs=2")
    one_line_error(code, out, "split 0, seed 0", "did not learn", "learning rate")
    assert res.is_dir() and not any(res.iterdir())  # no record, no empty LABEL/splitN-seedS/ folder


@pytest.mark.slow
def test_a_smoke_run_that_did_not_learn_says_to_raise_the_limit(capsys, tmp_path):
    code, out = run_cli(capsys, "run", "--results-dir", str(tmp_path / "res"), "--data-root", str(tmp_path),
                        "--split", "0", "--limit", "3", "--quiet", "--set", "lr=0", "epochs=2")
    one_line_error(code, out, "did not learn", "--limit 3 smoke run", "raise --limit", "--no-health-check")


@pytest.mark.slow
def test_no_health_check_records_the_untrained_model_with_a_warning(capsys, tmp_path):
    res = tmp_path / "res"
    code, out = run_cli(capsys, "run", "--results-dir", str(res), "--data-root", str(tmp_path), *FAST,
                        "--set", "lr=0", "--no-health-check")
    assert code == 0
    (path,) = res.glob("digits/*/split0-seed0.json")
    assert "did not learn" in read_record(path)["warnings"][0]


# --------------------------------------------------------------------------- the model contract

class BadOutputs:
    """A method plugin whose model gives the right classes (nearest class mean) in a wrong form."""

    def __init__(self, mode: str):
        self.mode = mode

    @osrbench.hookimpl
    def osrbench_methods(self):
        return [MethodSpec("bad-outputs", "breaks the predict contract", EmptyConfig, self.fit)]

    def fit(self, split, config, ctx):
        return NearestMean(split, self.mode)


@dataclass
class EmptyConfig:
    pass


class NearestMean(OpenSetModel):
    def __init__(self, split, mode: str):
        super().__init__()
        x = split.train_images.float().flatten(1) / 255
        self.means = torch.stack([x[split.train_labels == k].mean(0) for k in range(split.num_classes)])
        self.mode = mode

    def predict(self, images):
        self.calls = getattr(self, "calls", 0) + 1
        distance = torch.cdist(images.flatten(1), self.means)
        scores, labels = (-distance).max(dim=1)
        if self.mode == "nan":
            scores = scores.clone()
            scores[::7] = float("nan")
        elif self.mode == "inf":
            scores = scores.clone()
            scores[0] = float("inf")
        elif self.mode == "column":
            scores = scores[:, None]
        elif self.mode == "list":
            labels = labels.tolist()
        elif self.mode == "int32":
            labels = labels.int()
        elif self.mode == "short":
            scores = scores[:-1]
        elif self.mode == "late" and self.calls > 1:  # an out-of-range label after the contract check's call
            labels = labels.clone()
            labels[-1] = len(self.means)
        return Prediction(labels, scores)


@pytest.mark.parametrize("mode, rule", [
    ("nan", "scores must be finite"), ("inf", "scores must be finite"), ("column", "scores must be 1-D"),
    ("list", "labels must be a torch.Tensor"), ("int32", "labels must be int64"), ("short", "scores must be 1-D"),
])
def test_a_broken_predict_is_one_line_naming_the_plugin_and_the_rule(mode, rule, tmp_path):
    plugins = build_plugins(extra={"bad": BadOutputs(mode)})
    request = RunRequest(method="bad-outputs", splits=[0], results_dir=tmp_path / "res", quiet=True,
                         data=DataOptions(tmp_path))
    with pytest.raises(ContractViolation) as info:
        Run(request, plugins).execute()
    message = str(info.value)
    assert "method 'bad-outputs'" in message and rule in message and "\n" not in message
    assert not list((tmp_path / "res").rglob("*.json"))


def test_the_working_model_passes_the_contract(tmp_path):
    plugins = build_plugins(extra={"good": BadOutputs("none")})
    request = RunRequest(method="bad-outputs", splits=[0], results_dir=tmp_path / "res", quiet=True,
                         data=DataOptions(tmp_path))
    (record,) = Run(request, plugins).execute()
    assert record["metrics"]["bad-outputs"]["osr"]["accuracy"] > 0.8 and record["cost"]["attempts"] == 1


class FailingScorer:
    @osrbench.hookimpl
    def osrbench_scorers(self):
        def score(model, split, config, ctx):
            raise OsrbenchError("cannot score today")
        return [ScorerSpec("fails", "always fails", EmptyConfig, score)]


@pytest.mark.slow
def test_a_scoring_failure_is_recorded_and_the_rerun_scores_it_again_without_training(tmp_path):
    plugins = build_plugins(extra={"fails": FailingScorer()})
    overrides = {"epochs": "1", "batch_size": "32", "lr": "0.02"}
    request = RunRequest(splits=[0], results_dir=tmp_path / "res", data=DataOptions(tmp_path), quiet=True,
                         scorers=["osr", "fails"], overrides=overrides)
    (record,) = Run(request, plugins).execute()
    assert record["failures"]["msp"]["fails"] == "postprocessor 'msp', scorer 'fails': cannot score today"
    assert record["metrics"]["msp"]["osr"]["auroc"] > 0.5 and "fails" not in record["metrics"]["msp"]
    assert read_record(next((tmp_path / "res").rglob("split0-seed0.json"))) == record
    logs = io.StringIO()
    progress = Progress(console=Console(file=logs, width=300))
    request = RunRequest(splits=[0], results_dir=tmp_path / "res", data=DataOptions(tmp_path), overrides=overrides,
                         scorers=["osr", "fails"])
    run = Run(request, plugins)
    (again,) = run.execute(progress)
    assert run.trained == [] and "scoring them from the kept weights" in logs.getvalue()
    assert "fails" in again["failures"]["msp"] and again["metrics"]["msp"]["osr"] == record["metrics"]["msp"]["osr"]


# --------------------------------------------------------------------------- metrics

@pytest.mark.parametrize("metric, call", [
    ("auroc", lambda k, u: metrics.auroc(k, u)),
    ("oscr", lambda k, u: metrics.oscr(k, np.zeros(len(k), int), np.zeros(len(k), int), u)),
    ("macro_f1", lambda k, u: metrics.macro_f1_at_tpr(k, np.zeros(len(k), int), np.zeros(len(k), int), u,
                                                      np.zeros(len(u), int), 2)),
    ("threshold_at_tpr", lambda k, u: metrics.threshold_at_tpr(k)),
    ("tnr_at_tpr", lambda k, u: ood_metrics.tnr_at_tpr(k, u)),
    ("dtacc", lambda k, u: ood_metrics.dtacc(k, u)),
    ("auin", lambda k, u: ood_metrics.auin(k, u)),
])
def test_nan_scores_are_one_error_naming_the_metric(metric, call):
    rng = np.random.default_rng(0)
    known, unknown = rng.normal(1, 1, 200), rng.normal(0, 1, 100)
    known[::40] = np.nan
    with pytest.raises(OsrbenchError, match=f"^{metric}: known scores contain 5 NaN|^{metric}: in-distribution"):
        call(known, unknown)


def test_metrics_reject_wrong_shapes_and_an_empty_known_set():
    with pytest.raises(OsrbenchError, match=r"auroc: known scores must be 1-D .* shape \(3, 1\)"):
        metrics.auroc(np.ones((3, 1)), np.zeros(3))
    with pytest.raises(OsrbenchError, match="oscr: known scores is empty"):
        metrics.oscr([], [], [], [0.1])
    with pytest.raises(OsrbenchError, match="oscr: lengths differ"):
        metrics.oscr([0.5, 0.6], [0], [0, 1], [0.1])


@pytest.mark.parametrize("tpr", [0.55, 0.95, 0.7, 0.35, 1.0])
@pytest.mark.parametrize("n", [20, 100, 7, 60])
def test_osr_and_ood_use_one_threshold_rule(tpr, n):
    known = np.arange(n, dtype=float)
    unknown = np.arange(n, dtype=float) - 0.5
    t = metrics.threshold_at_tpr(known, tpr)
    assert (known >= t).sum() == metrics.kept_count(tpr, n)
    assert (known >= t).mean() >= tpr - 1e-9 and ((known > t).mean() < tpr - 1e-9)
    assert ood_metrics.tnr_at_tpr(known, unknown, tpr) == (unknown < t).mean()
    assert metrics.kept_count(0.55, 20) == 11  # 0.55 * 20 = 11.000000000000002 in floating point


# --------------------------------------------------------------------------- checkpoints

class WritesAFile:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (Path(self.target).write_text, ("pwned",))


def tiny_training(work_dir: Path, epochs: int = 3, interrupt_at: int | None = None):
    torch.manual_seed(0)
    ctx = RunContext(device=torch.device("cpu"), seed=0, work_dir=work_dir, progress=Progress(quiet=True))
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = [torch.randn(8, 2, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    calls = []

    def step(x):
        calls.append(1)
        if interrupt_at is not None and len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return model(x).pow(2).mean()

    stats = train_epochs(ctx, modules={"m": model}, optimizer=opt, epochs=epochs, batches=lambda e: data, step=step)
    return model, stats, calls


def test_a_crafted_checkpoint_does_not_run_code_and_is_moved_aside(tmp_path):
    target = tmp_path / "pwned.txt"
    (tmp_path / "train.ckpt").write_bytes(pickle.dumps({"epoch": WritesAFile(str(target))}, protocol=2))
    model, _, calls = tiny_training(tmp_path)
    assert not target.exists()
    assert (tmp_path / "train.ckpt.corrupt").exists() and len(calls) == 9  # trained from scratch


def test_the_nas_osr_search_checkpoint_is_read_as_data_only():
    source = (ROOT / "plugins" / "osrbench_nasosr" / "search.py").read_text()
    assert "weights_only=False" not in source and "load_checkpoint(path, ctx)" in source


def test_a_truncated_checkpoint_is_reported_moved_aside_and_training_starts_over(tmp_path):
    reference, _, _ = tiny_training(tmp_path / "a")
    tiny_training(tmp_path / "b")
    ckpt = tmp_path / "b" / "train.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    model, _, calls = tiny_training(tmp_path / "b")
    assert len(calls) == 9 and (tmp_path / "b" / "train.ckpt.corrupt").exists()
    assert torch.equal(model.weight, reference.weight)


def test_ctrl_c_checkpoints_the_last_whole_epoch_and_the_resume_is_exact(tmp_path):
    reference, _, _ = tiny_training(tmp_path / "a", epochs=4)
    with pytest.raises(KeyboardInterrupt):
        tiny_training(tmp_path / "b", epochs=4, interrupt_at=8)  # during epoch 3 (no 60 s checkpoint yet)
    assert torch.load(tmp_path / "b" / "train.ckpt", weights_only=True)["epoch"] == 2
    model, _, calls = tiny_training(tmp_path / "b", epochs=4)
    assert len(calls) == 6 and torch.equal(model.weight, reference.weight)


@pytest.mark.slow
def test_ctrl_c_in_a_run_then_rerun_records_all_attempts(capsys, tmp_path, monkeypatch):
    res = tmp_path / "res"
    args = ["run", "--results-dir", str(res), "--data-root", str(tmp_path), "--split", "0", "--quiet",
            "--set", "epochs=3", "batch_size=32", "lr=0.02"]
    with ctrl_c_after_epoch(monkeypatch, 1):  # in epoch two
        code, out = run_cli(capsys, *args)
    assert code == 130 and out.strip().startswith("interrupted: no record") and len(out.strip().splitlines()) == 1
    assert not list(res.rglob("split*.json")) and list(res.rglob("train.ckpt"))
    first = json.loads(next(res.rglob("attempts.json")).read_text())
    assert first["attempts"] == 1 and first["train_seconds"] > 0
    assert run_cli(capsys, *args)[0] == 0
    (record,) = [read_record(p) for p in res.rglob("split0-seed0.json")]
    assert record["cost"]["attempts"] == 2 and record["cost"]["resumed"] is True
    assert record["cost"]["train_seconds"] > first["train_seconds"]
    straight = tmp_path / "straight"
    assert run_cli(capsys, *[a if a != str(res) else str(straight) for a in args])[0] == 0
    (uninterrupted,) = [read_record(p) for p in straight.rglob("split0-seed0.json")]
    assert record["metrics"] == uninterrupted["metrics"]  # the resume is exact
    assert uninterrupted["cost"]["attempts"] == 1 and uninterrupted["cost"]["resumed"] is False


WRITER = """
import sys
from pathlib import Path
from osrbench.records import read_record, write_record
record = {**read_record(Path(sys.argv[2])), "payload": ["x" * 1000] * 5000}
i = 0
while True:
    i += 1
    write_record({**record, "i": i}, Path(sys.argv[1]))
    print(i, flush=True)
"""


def test_a_writer_killed_mid_write_never_leaves_a_truncated_record(tmp_path):
    path = tmp_path / "split0-seed0.json"
    for delay in (0.05, 0.2, 0.5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(COMMITTED / "cifar10/ce/split0-seed0.json")],
                                stdout=subprocess.PIPE)
        proc.stdout.readline()  # one record is complete
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert json.loads(path.read_text())["i"] >= 1  # whole: the old or the new file, never a part


# --------------------------------------------------------------------------- --debug and unexpected errors

def test_debug_shows_the_traceback(capsys, tmp_path):
    code, out = run_cli(capsys, "--debug", "run", "--split", "0,0", "--results-dir", str(tmp_path))
    assert code == 2 and "Traceback" in out and "more than once" in out


def test_an_unexpected_exception_is_one_line_with_a_report_file(capsys, tmp_path, monkeypatch):
    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(cli.COMMANDS, "list", broken)
    code, out = run_cli(capsys, "list")
    assert code == 1 and len(out.strip().splitlines()) == 1 and "Traceback" not in out
    report = Path(out.split("full report in ")[1].strip())
    assert "ZeroDivisionError" in report.read_text()
    report.unlink()
    monkeypatch.setenv("OSRBENCH_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["list"])
