"""A complete third-party osrbench plugin: a method, a scorer and a dataset, on the public API only.

Put it in a package and name it in that package's ``pyproject.toml``::

    [project.entry-points.osrbench]
    my-plugin = "my_plugin"

then ``pip install -e .`` and ``osrbench list`` shows ``energy``, ``fpr-at-tpr`` and ``png-folders``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import osrbench
from osrbench.api import (
    DatasetArrays,
    DatasetSpec,
    MethodSpec,
    Minibatches,
    OpenSetModel,
    OsrbenchError,
    Prediction,
    ScorerSpec,
    option,
    predict_all,
    threshold_at_tpr,
    to_float,
    train_epochs,
)

# --------------------------------------------------------------------------- a method


@dataclass
class EnergyConfig:
    epochs: int = option(10, "training epochs (the cost table reads the field named epochs)")
    batch_size: int = option(64, "minibatch size")
    lr: float = option(1e-3, "Adam learning rate")
    width: int = option(32, "channels of the first convolution")

    def validate(self) -> None:  # called by the harness after --set, before any data is loaded
        if self.epochs < 1 or self.batch_size < 1 or self.width < 1 or not self.lr > 0:
            raise OsrbenchError("--set: epochs, batch_size, width and lr must be positive")


class EnergyModel(OpenSetModel):
    """A small CNN; label = arg max logit, score = the logits' log-sum-exp (higher = more likely known)."""

    has_embedding = True

    def __init__(self, channels: int, num_classes: int, width: int, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1, stride=2), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(2 * width, num_classes)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.features((images - self.mean) / self.std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(images))

    def predict(self, images: torch.Tensor) -> Prediction:
        logits = self(images).float()
        return Prediction(logits.argmax(dim=1), torch.logsumexp(logits, dim=1))


def fit_energy(split, config: EnergyConfig, ctx) -> EnergyModel:
    model = EnergyModel(split.image_shape[0], split.num_classes, config.width, split.mean, split.std)
    model = model.to(ctx.device, memory_format=ctx.memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    data = Minibatches(split.train_images, split.train_labels, config.batch_size)

    def step(batch) -> torch.Tensor:  # the loss of one batch; train_epochs does the rest
        images, labels = batch
        return nn.functional.cross_entropy(model(to_float(images, ctx)), labels.to(ctx.device))

    stats = train_epochs(ctx, modules={"model": model}, optimizer=optimizer, epochs=config.epochs,
                         batches=lambda epoch: data, step=step)
    ctx.extra_record["final_loss"] = stats["final_loss"]  # facts for the record's method_info
    return model


# --------------------------------------------------------------------------- a scorer


@dataclass
class FprConfig:
    tpr: float = option(0.95, "share of known test samples accepted by the threshold")

    def validate(self) -> None:
        if not 0 < self.tpr <= 1:
            raise OsrbenchError(f"--set fpr-at-tpr.tpr={self.tpr}: must lie in (0, 1]")


def score_fpr(model, split, config: FprConfig, ctx) -> dict:
    """The share of unknown test samples accepted as known at the threshold that keeps ``tpr`` of the known."""
    known = predict_all(model, split.test_images, ctx).scores
    unknown = predict_all(model, split.unknown_images, ctx).scores
    threshold = threshold_at_tpr(known, config.tpr)
    return {"fpr": float((unknown >= threshold).float().mean()), "threshold": threshold}


# --------------------------------------------------------------------------- a dataset


def read_png_folders(folder: Path, download: bool) -> DatasetArrays:
    """PNG files in ``<folder>/train/<class>/`` and ``<folder>/test/<class>/``, classes sorted by name."""
    from PIL import Image

    if not (folder / "train").is_dir() or not (folder / "test").is_dir():
        raise FileNotFoundError(f"{folder}/train and {folder}/test (one folder of PNG files per class)")
    classes = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())

    def read(part: str) -> tuple[np.ndarray, np.ndarray]:
        files = [(f, label) for label, name in enumerate(classes) for f in sorted((folder / part / name).glob("*.png"))]
        images = np.stack([np.asarray(Image.open(f).convert("L"))[..., None] for f, _ in files])  # N, H, W, 1
        return images, np.array([label for _, label in files])

    x_train, y_train = read("train")
    x_test, y_test = read("test")
    return DatasetArrays(x_train, y_train, x_test, y_test, classes)


# --------------------------------------------------------------------------- registration


@osrbench.hookimpl
def osrbench_methods():
    return [MethodSpec(name="energy", description="small CNN, cross-entropy; score = log-sum-exp of the logits",
                       config=EnergyConfig, fit=fit_energy, accepts_augmentation=False)]


@osrbench.hookimpl
def osrbench_scorers():
    return [ScorerSpec(name="fpr-at-tpr", description="unknowns accepted at the threshold keeping 95% of the known",
                       config=FprConfig, score=score_fpr)]


@osrbench.hookimpl
def osrbench_datasets():
    return [DatasetSpec(name="png-folders", description="grey PNG images, one folder per class",
                        source="<data-root>/png-folders/{train,test}/<class>/*.png", read=read_png_folders)]
