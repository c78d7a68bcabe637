"""The baseline's training recipe for each input size, and how ``auto`` options resolve to it.

Every option of ``BaselineConfig`` that is left at ``auto`` (``-1`` for numbers) takes the value of
the recipe for the split's image size, so one default config trains digits on a CPU in seconds and
CIFAR-10 or TinyImageNet on a GPU with the recipe measured for them (README, "Baseline recipe").
A training set of fewer than ``SMALL_SET`` images (a ``--limit`` smoke run) takes the small-set
recipe of its size, and a run of few optimiser steps a smaller batch (``schedule``), so that a smoke
run learns in seconds on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from osrbench.specs import FIRST_METHOD_VERSION

if TYPE_CHECKING:
    from osrbench import Split


BACKBONE_NAMES = ("small-cnn", "resnet9", "whitened-cnn")  # the keys of osrbench_baseline.networks.BACKBONES


@dataclass(frozen=True)
class Recipe:
    backbone: str
    epochs: int
    width: float  # channel multiplier of the backbone
    stem_stride: int  # 2 halves the resolution after the first convolution
    crop: str  # "pad": pad-and-crop by crop_pad pixels; "resized": random resized crop (area >= crop_scale)
    crop_pad: int
    crop_scale: float
    cutout: int  # side of the cutout square in pixels, 0 = none
    ema: float  # time constant of the weight average as a share of all training steps, 0 = no average
    tta_shift: int  # test-time views translated by +-tta_shift pixels (plus mirrors where flips keep the class)
    flip: str = "random"  # "random": each image mirrored with probability 1/2; "alternating": every other epoch
    lookahead: int = 0  # steps between the lookahead's slow-weight updates, 0 = none


# Keyed by the largest image side each recipe is for; larger images take the last one.
RECIPES: dict[int, Recipe] = {
    16: Recipe("small-cnn", 80, 1.0, 1, "pad", 1, 1.0, 0, 0.0, 0),  # digits, 8 px: seconds on a CPU
    28: Recipe("resnet9", 30, 1.0, 1, "pad", 3, 1.0, 0, 0.05, 1),  # MNIST
    32: Recipe("whitened-cnn", 60, 1.5, 1, "pad", 2, 1.0, 16, 0.0, 2, "alternating", 5),  # CIFAR, SVHN
    64: Recipe("resnet9", 150, 1.0, 2, "pad", 8, 1.0, 32, 0.05, 4),  # TinyImageNet
}


# The method version (``MethodSpec.version``) of the baseline's runs at each recipe's size; sizes not listed
# are at the first version. A record stores its options as ``auto``, so a changed default recipe must change
# the version of its size alone, or its old records would be reused and averaged with the new ones:
# 32 px "2": the default changed from a ResNet-9 of 80 epochs to the whitened CNN (fast CIFAR-10 recipe).
RECIPE_VERSIONS: dict[int, str] = {32: "2"}


# A ResNet-9 or whitened CNN on a few hundred images (a --limit smoke run) has far more capacity than they need
# and costs minutes on a CPU: such a set takes a width of 0.25 and no translated test views.
SMALL_SET = 1000
SMALL_SET_RECIPES: dict[int, Recipe] = {side: replace(recipe, width=0.25, tta_shift=0)
                                        for side, recipe in RECIPES.items()
                                        if recipe.backbone in ("resnet9", "whitened-cnn")}


def recipe_side(image_size: int) -> int:
    """The key of ``RECIPES`` for the image size: the smallest side that holds it (larger images take the last)."""
    return next((s for s in sorted(RECIPES) if image_size <= s), max(RECIPES))


def version_for(split: Split) -> str:
    """The baseline's method version for runs on ``split``: that of its image size's recipe."""
    return RECIPE_VERSIONS.get(recipe_side(split.image_shape[1]), FIRST_METHOD_VERSION)


def recipe_for(image_size: int, train_images: int) -> Recipe:
    """The recipe for the image size, or its small-set recipe for fewer than ``SMALL_SET`` training images."""
    side = recipe_side(image_size)
    if train_images < SMALL_SET and side in SMALL_SET_RECIPES:
        return SMALL_SET_RECIPES[side]
    return RECIPES[side]


def resolve(config, image_size: int, train_images: int) -> Recipe:
    """The recipe for ``image_size`` and ``train_images`` with every option the config sets explicitly put
    in its place."""
    base = recipe_for(image_size, train_images)
    chosen = {f.name: getattr(config, f.name) for f in fields(Recipe)}
    explicit = {k: v for k, v in chosen.items() if v != "auto" and not (isinstance(v, (int, float)) and v < 0)}
    return replace(base, **explicit)


# The recipes' batch size and peak learning rate are tuned for full datasets: tens of optimiser steps per
# epoch, thousands in all. A run with far fewer steps (a --limit smoke run: 300 images are one batch of 512)
# cannot learn at that peak rate in a handful of steps, so it takes smaller batches.
MIN_STEPS = 60  # optimiser steps in all below which the batch shrinks (digits: 80 epochs of one batch learn)
MIN_BATCH = 32  # ... but not below this many images (batch-norm statistics need some)


@dataclass(frozen=True)
class Schedule:
    """The optimiser steps a run takes: batch size, peak learning rate, steps per epoch and in all."""

    batch_size: int
    lr: float
    steps_per_epoch: int
    steps: int


def schedule(train_images: int, epochs: int, batch_size: int, lr: float) -> Schedule:
    """The batch size and peak learning rate for the steps a run has.

    With at least ``MIN_STEPS`` steps in all (full datasets), the configured ``batch_size`` (at most the
    training set) and ``lr``. With fewer, smaller batches (as many as give ``MIN_STEPS`` steps, at least
    ``MIN_BATCH`` images each) at a peak rate scaled by the batch size (the linear scaling rule, Goyal et
    al. 2017); the warmup stays its share of the (now more) steps. The last partial batch of an epoch is
    dropped.
    """
    batch = min(batch_size, train_images)
    if epochs * (train_images // batch) >= MIN_STEPS:
        return Schedule(batch, lr, train_images // batch, epochs * (train_images // batch))
    wanted = train_images // math.ceil(MIN_STEPS / epochs)
    batch = min(batch, max(wanted, MIN_BATCH))
    return Schedule(batch, lr * batch / batch_size, train_images // batch, epochs * (train_images // batch))
