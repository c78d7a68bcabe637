"""A copy of part of the committed leaderboard records, as a fixed real-data input for leaderboard tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

COMMITTED = Path(__file__).resolve().parents[1] / "leaderboards" / "records"


def copy_cifar10_ce(target: Path, postprocessors: tuple[str, ...] = ("msp", "mls"), plots: bool = False) -> Path:
    """``target/cifar10/ce``: the five committed cifar10 ``ce`` records, cut down to ``postprocessors``."""
    ignore = None if plots else shutil.ignore_patterns("*.png")
    shutil.copytree(COMMITTED / "cifar10" / "ce", target / "cifar10" / "ce", ignore=ignore)
    for path in (target / "cifar10" / "ce").glob("split*-seed*.json"):
        record = json.loads(path.read_text())
        record["metrics"] = {p: record["metrics"][p] for p in postprocessors}
        record["config"]["postprocessors"] = {p: record["config"]["postprocessors"][p] for p in postprocessors}
        path.write_text(json.dumps(record, indent=2))
        for folder in path.with_suffix("").iterdir():
            if folder.is_dir() and folder.name not in postprocessors:
                shutil.rmtree(folder)
    return target
