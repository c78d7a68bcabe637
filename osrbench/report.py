"""One run's report: its metrics as a table and the plots in its folder (``osrbench report RUN``).

RUN is a record (``results/<protocol>/<label>/split0-seed0.json``) or the run's folder beside it
(``.../split0-seed0/``), where scorers write their figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from osrbench.specs import OsrbenchError
from osrbench.progress import titled
from osrbench.records import read_record


def resolve_run(path: Path | str) -> tuple[Path, Path]:
    """(record file, run folder) for a record path or a run folder."""
    p = Path(path)
    if p.is_file() and p.suffix == ".json":
        return p, p.with_suffix("")
    if p.is_dir() and p.with_suffix(".json").is_file():
        return p.with_suffix(".json"), p
    records = sorted(p.glob("split*-seed*.json")) if p.is_dir() else []
    hint = f"; this folder holds {', '.join(r.name for r in records)}: name one of them" if records else ""
    raise OsrbenchError(f"{p} is neither a run record (.../splitN-seedS.json) nor a run folder beside one{hint}")


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return f"curve of {len(value)} points (in the record)"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def metric_rows(metrics: dict[str, dict[str, dict[str, Any]]]) -> list[tuple[str, str, str, str]]:
    """(postprocessor, scorer, metric, value) rows; a nested table gets one row per entry
    (``drop.fog`` -> ``1: 0.02, 2: ...``)."""
    rows = []
    for pp, by_scorer in metrics.items():
        for scorer, values in by_scorer.items():
            for key, value in values.items():
                if key == "plots":
                    continue
                if isinstance(value, dict):
                    for sub, inner in value.items():
                        shown = (", ".join(f"{k}: {_cell(v)}" for k, v in inner.items()) if isinstance(inner, dict)
                                 else _cell(inner))
                        rows.append((pp, scorer, f"{key}.{sub}", shown))
                else:
                    rows.append((pp, scorer, key, _cell(value)))
    return rows


def run_plots(run_dir: Path) -> list[Path]:
    return sorted(run_dir.rglob("*.png")) if run_dir.is_dir() else []  # one folder per postprocessor


def report(path: Path | str, console: Console | None = None) -> dict[str, Any]:
    """Print one run's metrics and plots; returns the record and the plot paths."""
    record_file, run_dir = resolve_run(path)
    record = read_record(record_file)
    console = console or Console()
    cost = record.get("cost", {})
    title = (f"{record.get('label')} on {record.get('protocol')} split {record.get('split')} seed {record.get('seed')} "
             f"({cost.get('device', '?')}, train {cost.get('train_seconds', 0):.1f} s)")
    table = Table()
    for name, justify in (("postprocessor", "left"), ("scorer", "left"), ("metric", "left"), ("value", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in metric_rows(record.get("metrics", {})):
        table.add_row(*map(escape, row))
    for pp, by_scorer in cost.get("score_seconds", {}).items():
        for scorer, seconds in by_scorer.items():
            table.add_row(escape(pp), escape(scorer), "wall seconds", f"{seconds:.1f}", style="dim")
    console.print(titled(escape(title), table))
    plots = run_plots(run_dir)
    console.print(f"record: {escape(str(record_file))}")
    console.print("plots:" if plots else "plots: none", *[f"\n  {escape(str(p))}" for p in plots], sep="")
    return {"record": record, "record_path": record_file, "plots": plots}
