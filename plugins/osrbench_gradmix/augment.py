"""The GradMix augmentations: ``gradmix`` (LayerCAM), ``gradcam`` (vanilla GradMix, Grad-CAM) and
``gradmix_codevariant`` (the authors' released code: noise fill, weight 1 − area, area ~ U).

They need activation maps of the model being trained. The method provides them through
``AugmentContext.saliency``, called as ``saliency(images, labels, kind=..., layers=...)`` with
``kind`` in ``cam.CAM_KINDS`` and ``layers`` a tuple of block names (``layer4.1`` = conv5_2); it
returns (B, H, W) maps at the input size.
"""

from __future__ import annotations

import torch
from torch import Tensor

from osrbench import Augmentation, AugmentContext, MixedBatch, OsrbenchError
from osrbench.gpu_augment import draw_device
from osrbench_gradmix.config import GradMixAugConfig
from osrbench_gradmix.patching import (
    argmax_centres,
    box_area_share,
    boxes_around,
    fill_noise,
    paste_resized,
)

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
        where = {"generator": ctx.generator, "device": draw_device(ctx.generator, device)}
        if cfg.centre == "cam":
            centres = argmax_centres(ctx.saliency(images, labels, kind=self.cam, layers=tuple(cfg.layers)))
        else:
            drawn_centres = torch.rand(b, 2, **where).to(device)
            centres = torch.stack([(drawn_centres[:, i] * n).long().clamp_max(n - 1)
                                   for i, n in enumerate((height, width))], 1)
        draws = b if cfg.per_sample else 1
        drawn = (torch.rand(draws, **where) * (cfg.gamma_max - cfg.gamma_min) + cfg.gamma_min).to(device)
        ratio = drawn.sqrt() if self.code_variant else drawn  # side ratio
        sides = torch.stack([(ratio * height).floor(), (ratio * width).floor()], 1).clamp_min(1).long()
        boxes = boxes_around(centres, sides.expand(b, 2), (height, width), cfg.border)
        covered = box_area_share(boxes, (height, width))
        if self.code_variant:
            mixed = fill_noise(images, boxes, ctx.generator)
            partner = torch.arange(b, device=device)
            weight = 1 - covered
        else:
            partner = torch.randperm(b, **where).to(device)
            mixed = paste_resized(images, images[partner], boxes)
            weight = drawn ** 2
            weight = weight if cfg.per_sample else weight[0]
        return MixedBatch(images=mixed, labels=labels, partner=partner, lam=1 - covered, weight=weight)


def build_gradmix(config: GradMixAugConfig) -> GradMixAugmentation:
    return GradMixAugmentation("gradmix", config, cam="layercam")


def build_gradcam(config: GradMixAugConfig) -> GradMixAugmentation:
    return GradMixAugmentation("gradcam", config, cam="gradcam")


def build_codevariant(config: GradMixAugConfig) -> GradMixAugmentation:
    return GradMixAugmentation("gradmix_codevariant", config, cam="layercam", code_variant=True)
