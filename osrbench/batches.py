"""Minibatches from in-memory uint8 tensors, and batched inference over a whole set."""

from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import Tensor

from osrbench.types import OpenSetModel, Prediction, RunContext, ScoredModel

PREDICT_BATCH = 1024  # the inference batch size of predict_all and of the scorers, unless set otherwise


def to_float(images: Tensor, ctx: RunContext | None = None) -> Tensor:
    """uint8 (B, C, H, W) -> float in [0, 1], on the run's device and memory format."""
    if ctx is not None:
        images = images.to(ctx.device, non_blocking=True)
    out = images.float().div_(255.0)
    return out.contiguous(memory_format=ctx.memory_format) if ctx is not None else out


class Minibatches:
    """Shuffled (or ordered) minibatches of ``(images, labels)`` indexed on the data's own device."""

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, shuffle: bool = True,
                 drop_last: bool = True, generator: torch.Generator | None = None):
        if len(images) != len(labels):
            raise ValueError("images and labels differ in length")
        self.images, self.labels = images, labels
        self.batch_size = min(batch_size, len(images))
        self.shuffle, self.drop_last, self.generator = shuffle, drop_last, generator

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def endless(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Epoch after epoch without end (a fresh shuffle each time), for step-based loops."""
        while True:
            yield from self

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.images)
        device = self.images.device
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(device)
        else:
            order = torch.arange(n, device=device)
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.images[idx], self.labels[idx]


@torch.no_grad()
def map_batches(fn: Callable[[Tensor], Tensor | tuple], images: Tensor, ctx: RunContext,
                batch_size: int = 1024) -> Tensor | tuple:
    """Apply ``fn`` to float batches of ``images`` (uint8) and concatenate the outputs."""
    outputs = []
    with ctx.autocast():
        for start in range(0, len(images), batch_size):
            out = fn(to_float(images[start:start + batch_size], ctx))
            outputs.append(out if isinstance(out, tuple) else (out,))
    if not outputs:
        raise ValueError("no images to process")
    joined = tuple(torch.cat([o[i] for o in outputs]) for i in range(len(outputs[0])))
    return joined if len(joined) > 1 else joined[0]


def predict_all(model: OpenSetModel, images: Tensor, ctx: RunContext, batch_size: int = PREDICT_BATCH) -> Prediction:
    """``model.predict`` over a whole set, in eval mode; scores as float32. A scored model answers a test set
    from the prediction the harness made once per trained model (``osrbench.predictions``)."""
    made = model.predicted(images, ctx, batch_size) if isinstance(model, ScoredModel) else None
    if made is not None:
        return made
    was_training = model.training
    model.eval()
    try:
        labels, scores = map_batches(lambda x: tuple(model.predict(x)), images, ctx, batch_size)
    finally:
        model.train(was_training)
    return Prediction(labels, scores.float())
