"""Checks of a trained model before it is scored: the ``predict`` contract and better-than-chance accuracy.

Both read the model's own prediction of the known test set (``osrbench.predictions``) right after
training, so a broken plugin or a model that did not learn stops the run with one line naming the
problem, instead of a traceback deep in a metric or a record with a meaningless number.
"""

from __future__ import annotations

import torch
from torch import Tensor

from osrbench.predictions import SetPrediction, TestPredictions
from osrbench.training import UntrainedModel
from osrbench.types import OsrbenchError, RunContext, Split

# Accuracy must exceed chance by this share of the way from chance (1/K) to perfect.
ABOVE_CHANCE = 0.2


class ContractViolation(OsrbenchError):
    """A model's ``predict`` returned something other than (int64 labels, finite float scores) per image."""


def prediction_problem(prediction: object, batch: int, num_classes: int) -> str | None:
    """What is wrong with one ``predict`` output for ``batch`` images (None if nothing)."""
    if not isinstance(prediction, tuple) or len(prediction) != 2:
        return f"predict() must return (labels, scores), got {type(prediction).__name__}"
    labels, scores = prediction
    for name, value in (("labels", labels), ("scores", scores)):
        if not isinstance(value, Tensor):
            return f"{name} must be a torch.Tensor, got {type(value).__name__}"
        if value.ndim != 1 or len(value) != batch:
            return f"{name} must be 1-D with one entry per image ({batch}), got shape {tuple(value.shape)}"
    if labels.dtype != torch.int64:
        return f"labels must be int64 class indices, got {labels.dtype}"
    if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < num_classes):
        return f"labels must lie in 0..{num_classes - 1}, got {int(labels.min())}..{int(labels.max())}"
    if not scores.is_floating_point():
        return f"scores must be floating point, got {scores.dtype}"
    bad = int((~torch.isfinite(scores)).sum())
    if bad:
        return f"scores must be finite, got {bad} NaN or infinite value(s) in a batch of {batch}"
    return None


def check_trained_model(own: TestPredictions, split: Split, ctx: RunContext, owner: str) -> None:
    """The health check after training, on the model's own prediction of the known test set."""
    check_contract(own.known, split.num_classes, owner)
    check_above_chance(own.known, split, ctx)


def check_contract(known: SetPrediction, num_classes: int, owner: str) -> None:
    """Check what ``predict`` returned for the first batch of known test images."""
    images, output = known.batches()[0]
    problem = prediction_problem(output, len(images), num_classes)
    if problem:
        raise ContractViolation(f"{owner}: the model breaks the predict() contract: {problem}")


def check_above_chance(known: SetPrediction, split: Split, ctx: RunContext) -> float:
    """Closed-set accuracy on the known test set; UntrainedModel (see ``RunContext.unhealthy``) if near chance."""
    labels = known.joined().labels
    accuracy = float((labels.cpu() == split.test_labels.cpu()).float().mean())
    chance = 1.0 / split.num_classes
    if accuracy <= chance + ABOVE_CHANCE * (1 - chance):
        ctx.unhealthy(UntrainedModel(f"the model did not learn: closed-set accuracy {accuracy:.3f} is near chance "
                             f"({chance:.3f} for {split.num_classes} classes); no record written. Likely cause: a "
                             "learning rate far too low or too high, or too few epochs (--set lr=... epochs=...)"))
    return accuracy
