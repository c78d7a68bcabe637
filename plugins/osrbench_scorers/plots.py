"""The figures scorers write into a run's folder: PNG files with fixed names, one per kind.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``), which renders with
Agg and never touches pyplot's global state or a display.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

ROC_OSR = "roc-osr.png"
ROC_OOD = "roc-ood.png"
OPENNESS = "openness-f1.png"
CORRUPTION = "corruption-drop.png"
ACTIVATIONS = "activation-grid.png"


# Figures are a few flat colours and their antialiasing: an 8-bit palette keeps them and takes a third of the bytes
# of matplotlib's RGBA PNG (17 instead of 44-51 KB for a ROC or openness figure), which the committed records'
# hundreds of figures (and every GPU call that carries the repository) pay for.
PALETTE_COLOURS = 256


def save(fig: Figure, work_dir: Path, name: str) -> str:
    """Write ``fig`` as the palette PNG ``work_dir/name`` and return ``name`` (records store names relative to
    the run folder)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    rendered = io.BytesIO()
    fig.savefig(rendered, format="png", dpi=120, metadata={"Software": None})
    Image.open(rendered).convert("RGB").quantize(PALETTE_COLOURS).save(work_dir / name, optimize=True)
    return name


def roc_figure(curves: Mapping[str, tuple[np.ndarray, np.ndarray, float]], title: str) -> Figure:
    """One ROC curve per entry ``label -> (fpr, tpr, auroc)``, with the chance diagonal.

    Points are joined by straight lines, so a group of tied scores is a diagonal segment and the area
    under the drawn curve is the AUROC (ties counting one half).
    """
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.add_subplot()
    for label, (fpr, tpr, area) in curves.items():
        ax.plot(fpr, tpr, label=f"{label} (AUROC {area:.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate (unknown / OOD accepted)",
           ylabel="true positive rate (known accepted)", title=title)
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def openness_figure(points: Sequence[Mapping[str, float]], title: str) -> Figure:
    """Macro-F1 against openness (%), with a band of ± one standard deviation over class draws."""
    o = np.array([p["openness"] for p in points]) * 100
    f1 = np.array([p["macro_f1"] for p in points])
    sd = np.array([p["macro_f1_std"] for p in points])
    fig = Figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.fill_between(o, f1 - sd, f1 + sd, alpha=0.2)
    ax.plot(o, f1, marker="o")
    for p, x, y in zip(points, o, f1):
        ax.annotate(str(p["unknown_classes"]), (x, y), textcoords="offset points", xytext=(0, 6),
                    ha="center", fontsize="x-small", color="0.4")
    ax.set(xlabel="openness O = 1 − sqrt(I/S) (%)", ylabel="macro-F1 (known classes + unknown)",
           title=f"{title}\n(labels: number of unknown classes in the test set)")
    ax.grid(alpha=0.3)
    return fig


def corruption_figure(drop: Mapping[str, Mapping[str, float]], title: str) -> Figure:
    """Accuracy drop D(c, s) as bars grouped by corruption, one shade per severity, and the mean D̄_c."""
    names = list(drop)
    severities = sorted({s for per in drop.values() for s in per}, key=int)
    x = np.arange(len(names))
    width = 0.8 / max(len(severities), 1)
    colours = [(0.95 - 0.75 * i / max(len(severities) - 1, 1),) * 2 + (1.0,) for i in range(len(severities))]
    fig = Figure(figsize=(max(6, 0.7 * len(names) + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    for i, s in enumerate(severities):
        values = [100 * drop[c].get(s, np.nan) for c in names]
        ax.bar(x - 0.4 + (i + 0.5) * width, values, width, color=colours[i], edgecolor="0.3", linewidth=0.4,
               label=f"severity {s}")
    means = [100 * np.mean(list(drop[c].values())) for c in names]
    ax.scatter(x, means, marker="_", s=300, color="crimson", zorder=3, label="mean over severities")
    ax.axhline(0, color="0.3", linewidth=0.6)
    ax.set_xticks(x, [n.replace("_", "\n") for n in names], fontsize="small")
    ax.set(ylabel="accuracy drop A_clean − A(c, s) (points)", title=title)
    ax.legend(fontsize="x-small", ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return fig


def activation_grid_figure(images: np.ndarray, maps: np.ndarray, boxes: np.ndarray | None, title: str) -> Figure:
    """Pairs of (image, activation map over the image with the chosen patch), up to four pairs a row.

    ``images`` (B, H, W, C) float in [0, 1]; ``maps`` (B, H, W) scaled to [0, 1]; ``boxes`` (B, 4)
    as (top, left, bottom, right) pixels, bottom/right exclusive, or None.
    """
    n = len(images)
    per_row = min(4, n)
    rows = -(-n // per_row)
    fig = Figure(figsize=(2.2 * per_row, 1.2 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, 2 * per_row, squeeze=False)
    cmap = None if images.shape[-1] == 3 else "gray"
    for ax in axes.flat:
        ax.set_axis_off()
    for i in range(n):
        left_ax, right_ax = axes[i // per_row, 2 * (i % per_row)], axes[i // per_row, 2 * (i % per_row) + 1]
        shown = images[i] if images.shape[-1] == 3 else images[i, ..., 0]
        left_ax.imshow(shown, cmap=cmap, vmin=0, vmax=1)
        right_ax.imshow(shown, cmap=cmap, vmin=0, vmax=1)
        right_ax.imshow(maps[i], cmap="jet", alpha=0.5, vmin=0, vmax=1)
        if boxes is not None:
            top, left, bottom, right = (float(v) for v in boxes[i])
            right_ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                                         edgecolor="white", linewidth=1.5))
    patch = " and chosen patch (white)" if boxes is not None else ""
    fig.suptitle(f"{title}\nimage | activation map{patch}", fontsize="small")
    return fig
