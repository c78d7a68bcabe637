"""The committed leaderboard's floor (no committed result at or below 0.55 AUROC unless the README says why), and
its OOD tables."""

from __future__ import annotations

import json
from pathlib import Path

from committed_records import COMMITTED

README = Path(__file__).resolve().parents[1] / "README.md"
FLOOR = 0.55
# (protocol, record label, postprocessor) -> the README heading of its explanation
EXPLAINED = {
    ("cifar10", "ce", "mahalanobis"): "**Why `mahalanobis` is below chance on cifar10**",
    ("mnist", "ce", "react"): "**`react` on mnist**",
    ("tinyimagenet", "ce", "mahalanobis"): "**`mahalanobis` on tinyimagenet**",
}


def results_at_or_below_the_floor() -> set[tuple[str, str, str]]:
    found = set()
    for path in COMMITTED.glob("*/*/split*-seed*.json"):
        record = json.loads(path.read_text())
        for postprocessor, scored in record["metrics"].items():
            auroc = scored.get("osr", {}).get("auroc")
            if auroc is not None and auroc <= FLOOR:
                found.add((record["protocol"], record["label"], postprocessor))
    return found


def test_no_committed_result_is_at_or_below_the_floor_unless_the_readme_explains_it():
    low = results_at_or_below_the_floor()
    unexplained = sorted(low - set(EXPLAINED))
    assert not unexplained, f"AUROC <= {FLOOR} with no explanation in README.md: {unexplained}"
    readme = README.read_text()
    missing = [heading for key, heading in EXPLAINED.items() if key in low and heading not in readme]
    assert not missing, f"README.md lacks the explanation {missing[0]!r}"


def test_the_committed_board_has_a_table_per_ood_set_the_committed_records_score():
    sets = {key.rpartition(".")[0]
            for path in COMMITTED.glob("*/*/split*-seed*.json")
            for scored in json.loads(path.read_text())["metrics"].values()
            for key, value in scored.get("ood", {}).items() if isinstance(value, float)}
    assert sets, "no committed record has ood metrics any more: drop or adapt this test"
    board = (COMMITTED.parent / "leaderboard.md").read_text()
    for name in sorted(sets):
        assert f"### ood.{name} (mean ± 95% CI)" in board, f"leaderboard.md lacks the ood.{name} table"
