"""Fault injection: each bad input of issue 13 ends in one clear line or a correct result, never a traceback."""

import json
import os
import shutil
from pathlib import Path

import pytest

from osrbench.api import OsrbenchError
from osrbench.cli import main
from osrbench.leaderboard import build_leaderboard, render
from osrbench.records import DamagedRecord, read_record, record_path

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "leaderboards" / "records"
FAST = ["--split", "0", "--set", "epochs=1", "--quiet"]


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
    """A copy of the committed cifar10 records (two labels, five splits each)."""
    target = tmp_path / "results"
    shutil.copytree(COMMITTED, target, ignore=shutil.ignore_patterns("*.png"))
    return target


def mls_record(results: Path, split: int = 0) -> Path:
    return results / "cifar10" / "mls" / f"split{split}-seed0.json"


# --------------------------------------------------------------------------- damaged records

DAMAGE = {
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "empty object": lambda text: "{}",
    "non-object": lambda text: "[1, 2, 3]",
    "missing field": lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "label"}),
    "ill-typed split": lambda text: json.dumps({**json.loads(text), "split": "0"}),
    "metric as text": lambda text: json.dumps(
        {**json.loads(text), "metrics": {"osr": {**json.loads(text)["metrics"]["osr"], "auroc": "0.9"}}}),
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
    row = next(line for line in out.splitlines() if line.startswith("mls,"))
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
    del record["metrics"]["osr"]["auroc"]
    path.write_text(json.dumps(record))
    board = build_leaderboard(results)
    auroc = board["wide"]["osr.auroc"].set_index("method")["cifar10"]
    oscr = board["wide"]["osr.oscr"].set_index("method")["cifar10"]
    assert auroc["mls"].endswith("(n=4)") and oscr["mls"].endswith("(n=5)") and auroc["msp"].endswith("(n=5)")
    long = board["long"].set_index("method")
    assert long.loc["mls", "osr.auroc_n"] == 4 and long.loc["mls", "splits"] == 5
    expected = sum(json.loads(mls_record(results, s).read_text())["metrics"]["osr"]["auroc"] for s in (0, 1, 2, 4)) / 4
    assert long.loc["mls", "osr.auroc_mean"] == pytest.approx(expected)


def test_copies_in_subfolders_are_not_read(results):
    before = build_leaderboard(results)["long"].set_index("method")
    shutil.copytree(results / "cifar10", results / "backup" / "cifar10")
    shutil.copytree(results / "cifar10" / "mls", results / "backup" / "mls")  # backup/mls looks canonical
    board = build_leaderboard(results)
    after = board["long"].set_index("method")
    assert after.loc["mls", "splits"] == 5 and after.loc["mls", "train_seconds"] == before.loc["mls", "train_seconds"]
    assert after.loc["mls", "osr.auroc_std"] == before.loc["mls", "osr.auroc_std"]
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
    import subprocess
    import sys

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
    assert read_record(path)["metrics"]["osr"]["auroc"] == pytest.approx(good["metrics"]["osr"]["auroc"])


def test_the_source_revision_is_recorded_without_git(monkeypatch, tmp_path):
    from osrbench import records

    monkeypatch.setattr(records, "REVISION_FILE", tmp_path / "REVISION")  # a tree copied without .git
    monkeypatch.delenv("OSRBENCH_REVISION", raising=False)
    assert records.git_revision.__wrapped__() is None
    (tmp_path / "REVISION").write_text("0123abcd\n")
    assert records.git_revision.__wrapped__() == "0123abcd"
    monkeypatch.setenv("OSRBENCH_REVISION", "feedbeef")
    assert records.git_revision.__wrapped__() == "feedbeef"
