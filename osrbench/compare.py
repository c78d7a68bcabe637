"""``osrbench compare A B``: two leaderboard rows on one protocol, run by run.

Runs are paired when they share the data copy (fingerprint), the split and the seed; the statistics
(``osrbench.stats.paired_test``) use the paired runs only, and runs without a partner are listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from osrbench.specs import OsrbenchError
from osrbench.leaderboard import HEADLINE_METRICS, records_frame
from osrbench.progress import titled
from osrbench.stats import Estimate, PairedTest, mean_ci, paired_test

PAIR_KEY = ["fingerprint", "split", "seed"]
TESTS_NOTE = ("95% CI: Student t interval of the mean paired difference. Two-sided p-values: p (t) of the paired "
              "t-test (scipy ttest_rel), p (W) of the Wilcoxon signed-rank test (scipy wilcoxon, zero differences "
              "dropped). n: pairs with the metric. Fewer than 2 pairs: no interval or test; all differences zero: "
              "p = 1.")


@dataclass
class Comparison:
    a: str
    b: str
    protocol: str
    paired: list[str]  # run names, e.g. "split0-seed0"
    a_only: list[str]
    b_only: list[str]
    means: dict[str, tuple[Estimate, Estimate]]  # per metric, A and B over the paired runs
    tests: dict[str, PairedTest]  # per metric, A − B


def _run_names(keys: pd.DataFrame, several_copies: bool) -> list[str]:
    return [f"split{s}-seed{n}" + (f" [data {f[:8]}]" if several_copies else "")
            for f, s, n in keys[PAIR_KEY].itertuples(index=False)]


def _pick_protocol(frame: pd.DataFrame, rows: tuple[str, str], protocol: str | None) -> str:
    for row in rows:
        if not (frame["row"] == row).any():
            raise OsrbenchError(f"no runs of {row!r}; rows with runs: {', '.join(sorted(frame['row'].unique()))} "
                                "(see `osrbench leaderboard`)")
    if protocol is not None:
        return protocol
    common = sorted(set.intersection(*(set(frame.loc[frame["row"] == r, "protocol"]) for r in rows)))
    if len(common) != 1:
        raise OsrbenchError(f"{rows[0]} and {rows[1]} have runs on {len(common)} common protocols "
                            f"({', '.join(common) or 'none'}); name one with --protocol")
    return common[0]


def _runs_of(frame: pd.DataFrame, row: str, protocol: str) -> pd.DataFrame:
    runs = frame[(frame["row"] == row) & (frame["protocol"] == protocol)]
    if runs.empty:
        known = sorted(frame.loc[frame["protocol"] == protocol, "row"].unique())
        raise OsrbenchError(f"no runs of {row!r} on protocol {protocol!r}; rows with runs there: "
                            f"{', '.join(known) or 'none'} (see `osrbench leaderboard`)")
    return runs


def compare(results_dir: Path, a: str, b: str, protocol: str | None = None,
            metrics: tuple[str, ...] = HEADLINE_METRICS, strict: bool = False) -> Comparison:
    """Pair the runs of rows ``a`` and ``b`` and test each metric's difference A − B."""
    frame, _ = records_frame(results_dir, strict)
    if frame.empty:
        raise OsrbenchError(f"no usable records under {results_dir}; run `osrbench run` first or pass --results-dir")
    if a == b:
        raise OsrbenchError(f"compare needs two different rows, got {a!r} twice")
    protocol = _pick_protocol(frame, (a, b), protocol)
    runs_a, runs_b = _runs_of(frame, a, protocol), _runs_of(frame, b, protocol)
    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        known = sorted(c for c in frame.columns if "." in c)
        raise OsrbenchError(f"no metric {missing[0]!r} in the records; available: {', '.join(known)}")
    both = runs_a.merge(runs_b, on=PAIR_KEY, how="outer", suffixes=("_a", "_b"), indicator=True)
    both = both.sort_values(PAIR_KEY)
    several = both["fingerprint"].nunique() > 1
    pairs = both[both["_merge"] == "both"]
    if pairs.empty:
        raise OsrbenchError(f"{a} and {b} share no run on {protocol} (same data, split and seed): "
                            f"{a} has {', '.join(_run_names(runs_a, several))}; "
                            f"{b} has {', '.join(_run_names(runs_b, several))}")
    means, tests = {}, {}
    for metric in metrics:
        x, y = pairs[f"{metric}_a"].to_numpy(float), pairs[f"{metric}_b"].to_numpy(float)
        tests[metric] = paired_test(x, y)
        usable = pd.notna(x) & pd.notna(y)
        means[metric] = (mean_ci(x[usable]), mean_ci(y[usable]))
    return Comparison(a, b, protocol, _run_names(pairs, several),
                      _run_names(both[both["_merge"] == "left_only"], several),
                      _run_names(both[both["_merge"] == "right_only"], several), means, tests)


def _p(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.3g}"


def _ci(e: Estimate) -> str:
    return "-" if pd.isna(e.low) else f"[{e.low:.4f}, {e.high:.4f}]"


def comparison_table(c: Comparison) -> Group:
    """The rich table of a comparison; every name from records is escaped."""
    notes = [f"{metric}: {test.note}" for metric, test in c.tests.items() if test.note]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in ("metric", "A mean", "B mean", "A − B", "95% CI", "p (t)", "p (W)", "n"):
        table.add_column(name, justify="left" if name == "metric" else "right", no_wrap=True)
    for metric, test in c.tests.items():
        mean_a, mean_b = c.means[metric]
        table.add_row(escape(metric), f"{mean_a.mean:.4f}", f"{mean_b.mean:.4f}", f"{test.difference.mean:+.4f}",
                      _ci(test.difference), _p(test.t_pvalue), _p(test.wilcoxon_pvalue), str(test.difference.n))
    return titled(escape(f"{c.a} vs {c.b} on {c.protocol}: difference A − B over paired runs"), table,
                  escape("\n".join([*notes, TESTS_NOTE])))


def pairing_lines(c: Comparison) -> list[str]:
    """Which runs were paired and which had no partner (plain text: print without markup)."""
    return [f"A = {c.a}, B = {c.b}",
            f"paired runs ({len(c.paired)}): {', '.join(c.paired)}",
            f"unpaired runs of A ({len(c.a_only)}): {', '.join(c.a_only) or 'none'}",
            f"unpaired runs of B ({len(c.b_only)}): {', '.join(c.b_only) or 'none'}"]
