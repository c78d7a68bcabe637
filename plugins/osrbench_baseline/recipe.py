"""The baseline's training recipe for each input size, and how ``auto`` options resolve to it.

Every option of ``BaselineConfig`` that is left at ``auto`` (``-1`` for numbers) takes the value of
the recipe for the split's image size, so one default config trains digits on a CPU in seconds and
CIFAR-10 or TinyImageNet on a GPU with the recipe measured for them (README, "Baseline recipe").
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


BACKBONE_NAMES = ("small-cnn", "resnet9")  # the keys of osrbench_baseline.networks.BACKBONES


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


# Keyed by the largest image side each recipe is for; larger images take the last one.
RECIPES: dict[int, Recipe] = {
    16: Recipe("small-cnn", 80, 1.0, 1, "pad", 1, 1.0, 0, 0.0, 0),  # digits, 8 px: seconds on a CPU
    28: Recipe("resnet9", 30, 1.0, 1, "pad", 3, 1.0, 0, 0.05, 1),  # MNIST
    32: Recipe("resnet9", 80, 1.0, 1, "pad", 4, 1.0, 16, 0.0, 2),  # CIFAR, SVHN
    64: Recipe("resnet9", 150, 1.0, 2, "pad", 8, 1.0, 32, 0.05, 4),  # TinyImageNet
}


def recipe_for(image_size: int) -> Recipe:
    for side, recipe in sorted(RECIPES.items()):
        if image_size <= side:
            return recipe
    return RECIPES[max(RECIPES)]


def resolve(config, image_size: int) -> Recipe:
    """The recipe for ``image_size`` with every option the config sets explicitly put in its place."""
    base = recipe_for(image_size)
    chosen = {f.name: getattr(config, f.name) for f in fields(Recipe)}
    explicit = {k: v for k, v in chosen.items() if v != "auto" and not (isinstance(v, (int, float)) and v < 0)}
    return replace(base, **explicit)
