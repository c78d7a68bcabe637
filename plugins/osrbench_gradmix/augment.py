"""The GradMix augmentations: ``gradmix`` (LayerCAM), ``gradcam`` (vanilla GradMix, Grad-CAM) and
``gradmix_codevariant`` (the authors' released code: noise fill, weight 1 − area, area ~ U).

They need activation maps of the model being trained. The method provides them through
``AugmentContext.saliency``, called as ``saliency(images, labels, kind=..., layers=...)`` with
``kind`` in ``cam.CAM_KINDS`` and ``layers`` a tuple of block names (``layer4.1`` = conv5_2); it
returns (B, H, W) maps at the input size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from osrbench import Augmentation, AugmentContext, MixedBatch, OsrbenchError
from osrbench.config import option
from osrbench_gradmix.patching import (
    BORDERS,
    argmax_centres,
    box_area_share,
    boxes_around,
    fill_noise,
    paste_resized,
)

LAYER_NAMES = tuple(f"layer{s}.{b}" for s in range(1, 5) for b in range(2))
CENTRES = ("cam", "random")



@dataclass
class GradMixAugConfig:
    layers: tuple[str, ...] = option(("layer4.1",), "blocks whose maps are summed (layer4.1 = the paper's conv5_2; "
                                                  "comma-separated, e.g. layer3.1,layer4.1)")
    gamma_min: float = option(0.1, "smallest patch size ratio γ")
    gamma_max: float = option(0.5, "largest patch size ratio γ")
    per_sample: bool = option(False, "draw γ per image instead of once per minibatch (authors' code: per minibatch)")
    border: str = option("shift", "shift: move boxes inside the image (area stays γ²); clip: cut them at the border")
    centre: str = option("cam", "where the patch goes: cam (the activation-map peak) or random (a uniformly drawn "
                              "pixel: the control for whether the maps matter)")

    def validate(self) -> None:
        bad = [name for name in self.layers if name not in LAYER_NAMES]
        if bad or not self.layers:
            raise OsrbenchError(f"--set layers={','.join(self.layers)}: choose blocks among {', '.join(LAYER_NAMES)}")
        if not 0 < self.gamma_min <= self.gamma_max <= 1:
            raise OsrbenchError(f"--set gamma_min={self.gamma_min} gamma_max={self.gamma_max}: "
                                "need 0 < gamma_min <= gamma_max <= 1")
        if self.border not in BORDERS:
            raise OsrbenchError(f"--set border={self.border}: choose {' or '.join(BORDERS)}")
        if self.centre not in CENTRES:
            raise OsrbenchError(f"--set centre={self.centre}: choose {' or '.join(CENTRES)}")


@dataclass
class CodeVariantConfig(GradMixAugConfig):
    """Here γ_min/γ_max bound the patch *area* share, and boxes are clipped, as in the authors' code."""

    gamma_min: float = option(0.1, "smallest patch area share (authors' code: area ~ U(0.1, 0.5))")
    gamma_max: float = option(0.5, "largest patch area share")
    border: str = option("clip", "clip: cut boxes at the border (authors' code); shift: move them inside")


class GradMixAugmentation(Augmentation):
    """Cover each image's most activated spot with a patch; ``MixedBatch.weight`` is the term's loss weight.

    Paper: side ratio γ ~ U(γ_min, γ_max), the patch is another image of the batch resized into the
    box, weight γ². Code variant: the area share ~ U(γ_min, γ_max), uniform noise in the box,
    weight 1 − (covered area share). (The authors draw the noise in normalised space; here it is
    drawn in pixel space, since the network normalises its input itself.)
    """

    def __init__(self, name: str, config: GradMixAugConfig, cam: str, code_variant: bool = False):
        self.name, self.config, self.cam, self.code_variant = name, config, cam, code_variant

    def __call__(self, images: Tensor, labels: Tensor, ctx: AugmentContext) -> MixedBatch:
        if ctx.saliency is None and self.config.centre == "cam":
            raise OsrbenchError(f"augmentation {self.name!r} needs activation maps from the method being trained; "
                                "use it with --method gradmix or supcon-simclr (classifier methods such as msp do "
                                "not provide them)")
        cfg = self.config
        b, _, height, width = images.shape
        device = images.device
        if cfg.centre == "cam":
            centres = argmax_centres(ctx.saliency(images, labels, kind=self.cam, layers=tuple(cfg.layers)))
        else:
            size = torch.tensor([height, width])
            centres = (torch.rand(b, 2, generator=ctx.generator) * size).long().clamp_max(size - 1).to(device)
        draws = b if cfg.per_sample else 1
        drawn = torch.rand(draws, generator=ctx.generator) * (cfg.gamma_max - cfg.gamma_min) + cfg.gamma_min
        ratio = drawn.sqrt() if self.code_variant else drawn  # side ratio
        sides = torch.stack([(ratio * height).floor(), (ratio * width).floor()], 1).clamp_min(1).long()
        boxes = boxes_around(centres, sides.to(device).expand(b, 2), (height, width), cfg.border)
        covered = box_area_share(boxes, (height, width))
        if self.code_variant:
            mixed = fill_noise(images, boxes, ctx.generator)
            partner = torch.arange(b, device=device)
            weight = 1 - covered
        else:
            partner = torch.randperm(b, generator=ctx.generator).to(device)
            mixed = paste_resized(images, images[partner], boxes)
            weight = (drawn ** 2).to(device)
            weight = weight if cfg.per_sample else weight[0]
        return MixedBatch(images=mixed, labels=labels, partner=partner, lam=1 - covered, weight=weight)
