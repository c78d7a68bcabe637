"""Toy splits, models and contexts shared by the tests of the scorers plugin."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from osrbench import DataOptions, OpenSetModel, Prediction, RunContext, Split
from osrbench.progress import Progress


def context(tmp_path: Path, data_root: Path | None = None) -> RunContext:
    return RunContext(device=torch.device("cpu"), seed=0, work_dir=tmp_path / "run", progress=Progress(quiet=True),
                      data=DataOptions(data_root or tmp_path / "data"))


def constant_images(values, channels: int = 1, size: int = 8) -> torch.Tensor:
    """uint8 images, image i filled with values[i]."""
    v = torch.as_tensor(values, dtype=torch.uint8)
    return v.view(-1, 1, 1, 1).expand(-1, channels, size, size).contiguous()


class BrightnessModel(OpenSetModel):
    """Predicts class floor(mean * K) (capped); score = mean brightness in [0, 1]; embedding = per-channel mean."""

    has_embedding = True

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.unused = nn.Parameter(torch.zeros(1))

    def predict(self, images: torch.Tensor) -> Prediction:
        mean = images.float().mean(dim=(1, 2, 3))
        return Prediction((mean * self.num_classes).long().clamp(max=self.num_classes - 1), mean)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().mean(dim=(2, 3))


def brightness_split(known_values, known_labels, unknown_values, unknown_classes, num_classes: int,
                     n_unknown_classes: int, channels: int = 1, size: int = 8) -> Split:
    known = constant_images(known_values, channels, size)
    return Split(
        protocol="toy", index=0, train_images=known, train_labels=torch.as_tensor(known_labels),
        test_images=known, test_labels=torch.as_tensor(known_labels),
        unknown_images=constant_images(unknown_values, channels, size),
        unknown_labels=torch.as_tensor(unknown_classes, dtype=torch.long),
        class_names=[str(i) for i in range(num_classes)],
        unknown_class_names=[f"u{i}" for i in range(n_unknown_classes)],
        mean=(0.5,) * channels, std=(0.25,) * channels, fingerprint="toy", split_family="toy", hflip=False,
    )


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000
