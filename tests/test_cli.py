"""End-to-end: the command line on the bundled digits protocol, records, resume, errors."""

import json
import re
from pathlib import Path

import pytest

from osrbench.cli import main
from osrbench.leaderboard import REGENERATE, build_leaderboard, render
from committed_records import copy_cifar10_ce

ROOT = Path(__file__).resolve().parents[1]
# One epoch that learns digits (the training-health guard rejects a model at chance level).
QUICK = ["--set", "epochs=1", "batch_size=32", "lr=0.02"]
TINY = [*QUICK, "--quiet"]


def run_cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.slow
def test_run_writes_one_complete_record_per_split_and_skips_finished_ones(tmp_path, capsys):
    res = tmp_path / "res"
    code, out = run_cli(capsys, "run", "--split", "0,1", "--results-dir", str(res), "--data-root", str(tmp_path), *TINY)
    assert code == 0 and "mean ± std" in out
    label = next((res / "digits").iterdir()).name
    assert label.startswith("ce@")  # non-default options, so the run is kept apart
    paths = sorted((res / "digits" / label).glob("*.json"))
    assert [p.name for p in paths] == ["split0-seed0.json", "split1-seed0.json"]
    record = json.loads(paths[0].read_text())
    assert set(record["metrics"]) == {"msp", "mls"}  # ce's default postprocessors, from one training
    assert set(record["metrics"]["msp"]["osr"]) >= {"auroc", "oscr", "macro_f1", "accuracy"}
    assert 0.0 <= record["metrics"]["mls"]["osr"]["auroc"] <= 1.0
    assert record["config"]["postprocessors"] == {"msp": {}, "mls": {}} and record["schema"] == 2
    assert record["config"]["method"]["epochs"] == 1
    assert record["overrides"] == {"method": {"epochs": 1, "batch_size": 32, "lr": 0.02}}
    assert record["split_family"] == "osrbench-digits" and record["data_fingerprint"]
    assert record["cost"]["parameters"] > 0 and record["versions"]["torch"]
    assert not list((res / "digits" / label).glob("**/*.ckpt"))  # checkpoints go once the record is safe
    before = paths[0].stat().st_mtime_ns
    code, out = run_cli(capsys, "run", "--split", "0", "--results-dir", str(res), "--data-root", str(tmp_path), *QUICK)
    assert "skipped" in out and paths[0].stat().st_mtime_ns == before
    code, out = run_cli(capsys, "run", "--split", "0", "--force", "--results-dir", str(res),
                        "--data-root", str(tmp_path), *TINY)
    assert paths[0].stat().st_mtime_ns != before


@pytest.mark.slow
def test_a_nan_loss_stops_the_run_and_writes_no_record(tmp_path, capsys):
    res = tmp_path / "res"
    code, out = run_cli(capsys, "run", "--split", "0", "--results-dir", str(res), "--data-root", str(tmp_path),
                        *TINY, "--set", "lr=1e30")
    assert code == 2 and "loss became" in out
    assert not list(res.rglob("*.json"))


@pytest.mark.slow
def test_third_party_method_and_scorer_run_through_the_harness(tmp_path, capsys):
    pytest.importorskip("osrbench_example", reason="install tests/example_plugin (see README)")
    res = tmp_path / "res"
    code, out = run_cli(capsys, "run", "--method", "nearest-mean", "--scorer", "osr,mean-score", "--split", "0",
                        "--results-dir", str(res), "--data-root", str(tmp_path), "--quiet")
    assert code == 0
    record = json.loads(next(res.rglob("*.json")).read_text())
    assert record["metrics"]["nearest-mean"]["osr"]["accuracy"] > 0.5
    assert "mean_known_score" in record["metrics"]["nearest-mean"]["mean-score"]


@pytest.mark.parametrize("args, message", [
    (["run", "--method", "cee"], "Did you mean 'ce'"),
    (["run", "--protocol", "cifar11"], "Known protocols:"),
    (["run", "--set", "epoch=1"], "valid keys:"),
    (["run", "--split", "9"], "splits 0..4"),
    (["run", "--augment", "nothing-like-this"], "unknown augmentation"),
    (["run", "--scorer", "osr,nope"], "unknown scorer 'nope'"),
    (["run", "--device", "tpu"], "expected cpu, cuda"),
])
def test_bad_input_gives_one_clear_line(args, message, capsys, tmp_path):
    code, out = run_cli(capsys, *args, "--results-dir", str(tmp_path))
    assert code == 2 and message in out and "Traceback" not in out


def test_list_shows_plugins_with_their_distribution(capsys):
    code, out = run_cli(capsys, "list", "methods", "-v")
    assert code == 0 and "msp" in out and "osrbench" in out and "epochs" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and "osrbench" in capsys.readouterr().out


def test_committed_leaderboard_tables_equal_what_the_committed_records_produce():
    board = build_leaderboard(ROOT / "leaderboards" / "records")
    md = (ROOT / "leaderboards" / "leaderboard.md").read_text()
    csv = (ROOT / "leaderboards" / "leaderboard.csv").read_text()
    assert md.split("-->", 1)[1].strip() == render(board, "md", link_base=ROOT / "leaderboards").strip(), "run: " + REGENERATE
    assert csv == render(board, "csv")
    page = (ROOT / "leaderboards" / "leaderboard.html").read_text()
    assert without_drawn_pixels(page) == without_drawn_pixels(render(board, "html", link_base=ROOT / "leaderboards")), "run: " + REGENERATE


# The scatter is drawn at build time; its PNG bytes depend on the matplotlib and FreeType builds, everything
# else in the page (tables, names, the runs' stored plots) must match exactly.
SCATTER_PIXELS = re.compile(r'(<img class="scatter" alt="[^"]*" src="data:image/png;base64,)[A-Za-z0-9+/=]+"')


def without_drawn_pixels(page: str) -> str:
    assert SCATTER_PIXELS.search(page)
    return SCATTER_PIXELS.sub(r'\1..."', page)


def test_leaderboard_keeps_results_on_different_data_copies_apart(tmp_path):
    source = copy_cifar10_ce(tmp_path / "committed") / "cifar10" / "ce" / "split0-seed0.json"
    record = json.loads(source.read_text())
    for split, fingerprint in [(0, "aaaa1111aaaa1111"), (1, "bbbb2222bbbb2222")]:
        path = tmp_path / "board" / record["protocol"] / "x" / f"split{split}-seed0.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**record, "label": "x", "split": split, "data_fingerprint": fingerprint}))
    rows = build_leaderboard(tmp_path / "board")["wide"]["osr.auroc"]["method"].tolist()
    assert rows == ["x/mls [data aaaa1111]", "x/mls [data bbbb2222]", "x/msp [data aaaa1111]", "x/msp [data bbbb2222]"]


def test_set_takes_several_pairs(capsys, tmp_path):
    code, out = run_cli(capsys, "run", "--set", "epochs=1", "batch_size=64", "lr=oops", "--results-dir", str(tmp_path))
    assert code == 2 and "--set lr=oops: expected a float" in out
