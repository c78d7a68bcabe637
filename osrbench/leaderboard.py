"""The leaderboard: a pure function of the stored records (pandas).

Rows are run families (method, + augmentation, + a hash of non-default options), columns are
protocols, cells are mean ± std over splits of one metric. A second table gives, per row and
protocol, the data fingerprint, split family, number of splits and the cost. Records computed on
different copies of a dataset (different fingerprints) are never averaged together.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from osrbench.api import OsrbenchError
from osrbench.records import iter_records
from osrbench.summary import scalar_metrics


def records_frame(results_dir: Path) -> pd.DataFrame:
    rows = []
    for path, r in iter_records(results_dir):
        cost = r["cost"]
        rows.append({
            "label": r["label"], "protocol": r["protocol"], "split": r["split"], "seed": r["seed"],
            "split_family": r["split_family"], "fingerprint": r["data_fingerprint"],
            "train_seconds": cost["train_seconds"], "device": cost["device"], "parameters": cost["parameters"],
            "epochs": cost.get("epochs"), **scalar_metrics(r),
            "plots": [path.with_suffix("") / name for m in r.get("metrics", {}).values() if isinstance(m, dict)
                      for name in m.get("plots", [])],
        })
    return pd.DataFrame(rows)


def _row_labels(frame: pd.DataFrame) -> pd.Series:
    """The label, plus the data fingerprint where one label has results on several copies of a dataset."""
    copies = frame.groupby(["label", "protocol"])["fingerprint"].transform("nunique")
    return frame["label"].where(copies == 1, frame["label"] + " [data " + frame["fingerprint"].str[:8] + "]")


HEADLINE_METRICS = ("osr.auroc", "osr.oscr", "osr.macro_f1", "osr.accuracy")


def build_leaderboard(results_dir: Path, protocol: str | None = None,
                      metrics: tuple[str, ...] = HEADLINE_METRICS) -> dict:
    frame = records_frame(results_dir)
    if frame.empty:
        raise OsrbenchError(f"no records under {results_dir}; run `osrbench run` first or pass --results-dir")
    if protocol is not None:
        frame = frame[frame["protocol"] == protocol]
        if frame.empty:
            raise OsrbenchError(f"no records for protocol {protocol!r} under {results_dir}")
    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        known = sorted(c for c in frame.columns if "." in c)
        raise OsrbenchError(f"no metric {missing[0]!r} in the records; available: {', '.join(known)}")
    frame = frame.assign(row=_row_labels(frame))
    groups = frame.groupby(["row", "protocol"])
    stats = groups.agg(
        splits=("split", "nunique"), seeds=("seed", "nunique"),
        fingerprint=("fingerprint", "first"), split_family=("split_family", "first"),
        train_seconds=("train_seconds", "sum"), device=("device", lambda d: ", ".join(sorted(set(d)))),
        parameters=("parameters", "median"), epochs=("epochs", "first"),
    )
    wide = {}
    for metric in metrics:
        mean, std = groups[metric].mean(), groups[metric].std().fillna(0.0)
        stats[f"{metric}_mean"], stats[f"{metric}_std"] = mean, std
        cells = pd.Series([f"{m:.4f} ± {s:.4f}" if pd.notna(m) else "-" for m, s in zip(mean, std)], index=mean.index)
        table = cells.unstack("protocol").fillna("-")
        table.columns.name, table.index.name = None, "method"
        wide[metric] = table.reset_index()
    stats = stats.reset_index().rename(columns={"row": "method"}).sort_values(["protocol", "method"])
    cost = stats[["method", "protocol", "splits", "seeds", "split_family", "fingerprint", "epochs", "parameters",
                  "train_seconds", "device"]].copy()
    cost["parameters"] = cost["parameters"].astype(int)
    cost["train_seconds"] = cost["train_seconds"].round(1)
    plots = frame[frame["plots"].str.len() > 0][["row", "protocol", "split", "plots"]].sort_values(["protocol", "row", "split"])
    return {"wide": wide, "cost": cost, "long": stats, "plots": plots}


def _plot_links(board: dict, base: Path) -> str:
    lines = []
    for (row, protocol), group in board["plots"].groupby(["row", "protocol"], sort=False):
        links = ", ".join(f"[{Path(p).stem} (split {split})]({Path(os.path.relpath(p, base)).as_posix()})"
                          for split, paths in zip(group["split"], group["plots"]) for p in paths)
        lines.append(f"- {row} on {protocol}: {links}")
    return "\n".join(lines)


def render(board: dict, fmt: str, link_base: Path | None = None) -> str:
    """The board as text; markdown plot links are relative to ``link_base`` (default: the working folder)."""
    if fmt == "csv":
        return board["long"].to_csv(index=False, float_format="%.6g")
    if fmt == "html":
        parts = [f"<h2>{m} (mean ± std over splits)</h2>\n" + t.to_html(index=False) for m, t in board["wide"].items()]
        return "\n".join(parts) + "\n<h2>Data and cost</h2>\n" + board["cost"].to_html(index=False)
    parts = [f"### {m} (mean ± std over splits)\n\n" + t.to_markdown(index=False) for m, t in board["wide"].items()]
    text = ("\n\n".join(parts) + "\n\n### Data and cost (train seconds summed over splits)\n\n"
            + board["cost"].to_markdown(index=False) + "\n")
    if not board["plots"].empty:
        text += "\n### Plots\n\n" + _plot_links(board, Path(link_base or Path.cwd()).resolve()) + "\n"
    return text


def write_tables(board: dict, folder: Path) -> list[Path]:
    """The committed form of the leaderboard: markdown for people, CSV for programs."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "leaderboard.md", folder / "leaderboard.csv"]
    header = "<!-- generated by `osrbench leaderboard --results-dir leaderboards/records --write-tables leaderboards`; do not edit -->\n\n"
    paths[0].write_text(header + render(board, "md", link_base=folder))
    paths[1].write_text(render(board, "csv"))
    return paths
