"""``corruption``: accuracy under the 15 common corruptions of Hendrycks & Dietterich at 5 severities.

The known test set is corrupted (``corruption_sets``: generated once and cached, or read from a
prepared CIFAR-10-C style folder) and classified with the model's own ``predict``. Reported:
A(c, s), the drop D(c, s) = A_clean − A(c, s), its mean per corruption D̄_c (over the chosen
severities), per severity, and overall D̄ (mean of the D̄_c), as in GradMix §4.4 / Table 5; and
which implementation made the corrupted images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from osrbench import OpenSetModel, OsrbenchError, RunContext, Split
from osrbench.batches import predict_all
from osrbench.metrics import closed_set_accuracy
from osrbench_scorers import plots
from osrbench_scorers.configs import CorruptionConfig
from osrbench_scorers.corruption_sets import (
    PreparedSets,
    find_cache,
    generate_missing,
    prepared_folder,
    set_path,
)

ISSUE_NOTE = "ImageNet-C severity constants (tuned for 224 px): not comparable with published CIFAR-10-C numbers"


def corrupted_sets(split: Split, config: CorruptionConfig, ctx: RunContext, wanted: list[tuple[str, int]]):
    """(a function giving the uint8 images of one set, facts for the record)."""
    root = Path(ctx.data.root) if ctx.data is not None else None
    prepared = prepared_folder(config.prepared, split, root)
    if prepared is not None:
        return PreparedSets(prepared, split, wanted).__getitem__, {"implementation": f"prepared arrays ({prepared})", "generation_seconds": 0.0}
    if config.cache_dir:
        cache_root = Path(config.cache_dir)
    elif root is not None:
        cache_root = root / "corruptions"
    else:
        raise OsrbenchError("scorer 'corruption' needs a data root or --set corruption.cache_dir=DIR for its cache")
    clean = split.test_images.cpu()
    folder, impl = find_cache(cache_root, clean, wanted)
    seconds = generate_missing(clean, wanted, folder, impl, config.workers, ctx.progress)

    def load(key: tuple[str, int]) -> torch.Tensor:
        return torch.from_numpy(np.load(set_path(folder, *key)))

    return load, {"implementation": f"{impl} ({ISSUE_NOTE})", "cache": str(folder),
                  "generation_seconds": round(seconds, 3)}


def score_corruption(model: OpenSetModel, split: Split, config: CorruptionConfig, ctx: RunContext) -> dict:
    wanted = [(c, s) for c in config.corruptions for s in config.severities]
    load, facts = corrupted_sets(split, config, ctx, wanted)
    labels = split.test_labels
    clean = closed_set_accuracy(predict_all(model, split.test_images, ctx, config.batch_size).labels, labels)
    accuracy: dict[str, dict[str, float]] = {c: {} for c in config.corruptions}
    for c, s in ctx.progress.track(wanted, "scoring corrupted sets"):
        pred = predict_all(model, load((c, s)), ctx, config.batch_size).labels
        accuracy[c][str(s)] = closed_set_accuracy(pred, labels)
    drop = {c: {s: clean - a for s, a in per.items()} for c, per in accuracy.items()}
    per_corruption = {c: float(np.mean(list(per.values()))) for c, per in drop.items()}
    per_severity = {str(s): float(np.mean([drop[c][str(s)] for c in drop])) for s in config.severities}
    out = {
        "clean_accuracy": clean,
        "mean_drop": float(np.mean(list(per_corruption.values()))),
        "mean_corrupted_accuracy": float(np.mean([a for per in accuracy.values() for a in per.values()])),
        "mean_drop_per_corruption": per_corruption,
        "mean_drop_per_severity": per_severity,
        "accuracy": accuracy,
        "drop": drop,
        **facts,
    }
    if config.plots:
        title = f"accuracy drop under corruptions, {split.protocol} split {split.index} (clean {100 * clean:.1f}%)"
        out["plots"] = [plots.save(plots.corruption_figure(drop, title), ctx.work_dir, plots.CORRUPTION)]
    return out
