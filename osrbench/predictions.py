"""Predict once: a trained model's own ``predict`` over the known and unknown test sets, made once per
trained model and shared by the health check, every postprocessor and every scorer.

The outputs are kept batch by batch as the model returned them, unchecked: the health check judges
the first batch (a broken plugin stops the run), and a later batch that breaks the contract fails
the scorers that read it, each recorded, as when every scorer predicted the set itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from osrbench.batches import PREDICT_BATCH, to_float
from osrbench.types import OpenSetModel, Prediction, RunContext, Split


@dataclass
class SetPrediction:
    """``model.predict`` over one whole set of ``images``, in batches of ``batch_size``."""

    images: Tensor
    batch_size: int
    outputs: list[Any]  # what predict returned for each batch, unchecked

    def batches(self) -> list[tuple[Tensor, Any]]:
        """(uint8 images, predict's output) per batch."""
        return [(self.images[i * self.batch_size:(i + 1) * self.batch_size], out) for i, out in enumerate(self.outputs)]

    def joined(self) -> Prediction:
        """The whole set's labels and float32 scores (as ``predict_all`` gives them)."""
        labels, scores = (torch.cat(parts) for parts in zip(*(tuple(out) for out in self.outputs)))
        return Prediction(labels, scores.float())


class TestPredictions:
    """The model's own predictions of the split's known and unknown test images, each made once: on first
    use (the health check reads the known set right after training), kept once made."""

    def __init__(self, model: OpenSetModel, split: Split, ctx: RunContext):
        self.model, self.split, self.ctx = model, split, ctx

    @cached_property
    def known(self) -> SetPrediction:
        return predict_set(self.model, self.split.test_images, self.ctx)

    @cached_property
    def unknown(self) -> SetPrediction:
        return predict_set(self.model, self.split.unknown_images, self.ctx)

    def of(self, images: Tensor, batch_size: int) -> SetPrediction | None:
        """The prediction of exactly these images (the very tensor) in batches of ``batch_size``, if it is one
        of the test sets (None: the caller predicts them itself)."""
        if batch_size != PREDICT_BATCH or not len(images):
            return None
        if images is self.split.test_images:
            return self.known
        return self.unknown if images is self.split.unknown_images else None


@torch.no_grad()
def predict_set(model: OpenSetModel, images: Tensor, ctx: RunContext, batch_size: int = PREDICT_BATCH) -> SetPrediction:
    """``model.predict`` (eval mode) over ``images``, batch by batch, outputs kept as they came."""
    model.eval()
    with ctx.autocast():
        outputs = [model.predict(to_float(images[start:start + batch_size], ctx))
                   for start in range(0, len(images), batch_size)]
    return SetPrediction(images, batch_size, outputs)


def predict_test_sets(model: OpenSetModel, split: Split, ctx: RunContext) -> TestPredictions:
    """The stage after training: the trained model's test-set predictions, each made once when first read."""
    return TestPredictions(model, split, ctx)
