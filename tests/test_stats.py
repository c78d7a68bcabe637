"""Confidence intervals of leaderboard cells and the paired comparison of two rows (`osrbench compare`)."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from osrbench.cli import main
from osrbench.compare import compare
from osrbench.leaderboard import build_leaderboard
from osrbench.stats import format_estimate, mean_ci, paired_test
from committed_records import copy_cifar10_ce

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "leaderboards" / "records"


def run_cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def results(tmp_path) -> Path:
    target = tmp_path / "results"
    copy_cifar10_ce(target)
    return target


def auroc_of(results: Path, postprocessor: str, split: int) -> float:
    """The AUROC of the committed ce run of ``split`` scored by ``postprocessor``."""
    record = json.loads((results / "cifar10" / "ce" / f"split{split}-seed0.json").read_text())
    return record["metrics"][postprocessor]["osr"]["auroc"]


def test_mean_ci_is_the_student_t_interval_computed_by_hand():
    e = mean_ci([0.8, 0.9, 1.0])
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t(0.975, df=2) · s / √n
    assert (e.mean, e.n) == (pytest.approx(0.9), 3)
    assert (e.low, e.high) == (pytest.approx(0.9 - half), pytest.approx(0.9 + half))
    assert format_estimate(e) == f"0.9000 ± {half:.4f} (n=3)"


def test_a_single_run_shows_n_1_and_no_interval_and_missing_values_are_not_runs():
    assert format_estimate(mean_ci([0.75])) == "0.7500 (n=1)"
    assert mean_ci([0.5, float("nan"), 0.7]).n == 2
    assert format_estimate(mean_ci([])) == "-"


@given(st.lists(st.floats(0, 1), min_size=2, max_size=12))
def test_mean_ci_agrees_with_scipy_t_interval(values):
    e = mean_ci(values)
    x = np.asarray(values)
    if x.std(ddof=1) == 0:
        assert e.low == e.high == pytest.approx(x.mean())
        return
    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert (e.low, e.high) == (pytest.approx(low), pytest.approx(high))


def test_leaderboard_cells_are_mean_and_95_ci_over_the_committed_runs(results):
    board = build_leaderboard(results)
    values = [auroc_of(results, "mls", s) for s in range(5)]
    low, high = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
    cell = board["wide"]["osr.auroc"].set_index("method").loc["ce/mls", "cifar10"]
    assert cell == f"{np.mean(values):.4f} ± {(high - low) / 2:.4f} (n=5)"
    long = board["long"].set_index("method")
    assert long.loc["ce/mls", "osr.auroc_ci_low"] == pytest.approx(low)
    assert long.loc["ce/mls", "osr.auroc_n"] == 5


def test_a_cell_of_one_run_says_n_1(results):
    for split in range(1, 5):
        (results / "cifar10" / "ce" / f"split{split}-seed0.json").unlink()
    cell = build_leaderboard(results)["wide"]["osr.auroc"].set_index("method").loc["ce/msp", "cifar10"]
    assert cell == f"{auroc_of(results, 'msp', 0):.4f} (n=1)"


@pytest.mark.parametrize("epochs, paper, shown", [(80, None, ""), (600, 600, "paper's (600)"),
                                                  (100, 600, "cut short (paper: 600)")])
def test_the_cost_table_says_where_a_run_is_cut_short_of_its_papers_schedule(results, epochs, paper, shown):
    for path in (results / "cifar10" / "ce").glob("split*-seed0.json"):
        record = json.loads(path.read_text())
        record["cost"].update(epochs=epochs, paper_epochs=paper)
        path.write_text(json.dumps(record))
    cost = build_leaderboard(results)["cost"].set_index("method")
    assert cost.loc["ce/mls", "schedule"] == shown and cost.loc["ce/mls", "epochs"] == epochs


def test_paired_test_matches_scipy_references():
    a = np.array([0.91, 0.88, 0.93, 0.90, 0.87])
    b = np.array([0.89, 0.88, 0.90, 0.86, 0.88])
    test = paired_test(a, b)
    reference = stats.ttest_rel(a, b)
    ci = reference.confidence_interval(0.95)
    assert test.difference.mean == pytest.approx(np.mean(a - b)) and test.difference.n == 5
    assert (test.difference.low, test.difference.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert test.t_pvalue == pytest.approx(reference.pvalue)
    assert test.wilcoxon_pvalue == pytest.approx(stats.wilcoxon(a - b).pvalue)


def test_paired_test_edge_cases_say_what_is_missing():
    one = paired_test([0.9, float("nan")], [0.8, 0.7])  # the pair with a missing value is not used
    assert one.difference.n == 1 and math.isnan(one.t_pvalue) and "no test" in one.note
    zero = paired_test([0.9, 0.8, 0.7], [0.9, 0.8, 0.7])
    assert (zero.difference.low, zero.difference.high, zero.t_pvalue, zero.wilcoxon_pvalue) == (0, 0, 1, 1)
    assert "zero" in zero.note
    constant = paired_test([0.9, 0.8, 0.7], [0.8, 0.7, 0.6])
    assert constant.difference.mean == pytest.approx(0.1) and math.isnan(constant.t_pvalue)
    assert 0 < constant.wilcoxon_pvalue <= 1 and "no t-test" in constant.note


def test_compare_pairs_by_split_and_seed_and_lists_unpaired_runs(results, capsys):
    split3 = results / "cifar10" / "ce" / "split3-seed0.json"
    record = json.loads(split3.read_text())
    del record["metrics"]["msp"]  # split 3 scored by mls only
    split3.write_text(json.dumps(record))
    result = compare(results, "ce/mls", "ce/msp", "cifar10")
    assert result.paired == ["split0-seed0", "split1-seed0", "split2-seed0", "split4-seed0"]
    assert result.a_only == ["split3-seed0"] and result.b_only == []
    differences = [auroc_of(results, "mls", s) - auroc_of(results, "msp", s) for s in (0, 1, 2, 4)]
    test = result.tests["osr.auroc"]
    assert test.difference.mean == pytest.approx(np.mean(differences)) and test.difference.n == 4
    code, out = run_cli(capsys, "compare", "ce/mls", "ce/msp", "--protocol", "cifar10", "--results-dir", str(results))
    assert code == 0
    assert "paired runs (4): split0-seed0, split1-seed0, split2-seed0, split4-seed0" in out
    assert "unpaired runs of A (1): split3-seed0" in out and "unpaired runs of B (0): none" in out
    assert f"{np.mean(differences):+.4f}" in out and "Wilcoxon" in out


def test_compare_with_markup_in_a_name_prints_it_as_text(results, capsys):
    label = "[bold]x"
    for split in range(2):
        record = json.loads((results / "cifar10" / "ce" / f"split{split}-seed0.json").read_text())
        target = results / "cifar10" / label / f"split{split}-seed0.json"
        target.parent.mkdir(exist_ok=True)
        target.write_text(json.dumps({**record, "label": label}))
    code, out = run_cli(capsys, "compare", f"{label}/mls", "ce/msp", "--results-dir", str(results))
    assert code == 0 and "A = [bold]x/mls" in out and "[bold]x/mls vs ce/msp" in out


@pytest.mark.parametrize("args, message", [
    (["ce/mls", "nope"], "no runs of 'nope'; rows with runs: ce/mls, ce/msp"),
    (["ce/mls", "ce/mls"], "two different rows"),
    (["ce/mls", "ce/msp", "--protocol", "digits"], "no runs of 'ce/mls' on protocol 'digits'"),
    (["ce/mls", "ce/msp", "--metric", "osr.nope"], "no metric 'osr.nope'"),
])
def test_compare_bad_input_gives_one_line(results, capsys, args, message):
    code, out = run_cli(capsys, "compare", *args, "--results-dir", str(results))
    assert code == 2 and message in out and len(out.strip().splitlines()) == 1, out


def test_an_interval_past_the_bounds_of_a_proportion_is_clipped_and_says_n_too_small():
    e = mean_ci([0.9973, 0.8823], bounds=(0.0, 1.0))  # two runs: t(0.975, 1) = 12.7
    assert e.clipped and e.high == 1.0 and 0.0 <= e.low < e.mean
    assert format_estimate(e) == "0.9398 (n=2, n too small)"
    inside = mean_ci([0.90, 0.91, 0.92], bounds=(0.0, 1.0))
    assert not inside.clipped and format_estimate(inside).startswith("0.9100 ± ")
    assert not mean_ci([0.9973, 0.8823]).clipped  # no bounds (a difference A − B): the plain t interval
