"""The leaderboard: a pure function of the stored records (pandas).

Rows are run families (method, + augmentation, + a hash of non-default options), columns are
protocols, cells are mean ± std over splits of one metric. A second table gives, per row and
protocol, the data fingerprint, split family, number of splits and the cost. Records computed on
different copies of a dataset (different fingerprints) are never averaged together.
"""

from __future__ import annotations

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
        })
    return pd.DataFrame(rows)


def _row_labels(frame: pd.DataFrame) -> pd.Series:
    """The label, plus the data fingerprint where one label has results on several copies of a dataset."""
    copies = frame.groupby(["label", "protocol"])["fingerprint"].transform("nunique")
    return frame["label"].where(copies == 1, frame["label"] + " [data " + frame["fingerprint"].str[:8] + "]")


def build_leaderboard(results_dir: Path, protocol: str | None = None, metric: str = "osr.auroc") -> dict[str, pd.DataFrame]:
    frame = records_frame(results_dir)
    if frame.empty:
        raise OsrbenchError(f"no records under {results_dir}; run `osrbench run` first or pass --results-dir")
    if protocol is not None:
        frame = frame[frame["protocol"] == protocol]
        if frame.empty:
            raise OsrbenchError(f"no records for protocol {protocol!r} under {results_dir}")
    if metric not in frame.columns:
        known = sorted(c for c in frame.columns if "." in c)
        raise OsrbenchError(f"no metric {metric!r} in the records; available: {', '.join(known)}")
    frame = frame.assign(row=_row_labels(frame))
    groups = frame.groupby(["row", "protocol"])
    stats = groups.agg(
        mean=(metric, "mean"), std=(metric, "std"), splits=("split", "nunique"), seeds=("seed", "nunique"),
        fingerprint=("fingerprint", "first"), split_family=("split_family", "first"),
        train_seconds=("train_seconds", "sum"), device=("device", lambda d: ", ".join(sorted(set(d)))),
        parameters=("parameters", "median"), epochs=("epochs", "first"),
    ).reset_index()
    stats["std"] = stats["std"].fillna(0.0)
    stats["cell"] = [f"{m:.4f} ± {s:.4f}" for m, s in zip(stats["mean"], stats["std"])]
    wide = stats.pivot(index="row", columns="protocol", values="cell").fillna("-")
    wide.columns.name = None
    wide.index.name = "method"
    cost = stats.rename(columns={"row": "method"})[[
        "method", "protocol", "splits", "seeds", "split_family", "fingerprint", "epochs", "parameters",
        "train_seconds", "device"]].sort_values(["protocol", "method"])
    cost["parameters"] = cost["parameters"].astype(int)
    cost["train_seconds"] = cost["train_seconds"].round(1)
    long = stats.rename(columns={"row": "method", "mean": f"{metric}_mean", "std": f"{metric}_std"}).drop(columns="cell")
    return {"metric": metric, "wide": wide.reset_index(), "cost": cost, "long": long.sort_values(["protocol", "method"])}


def render(board: dict, fmt: str) -> str:
    if fmt == "csv":
        return board["long"].to_csv(index=False, float_format="%.6g")
    if fmt == "html":
        return (f"<h2>{board['metric']} (mean ± std over splits)</h2>\n" + board["wide"].to_html(index=False)
                + "\n<h2>Data and cost</h2>\n" + board["cost"].to_html(index=False))
    return (f"### {board['metric']} (mean ± std over splits)\n\n" + board["wide"].to_markdown(index=False)
            + "\n\n### Data and cost (train seconds summed over splits)\n\n" + board["cost"].to_markdown(index=False) + "\n")
