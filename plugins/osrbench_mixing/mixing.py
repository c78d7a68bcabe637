"""The mixing itself (imported when a run builds ``mixup`` or ``cutmix``)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from osrbench import Augmentation, AugmentContext, MixedBatch
from osrbench.gpu_augment import draw_device
from osrbench_mixing import MixingConfig


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
        where = draw_device(ctx.generator, images.device)
        partner = torch.randperm(len(images), generator=ctx.generator, device=where).to(images.device)
        mixed, lam = self.combine(images, partner, lam, ctx.generator)
        weight = {"one": 1.0, "replaced": 1.0 - lam, "kept": lam}[self.config.weight]
        device = images.device
        return MixedBatch(images=mixed, labels=labels, partner=partner,
                          lam=torch.full((len(images),), lam, device=device),
                          weight=torch.full((), weight, device=device))


def build_mixup(config: MixingConfig) -> BetaMixing:
    return BetaMixing("mixup", mixup, config)


def build_cutmix(config: MixingConfig) -> BetaMixing:
    return BetaMixing("cutmix", cutmix, config)
