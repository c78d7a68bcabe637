"""The leaderboard: a pure function of the stored records (pandas).

Rows are pairs of a run family (method, + augmentation, + a hash of non-default options) and a
postprocessor, written ``LABEL/POSTPROCESSOR`` (e.g. ``ce/mls``, ``ce+mixup/msp``); columns are
protocols, cells are the mean of one metric over runs (splits × seeds) with its 95% confidence
interval and the number of runs n (``osrbench.stats``). The metrics of the other scorers the records carry (OOD
detection, a linear probe, corruptions) get one table per family instead (``metric_families``): rows are
(row, protocol), columns the family's metrics, cells the same estimates. A further table gives, per row and
protocol, the data fingerprint, split family, number of splits and the cost. Records computed on
different copies of a dataset (different fingerprints), protocol or method versions, split families or split class
lists are never averaged together. Each cell counts
its own runs: where a metric is missing from some runs, that cell has a smaller n.

Records are read by ``osrbench.records.scan_records``: damaged ones are reported, never silently used.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from osrbench.specs import FIRST_METHOD_VERSION, OsrbenchError
from osrbench.records import DamagedRecord, scan_records
from osrbench.stats import METHOD_NOTE, PROPORTION, format_estimate, mean_ci
from osrbench.summary import scalar_metrics


def records_frame(results_dir: Path, strict: bool = False) -> tuple[pd.DataFrame, list[DamagedRecord]]:
    """The tidy frame of runs: one row per run and postprocessor, whose leaderboard row (``row``) is
    ``LABEL/POSTPROCESSOR``, on (protocol, split, seed), its scalar metrics (``scorer.key`` columns), cost and
    plots; and the damaged records (an error with ``strict``)."""
    scan = scan_records(results_dir)
    if strict and scan.damaged:
        raise OsrbenchError(f"{len(scan.damaged)} damaged record(s) (--strict): "
                            + "; ".join(str(d) for d in scan.damaged))
    rows = []
    for path, r in scan.records:
        cost = r["cost"]
        for pp, by_scorer in r.get("metrics", {}).items():
            rows.append({
                "row": f"{r['label']}/{pp}", "label": r["label"], "postprocessor": pp,
                "protocol": r["protocol"], "split": r["split"], "seed": r["seed"],
                "split_family": r["split_family"], "fingerprint": r["data_fingerprint"],
                "protocol_version": str(r.get("protocol_version")), "split_hash": r.get("split_hash"),
                "method_version": str(r.get("method_version", FIRST_METHOD_VERSION)),
                "train_seconds": cost["train_seconds"], "device": cost["device"], "parameters": cost["parameters"],
                "epochs": cost.get("epochs"), "paper_epochs": cost.get("paper_epochs"), "limit": r.get("limit"),
                **scalar_metrics(by_scorer),
                "plots": [path.with_suffix("") / name for m in by_scorer.values() if isinstance(m, dict)
                          for name in m.get("plots", [])],
            })
    return pd.DataFrame(rows), scan.damaged


# What must match for runs to be averaged in one cell: where one row has runs that differ in one of these,
# each kind gets a row of its own, tagged e.g. ``ce/msp [v2]``.
SEPARATE = {"protocol_version": ("v", None), "method_version": ("method v", None), "split_family": ("splits ", None),
            "fingerprint": ("data ", 8)}


def _row_labels(frame: pd.DataFrame) -> pd.Series:
    """The row name, tagged where one row has runs on several protocol or method versions, split families or copies of
    a dataset, or runs of one split on different class lists (never averaged together), plus ``[limit N]`` for
    smoke runs (``--limit``).

    Different splits have different class lists by design; only runs of the same split index that disagree
    are told apart: each of those gets the tag ``[classes HASH]``, the other runs of the row stay together.
    """
    rows = frame["row"]
    by_row = frame.groupby(["row", "protocol"])
    for column, (tag, width) in SEPARATE.items():
        kinds = by_row[column].transform("nunique")
        rows = rows.where(kinds <= 1, rows + f" [{tag}" + frame[column].fillna("unknown").str[:width] + "]")
    # unknown (older records without split_hash): not counted, so they average with any class list
    lists = frame.groupby(["row", "protocol", "split"])["split_hash"].transform("nunique")
    rows = rows.where(lists <= 1, rows + " [classes " + frame["split_hash"].fillna("unknown").str[:8] + "]")
    return rows + frame["limit"].map(lambda n: f" [limit {int(n)}]" if pd.notna(n) else "")


HEADLINE_METRICS = ("osr.auroc", "osr.oscr", "osr.macro_f1", "osr.accuracy")
# Scorers whose metrics have a table each (metric by protocol); every other scorer's get one table per family.
TABLED_SCORERS = frozenset(m.partition(".")[0] for m in HEADLINE_METRICS)
LEAD_KEYS = ("auroc", "accuracy", "top1")  # first in a family's table, where present (as AUROC leads above)
REGENERATE = "osrbench leaderboard --results-dir leaderboards/records --write-tables leaderboards"


def build_leaderboard(results_dir: Path, protocol: str | None = None,
                      metrics: tuple[str, ...] = HEADLINE_METRICS, strict: bool = False,
                      only: set[tuple[str, str]] | None = None) -> dict:
    """The tables of the board; ``damaged`` lists the records left out (``strict``: an error instead).

    ``only``: just these (protocol, label) cells (the leaderboard of a sweep's grid).
    """
    frame, damaged = records_frame(results_dir, strict)
    if only is not None and not frame.empty:
        frame = frame[[cell in only for cell in zip(frame["protocol"], frame["label"])]]
    if frame.empty:
        found = f" ({len(damaged)} damaged: {'; '.join(str(d) for d in damaged)})" if damaged else ""
        raise OsrbenchError(f"no usable records under {results_dir}{found}; run `osrbench run` first or pass --results-dir")
    if protocol is not None:
        frame = frame[frame["protocol"] == protocol]
        if frame.empty:
            raise OsrbenchError(f"no records for protocol {protocol!r} under {results_dir}")
    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        known = sorted(c for c in frame.columns if "." in c)
        raise OsrbenchError(f"no metric {missing[0]!r} in the records; available: {', '.join(known) or 'none'}")
    frame = frame.assign(row=_row_labels(frame))
    groups = frame.groupby(["row", "protocol"])
    stats = groups.agg(
        runs=("split", "size"), splits=("split", "nunique"), seeds=("seed", "nunique"),
        fingerprint=("fingerprint", "first"), split_family=("split_family", "first"),
        train_seconds=("train_seconds", "sum"), device=("device", lambda d: ", ".join(sorted(set(d)))),
        parameters=("parameters", "median"), epochs=("epochs", "min"), paper_epochs=("paper_epochs", "first"),
    )
    families = metric_families(frame.columns[frame.notna().any()])  # of the runs shown
    estimates = {}
    for metric in dict.fromkeys([*metrics, *(m for columns in families.values() for m in columns)]):
        estimates[metric] = _estimates(frame[metric], groups)
        stats[f"{metric}_mean"] = estimates[metric].map(lambda e: e.mean)
        stats[f"{metric}_std"] = groups[metric].std().fillna(0.0)
        stats[f"{metric}_n"] = estimates[metric].map(lambda e: e.n)
        stats[f"{metric}_ci_low"] = estimates[metric].map(lambda e: e.low)
        stats[f"{metric}_ci_high"] = estimates[metric].map(lambda e: e.high)
    wide = {}
    for metric in metrics:
        table = estimates[metric].map(format_estimate).unstack("protocol").fillna("-")
        table.columns.name, table.index.name = None, "method"
        wide[metric] = table.reset_index()
    family_tables = {name: _family_table(estimates, columns) for name, columns in families.items()}
    stats = stats.reset_index().rename(columns={"row": "method"}).sort_values(["protocol", "method"])
    stats["schedule"] = [schedule(e, p) for e, p in zip(stats["epochs"], stats["paper_epochs"])]
    cost = stats[["method", "protocol", "splits", "seeds", "split_family", "fingerprint", "epochs", "schedule",
                  "parameters", "train_seconds", "device"]].copy()
    cost["parameters"] = cost["parameters"].astype(int)
    cost["train_seconds"] = cost["train_seconds"].round(1)
    plots = frame[frame["plots"].str.len() > 0][["row", "protocol", "split", "plots"]].sort_values(["protocol", "row", "split"])
    return {"wide": wide, "families": family_tables, "cost": cost, "long": stats, "plots": plots, "damaged": damaged}


def _estimates(values: pd.Series, groups) -> pd.Series:
    """The ``Estimate`` of one metric per (row, protocol); its interval kept within [0, 1] where every value
    lies there (a rate, an area, an accuracy)."""
    bounds = PROPORTION if values.dropna().between(*PROPORTION).all() else None
    return groups[values.name].agg(lambda v: mean_ci(v, bounds=bounds))


def metric_families(columns) -> dict[str, dict[str, str]]:
    """The metric columns (``scorer.key``) of the scorers that have no per-metric tables by default, grouped
    into one table each: table name -> {column: column header}.

    A family is a scorer's metrics (``linear-probe.top1``, ``linear-probe.top5``), or where the key names a
    sub-result first, as the ``ood`` scorer's ``ood.SET.auroc`` does, those of one sub-result (a table per
    OOD set, ``ood.tinyimagenet``). The header is the key's last part; ``LEAD_KEYS`` come first, the rest by name.
    """
    families: dict[str, dict[str, str]] = {}
    for column in columns:
        scorer, dot, key = column.partition(".")
        if not dot or scorer in TABLED_SCORERS:
            continue
        group, _, header = key.rpartition(".")
        families.setdefault(f"{scorer}.{group}" if group else scorer, {})[column] = header

    def order(item: tuple[str, str]) -> tuple:
        header = item[1]
        return (LEAD_KEYS.index(header) if header in LEAD_KEYS else len(LEAD_KEYS), header)

    return {name: dict(sorted(columns.items(), key=order)) for name, columns in sorted(families.items())}


def _family_table(estimates: dict[str, pd.Series], columns: dict[str, str]) -> pd.DataFrame:
    """One family's metrics side by side, a row per (row, protocol) with at least one run that has them, in
    the order of the per-metric tables."""
    cells = pd.DataFrame({column: estimates[column] for column in columns})
    cells = cells[cells.map(lambda e: e.n > 0).any(axis=1)].map(format_estimate)
    cells.columns = list(columns.values())
    cells.index.names = ["method", "protocol"]
    return cells.reset_index(allow_duplicates=True)  # a key named "method" is still a column of its own


def schedule(epochs: object, paper_epochs: object) -> str:
    """How a row's epochs (the fewest of its runs) stand to its paper's: "" where the method names no paper
    schedule (or the records predate it), else "paper's (N)" or "cut short (paper: N)"."""
    if pd.isna(paper_epochs) or pd.isna(epochs):
        return ""
    return f"paper's ({int(paper_epochs)})" if epochs >= paper_epochs else f"cut short (paper: {int(paper_epochs)})"


def md_text(value: object) -> str:
    """Text safe inside a markdown table: HTML escaped and ``|`` backslash-escaped."""
    return html.escape(str(value), quote=False).replace("|", "\\|")


def _md_table(table: pd.DataFrame) -> str:
    escaped = table.rename(columns=md_text).map(lambda v: md_text(v) if isinstance(v, str) else v)
    return escaped.to_markdown(index=False)


def relative_url(path: Path, base: Path) -> str:
    """The URL of ``path`` relative to the folder ``base``, percent-quoted."""
    return quote(Path(os.path.relpath(path, base)).as_posix(), safe="/+@")


def _plot_links(board: dict, base: Path) -> str:
    lines = []
    for (row, protocol), group in board["plots"].groupby(["row", "protocol"], sort=False):
        links = ", ".join(f"[{md_text(Path(p).stem)} (split {split})]({relative_url(p, base)})"
                          for split, paths in zip(group["split"], group["plots"]) for p in paths)
        lines.append(f"- {md_text(row)} on {md_text(protocol)}: {links}")
    return "\n".join(lines)


def render(board: dict, fmt: str, link_base: Path | None = None) -> str:
    """The board as text; markdown plot links are relative to ``link_base`` (default: the working folder). The
    HTML page embeds its plots, or links them relative to ``link_base`` where one is given."""
    if fmt == "csv":
        return board["long"].to_csv(index=False, float_format="%.6g")
    if fmt == "html":
        from osrbench.html_report import render_html

        base = Path(link_base).resolve() if link_base is not None else None
        return render_html(board, None if base is None else (lambda path: relative_url(Path(path).resolve(), base)))
    tables = {**board["wide"], **board["families"]}
    parts = [f"### {md_text(m)} (mean ± 95% CI)\n\n" + _md_table(t) for m, t in tables.items()]
    text = ("\n\n".join(parts) + f"\n\nCells: {METHOD_NOTE}.\n\n### Data and cost (train seconds summed over splits)\n\n"
            + _md_table(board["cost"]) + "\n")
    if not board["plots"].empty:
        text += "\n### Plots\n\n" + _plot_links(board, Path(link_base or Path.cwd()).resolve()) + "\n"
    return text


def write_tables(board: dict, folder: Path) -> list[Path]:
    """The committed form of the leaderboard: markdown for people, CSV for programs, one HTML page whose run plots
    are links to the PNGs in the run folders (the repository keeps each plot once)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "leaderboard.md", folder / "leaderboard.csv", folder / "leaderboard.html"]
    header = f"<!-- generated by `{REGENERATE}`; do not edit -->\n\n"
    paths[0].write_text(header + render(board, "md", link_base=folder))
    paths[1].write_text(render(board, "csv"))
    paths[2].write_text(render(board, "html", link_base=folder))
    return paths
