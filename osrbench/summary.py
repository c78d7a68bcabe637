"""The table printed after a run: one row per split and postprocessor, then mean ± std per postprocessor."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.markup import escape
from rich.table import Table

from osrbench.progress import titled

HEADLINE = {"auroc": "AUROC", "oscr": "OSCR", "macro_f1": "macro-F1", "accuracy": "accuracy"}


def scalar_metrics(by_scorer: dict[str, Any]) -> dict[str, float]:
    """``scorer.key -> value`` for every scalar metric of one postprocessor's results (lists and tables left out)."""
    out = {}
    for scorer, values in by_scorer.items():
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{scorer}.{key}"] = float(value)
    return out


def _column_name(key: str) -> str:
    scorer, _, metric = key.partition(".")
    return HEADLINE.get(metric, metric) if scorer == "osr" else key


def column_order(key: str) -> tuple:
    """The osr headline metrics first (in ``HEADLINE``'s order), then every other metric by name: the
    same columns in the same order whether the records were just trained or read from disk."""
    scorer, _, metric = key.partition(".")
    if scorer == "osr" and metric in HEADLINE:
        return (0, list(HEADLINE).index(metric), "")
    return (1, 0, key)


def results_table(records: list[dict[str, Any]], title: str):
    """The table under ``title`` (rich markup); with several records, its last rows are the mean ± sample
    standard deviation over the splits and the total training seconds, as its title says."""
    rows = [(record, pp, scalar_metrics(by_scorer)) for record in records
            for pp, by_scorer in record.get("metrics", {}).items()]
    keys = sorted({k for _, _, row in rows for k in row}, key=column_order)
    if len(records) > 1:
        title += f" (last rows: mean ± sample std over {len(records)} runs; train s: their total)"
    table = Table()
    table.add_column("split", justify="right", no_wrap=True)
    table.add_column("postprocessor", no_wrap=True)
    for key in keys:
        table.add_column(_column_name(key), justify="right")
    table.add_column("train s", justify="right")
    for record, pp, row in rows:
        table.add_row(str(record["split"]), escape(pp), *[f"{row[k]:.4f}" if k in row else "-" for k in keys],
                      f"{record['cost']['train_seconds']:.1f}")
    if len(records) > 1:
        for pp in dict.fromkeys(pp for _, pp, _ in rows):
            cells = []
            for key in keys:
                values = np.array([row[key] for _, name, row in rows if name == pp and key in row])
                cells.append(f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"
                             if len(values) else "-")
            total = sum(r["cost"]["train_seconds"] for r in records)
            table.add_row("mean ± std", escape(pp), *cells, f"total {total:.1f}", style="bold")
    return titled(title, table)
