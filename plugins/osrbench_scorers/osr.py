"""``osr``: AUROC, OSCR, macro-F1 at 95% known TPR, closed-set accuracy, the openness–F1 curve.

A closed-set protocol (no unknown test samples) gets the closed-set accuracy only. Figures: the
ROC curve (known positive), the openness–F1 curve, and the activation grid of models that offer one.
"""

from __future__ import annotations


from osrbench import OpenSetModel, RunContext, Split, metrics
from osrbench.batches import predict_all
from osrbench.ood_metrics import roc_points
from osrbench_scorers import plots
from osrbench_scorers.activations import activation_grid
from osrbench_scorers.configs import OSRConfig
from osrbench_scorers.openness import openness_curve


def _title(split: Split) -> str:
    return f"{split.protocol} split {split.index}"


def score_osr(model: OpenSetModel, split: Split, config: OSRConfig, ctx: RunContext) -> dict:
    known = predict_all(model, split.test_images, ctx, config.batch_size)
    accuracy = metrics.closed_set_accuracy(known.labels, split.test_labels)
    figures = []
    if len(split.unknown_images) == 0:
        out: dict = {"accuracy": accuracy, "open_set": "skipped: the protocol has no unknown test samples (closed set)"}
    else:
        unknown = predict_all(model, split.unknown_images, ctx, config.batch_size)
        out = {
            "auroc": metrics.auroc(known.scores, unknown.scores),
            "oscr": metrics.oscr(known.scores, known.labels, split.test_labels, unknown.scores),
            "macro_f1": metrics.macro_f1_at_tpr(known.scores, known.labels, split.test_labels, unknown.scores,
                                                unknown.labels, split.num_classes, config.tpr),
            "accuracy": accuracy,
        }
        if split.unknown_labels is not None and split.unknown_class_names:
            out["openness_curve"] = openness_curve(known, split.test_labels, unknown, split.unknown_labels,
                                                   len(split.unknown_class_names), split.num_classes, config.tpr,
                                                   config.openness_draws, ctx.seed)
        if config.plots:
            fpr, tpr, _ = roc_points(known.scores, unknown.scores)
            figures.append(plots.save(plots.roc_figure({"known vs unknown": (fpr, tpr, out["auroc"])},
                                                       f"ROC, {_title(split)}"), ctx.work_dir, plots.ROC_OSR))
            if len(out.get("openness_curve", [])) > 1:
                figures.append(plots.save(plots.openness_figure(out["openness_curve"], f"openness–F1, {_title(split)}"),
                                          ctx.work_dir, plots.OPENNESS))
    if config.plots:
        grid = activation_grid(model, split.test_images, ctx, f"activation maps, {_title(split)}", config.grid_images)
        figures += [grid] if grid else []
    if figures:
        out["plots"] = figures
    return out
