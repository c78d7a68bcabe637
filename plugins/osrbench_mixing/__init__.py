"""Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) as batch augmentations.

One mixing share λ ~ Beta(α, α) and one random pairing per minibatch, as in both papers.

* ``mixup``: x̃ = λ·x + (1 − λ)·x_π.
* ``cutmix``: a box of side ratio √(1 − λ) at a uniformly random position fully inside the image
  is copied from x_π; λ becomes the share of pixels kept.

``MixedBatch.weight`` (``--set NAME.weight=...``): ``one`` (default; a classifier trains on the mixed
batch instead of the clean one), ``replaced`` (1 − λ, the share replaced: the GradMix spec's
convention when the mixed views are an extra SimCLR term, as in the paper's Fig. 2), or ``kept``
(λ, the GradMix authors' code).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

import osrbench
from osrbench import (
    Augmentation,
    AugmentationSpec,
    AugmentContext,
    MixedBatch,
    OsrbenchError,
)

WEIGHTS = ("one", "replaced", "kept")


@dataclass
class MixingConfig:
    alpha: float = field(default=1.0, metadata={"help": "λ ~ Beta(α, α); larger α mixes more strongly"})
    weight: str = field(default="one", metadata={"help": "loss weight of the mixed batch: one, replaced (1 − λ) "
                                                         "or kept (λ)"})

    def validate(self) -> None:
        if self.alpha <= 0:
            raise OsrbenchError(f"--set alpha={self.alpha}: α must be positive")
        if self.weight not in WEIGHTS:
            raise OsrbenchError(f"--set weight={self.weight}: choose {', '.join(WEIGHTS)}")


def mixup(images: Tensor, partner: Tensor, lam: float, generator: torch.Generator | None) -> tuple[Tensor, float]:
    return lam * images + (1 - lam) * images[partner], lam


def cutmix(images: Tensor, partner: Tensor, lam: float, generator: torch.Generator | None) -> tuple[Tensor, float]:
    _, _, height, width = images.shape
    ratio = math.sqrt(1 - lam)
    box_h, box_w = int(ratio * height), int(ratio * width)
    top = int(torch.randint(0, height - box_h + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - box_w + 1, (1,), generator=generator))
    mixed = images.clone()
    mixed[:, :, top:top + box_h, left:left + box_w] = images[partner, :, top:top + box_h, left:left + box_w]
    return mixed, 1 - box_h * box_w / (height * width)


class BetaMixing(Augmentation):
    """Draws λ (global torch RNG) and the pairing (``ctx.generator``), then lets ``combine`` mix the images.

    ``combine(images, partner, lam, generator)`` returns the mixed images and the actual share kept.
    """

    def __init__(self, name: str, combine, config: MixingConfig):
        self.name, self.combine, self.config = name, combine, config

    def __call__(self, images: Tensor, labels: Tensor, ctx: AugmentContext) -> MixedBatch:
        alpha = torch.tensor(float(self.config.alpha))
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        partner = torch.randperm(len(images), generator=ctx.generator).to(images.device)
        mixed, lam = self.combine(images, partner, lam, ctx.generator)
        weight = {"one": 1.0, "replaced": 1.0 - lam, "kept": lam}[self.config.weight]
        device = images.device
        return MixedBatch(images=mixed, labels=labels, partner=partner,
                          lam=torch.full((len(images),), lam, device=device),
                          weight=torch.tensor(weight, device=device))


@osrbench.hookimpl
def osrbench_augmentations():
    return [
        AugmentationSpec(name="mixup", description="Mixup: convex combination of image pairs, λ ~ Beta(α, α)",
                         config=MixingConfig, build=lambda config: BetaMixing("mixup", mixup, config)),
        AugmentationSpec(name="cutmix", description="CutMix: a box of another image pasted in, area share "
                                                    "1 − λ, λ ~ Beta(α, α)", config=MixingConfig,
                         build=lambda config: BetaMixing("cutmix", cutmix, config)),
    ]
