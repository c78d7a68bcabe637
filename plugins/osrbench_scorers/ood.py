"""``ood``: out-of-distribution detection against whole datasets.

In-distribution = the protocol's known test set (with the ``cifar10-all`` closed-set protocol, the
papers' CIFAR-10 vs CIFAR-100 / SVHN setting). Each OOD set is the test split of a dataset the
harness can load (any registered dataset or prepared ``<data-root>/<name>.npz``), optionally only some of its classes
(``NAME:3+5+8``, the dataset's own label indices), brought to the protocol's image shape: channels
repeated (grey to colour) or averaged (colour to grey), size changed with antialiased bilinear
interpolation (e.g. TinyImageNet 64 px to 32 px). The score is the method's own ``predict`` score;
metrics and their conventions are those of ``osrbench.ood_metrics`` (ID positive, ties together).
"""

from __future__ import annotations


import torch
from torch.nn import functional as F

from osrbench import OpenSetModel, OsrbenchError, RunContext, Split
from osrbench.batches import predict_all
from osrbench.data import load_dataset
from osrbench.ood_metrics import ood_metrics, roc_points
from osrbench_scorers import plots
from osrbench_scorers.configs import OODConfig, parse_set


@torch.no_grad()
def fit_to_shape(images: torch.Tensor, shape: tuple[int, int, int], device: torch.device,
                 chunk: int = 4096) -> torch.Tensor:
    """uint8 (N, C, H, W) images in another shape (C', H', W'), converted in chunks on ``device``."""
    channels, height, width = shape
    if images.shape[1:] == shape:
        return images
    if images.shape[1] not in (1, 3) or channels not in (1, 3):
        raise OsrbenchError(f"cannot convert images of {images.shape[1]} channels to {channels}; only 1 and 3 are supported")
    out = []
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].to(device).float()
        if x.shape[1] != channels:
            x = x.repeat(1, 3, 1, 1) if channels == 3 else x.mean(dim=1, keepdim=True)
        if x.shape[-2:] != (height, width):
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
        out.append(x.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


def load_ood_set(spec: str, split: Split, ctx: RunContext) -> tuple[torch.Tensor, tuple[int, ...]]:
    """The OOD images of ``spec`` in the split's image shape, and their original shape."""
    if ctx.data is None:
        raise OsrbenchError("scorer 'ood' needs the run's data options (data root) to load OOD datasets")
    name, classes = parse_set(spec)
    ds = load_dataset(name, ctx.data)
    images = ds.x_test
    if classes is not None:
        bad = [c for c in classes if not 0 <= c < len(ds.classes)]
        if bad:
            raise OsrbenchError(f"--set ood.sets: {spec!r} names class {bad[0]}, but {name} has classes 0..{len(ds.classes) - 1}")
        images = images[torch.isin(ds.y_test, torch.tensor(classes))]
    return fit_to_shape(images, split.image_shape, ctx.device), tuple(ds.x_test.shape[1:])


def score_ood(model: OpenSetModel, split: Split, config: OODConfig, ctx: RunContext) -> dict:
    known = predict_all(model, split.test_images, ctx, config.batch_size).scores
    out: dict = {}
    samples, shapes, curves = {"in_distribution": len(known)}, {}, {}
    for spec in config.sets:
        images, source_shape = load_ood_set(spec, split, ctx)
        ood = predict_all(model, images, ctx, config.batch_size).scores
        values = ood_metrics(known, ood, config.tpr)
        out.update({f"{spec}.{key}": value for key, value in values.items()})
        samples[spec], shapes[spec] = len(ood), "x".join(map(str, source_shape))
        fpr, tpr, _ = roc_points(known, ood)
        curves[spec] = (fpr, tpr, values["auroc"])
    out.update({"samples": samples, "source_shape": shapes})  # nested: facts, not leaderboard metrics
    if config.plots:
        title = f"ROC, {split.protocol} split {split.index} (known test set) vs OOD sets"
        out["plots"] = [plots.save(plots.roc_figure(curves, title), ctx.work_dir, plots.ROC_OOD)]
    return out
