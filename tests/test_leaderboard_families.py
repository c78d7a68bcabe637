"""The other scorers' metrics on the leaderboard: one table per family (an OOD set, a linear probe, corruptions),
in markdown, HTML and CSV, only where the records carry them."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from osrbench.leaderboard import build_leaderboard, metric_families, render
from committed_records import COMMITTED, copy_cifar10_ce

OOD_AUROC = {0: 0.81, 1: 0.84, 2: 0.86}  # ce/mls against "svhn", splits 0-2


@pytest.fixture
def results(tmp_path) -> Path:
    return copy_cifar10_ce(tmp_path / "results")


def add_ood(results: Path, auroc: dict[int, float]) -> None:
    """ood metrics against "svhn" for ce/mls on the splits of ``auroc`` (TNR half the AUROC), with a nested fact."""
    for split, value in auroc.items():
        path = results / "cifar10" / "ce" / f"split{split}-seed0.json"
        record = json.loads(path.read_text())
        record["metrics"]["mls"]["ood"] = {"svhn.auroc": value, "svhn.tnr_at_95tpr": value / 2,
                                           "samples": {"svhn": 100}}
        path.write_text(json.dumps(record))


def md_row(text: str, *cells: str) -> bool:
    """Whether the markdown ``text`` has a table row starting with ``cells``."""
    return bool(re.search(r"^\|" + r"\|".join(rf"\s*{re.escape(c)}\s*" for c in cells) + r"\|", text, re.M))


def test_families_are_one_per_scorer_or_ood_set_with_auroc_first():
    columns = ["osr.auroc", "split", "ood.svhn.tnr_at_95tpr", "ood.svhn.auroc", "ood.cifar100:2+3.auroc",
               "linear-probe.top5", "linear-probe.top1", "corruption.mean_drop", "corruption.clean_accuracy"]
    assert metric_families(columns) == {
        "corruption": {"corruption.clean_accuracy": "clean_accuracy", "corruption.mean_drop": "mean_drop"},
        "linear-probe": {"linear-probe.top1": "top1", "linear-probe.top5": "top5"},
        "ood.cifar100:2+3": {"ood.cifar100:2+3.auroc": "auroc"},
        "ood.svhn": {"ood.svhn.auroc": "auroc", "ood.svhn.tnr_at_95tpr": "tnr_at_95tpr"},
    }


def test_a_record_with_ood_metrics_gets_an_ood_table_with_mean_ci_and_n(results):
    add_ood(results, OOD_AUROC)
    board = build_leaderboard(results)
    values = list(OOD_AUROC.values())
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    expected = f"{np.mean(values):.4f} ± {(high - low) / 2:.4f} (n=3)"
    table = board["families"]["ood.svhn"]
    assert table.columns.tolist() == ["method", "protocol", "auroc", "tnr_at_95tpr"]
    assert table["method"].tolist() == ["ce/mls"]  # ce/msp has no ood runs: no row
    assert table.iloc[0]["auroc"] == expected
    text = render(board, "md")
    assert "### ood.svhn (mean ± 95% CI)" in text and md_row(text, "ce/mls", "cifar10", expected)
    assert text.index("### osr.accuracy") < text.index("### ood.svhn") < text.index("### Data and cost")
    page = render(board, "html")
    ood = re.search(r'<table class="sortable" id="table-ood.svhn">.*?</table>', page, re.S).group(0)
    assert f'<td class="num">{expected}</td>' in ood and "<td>ce/mls</td>" in ood
    long = board["long"].set_index("method")
    assert long.loc["ce/mls", "ood.svhn.auroc_mean"] == pytest.approx(np.mean(values))
    assert long.loc["ce/mls", "ood.svhn.auroc_n"] == 3 and long.loc["ce/msp", "ood.svhn.auroc_n"] == 0
    assert "ood.svhn.tnr_at_95tpr_ci_high" in render(board, "csv").splitlines()[0]


def test_records_without_ood_metrics_get_no_ood_table(results):
    board = build_leaderboard(results)
    assert board["families"] == {}
    assert "### ood" not in render(board, "md") and 'id="table-ood' not in render(board, "html")
    assert "ood." not in render(board, "csv").splitlines()[0]


def test_the_committed_ood_record_shows_its_values_and_other_protocols_hide_the_table(results):
    shutil.copytree(COMMITTED / "cifar10-all", results / "cifar10-all")
    record = json.loads((results / "cifar10-all" / "ce" / "split0-seed0.json").read_text())
    table = build_leaderboard(results)["families"]["ood.tinyimagenet"].set_index("method")
    assert table.columns.tolist() == ["protocol", "auroc", "auin", "auout", "dtacc", "tnr_at_95tpr"]
    for postprocessor in ("energy", "mls", "msp"):
        ood = record["metrics"][postprocessor]["ood"]
        assert table.loc[f"ce/{postprocessor}", "protocol"] == "cifar10-all"
        assert table.loc[f"ce/{postprocessor}", "auroc"] == f"{ood['tinyimagenet.auroc']:.4f} (n=1)"
        assert table.loc[f"ce/{postprocessor}", "tnr_at_95tpr"] == f"{ood['tinyimagenet.tnr_at_95tpr']:.4f} (n=1)"
    assert build_leaderboard(results, protocol="cifar10")["families"] == {}  # no ood run on this protocol


def test_a_scorer_without_sub_results_gets_one_table(results):
    for path in (results / "cifar10" / "ce").glob("split*-seed0.json"):
        record = json.loads(path.read_text())
        for scored in record["metrics"].values():
            scored["linear-probe"] = {"top1": 0.9, "top5": 0.99}
        path.write_text(json.dumps(record))
    board = build_leaderboard(results)
    assert list(board["families"]) == ["linear-probe"]
    table = board["families"]["linear-probe"]
    assert table["method"].tolist() == ["ce/mls", "ce/msp"] and set(table["top1"]) == {"0.9000 ± 0.0000 (n=5)"}
