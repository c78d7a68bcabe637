"""One training step's loss: L = θ·L_supcon + λ·(L_simclr + w·L_simclr^mixed) (GradMix eq. 8).

The mixed term exists only when the harness hands the method an augmentation (``--augment gradmix``,
``gradcam``, ``mixup``, ``cutmix`` ...). The augmentation mixes view 1 of each image; view 2 stays
as it is; ``MixedBatch.weight`` is w (γ² for GradMix). SupCon sees the original views only.

Activation maps for GradMix come from :class:`StepSaliency`: LayerCAM / Grad-CAM of the SimCLR loss
of the current batch at the requested blocks, with the current weights in train mode (the authors'
per-iteration schedule). When asked for the maps of this step's own view-1 batch, it reuses the block
outputs and the SimCLR loss of the step's forward pass: the maps are the same as those of a separate
forward pass (same weights, same batch statistics), one forward pass cheaper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from osrbench import Augmentation, AugmentContext, OsrbenchError
from osrbench_gradmix.cam import cam_maps, record_outputs
from osrbench_gradmix.losses import (
    mixed_simclr_per_anchor,
    simclr_per_anchor,
    supcon_loss,
)
from osrbench_gradmix.network import ContrastiveNet
from osrbench_gradmix.views import make_view


def _select(blocks: dict, layers: tuple[str, ...]) -> dict:
    missing = [name for name in layers if name not in blocks]
    if missing:
        raise OsrbenchError(f"activation maps: no block {missing[0]!r}; choose among {', '.join(blocks)}")
    return {name: blocks[name] for name in layers}


def fresh_saliency(net: ContrastiveNet, images: Tensor, partners: Tensor, kind: str, layers: tuple[str, ...],
                   temperature: float, base_temperature: float) -> Tensor:
    """Maps (B, H, W) of ``images`` for the SimCLR loss of the view pairs (images, partners)."""
    if partners.shape != images.shape:
        raise OsrbenchError(f"activation maps: got {tuple(images.shape)} images for {tuple(partners.shape)} "
                            "partner views; they must match")
    with torch.enable_grad(), record_outputs(_select(net.cam_layers(), layers)) as outputs:
        z = net(torch.cat([images, partners]))
        loss = simclr_per_anchor(z, temperature, base_temperature).mean()
        maps = cam_maps(loss, [outputs[name] for name in layers], kind, tuple(images.shape[-2:]))
    return maps[:len(images)]


class StepSaliency:
    """The ``AugmentContext.saliency`` callback of one training step."""

    def __init__(self, net: ContrastiveNet, view1: Tensor, view2: Tensor, outputs: dict[str, Tensor],
                 simclr: Tensor, temperature: float, base_temperature: float):
        self.net, self.view1, self.view2, self.outputs, self.simclr = net, view1, view2, outputs, simclr
        self.temperature, self.base_temperature = temperature, base_temperature

    def __call__(self, images: Tensor, labels: Tensor, *, kind: str = "layercam",
                 layers: tuple[str, ...] = ("layer4.1",)) -> Tensor:
        if images is not self.view1:
            return fresh_saliency(self.net, images, self.view2, kind, layers, self.temperature, self.base_temperature)
        recorded = _select(self.outputs, layers)
        maps = cam_maps(self.simclr, list(recorded.values()), kind, tuple(images.shape[-2:]), retain_graph=True)
        return maps[:len(images)]


@dataclass
class Objective:
    net: ContrastiveNet
    num_classes: int
    theta: float
    lam: float
    temperature: float
    base_temperature: float
    view_kind: str
    hflip: bool
    crop_scale: tuple[float, float]
    rotation: float
    mixed_loss: str = "anchored"
    supcon_denominator: str = "all"
    augmentation: Augmentation | None = None
    memory_format: torch.memory_format = torch.contiguous_format
    compiled: bool = False  # torch.compile the views and the losses: each is dozens of small element-wise kernels

    def __post_init__(self) -> None:
        def wrap(fn):
            return torch.compile(fn, dynamic=False) if self.compiled else fn
        self._view, self._supcon, self._simclr, self._mixed_simclr = map(
            wrap, (make_view, supcon_loss, simclr_per_anchor, mixed_simclr_per_anchor))

    def views(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Two random views of each image, made as one batch (each view its own random parameters)."""
        return self._view(torch.cat([x, x]), self.view_kind, self.hflip, self.crop_scale, self.rotation).chunk(2)

    def __call__(self, x: Tensor, labels: Tensor) -> Tensor:
        """The loss of float images ``x`` (B, C, H, W) in [0, 1] with labels (B,), on the net's device."""
        view1, view2 = self.views(x)
        tau, base = self.temperature, self.base_temperature
        blocks = self.net.cam_layers() if self.augmentation is not None else {}
        with record_outputs(blocks) as outputs:
            z = self.net(torch.cat([view1, view2]).contiguous(memory_format=self.memory_format))
        simclr = self._simclr(z, tau, base).mean()
        loss = self.theta * self._supcon(z, labels.repeat(2), tau, base, self.supcon_denominator) + self.lam * simclr
        if self.augmentation is None:
            return loss
        saliency = StepSaliency(self.net, view1, view2, outputs, simclr, tau, base)
        mixed = self.augmentation(view1, labels, AugmentContext(num_classes=self.num_classes, saliency=saliency))
        z1_mixed = self.net(mixed.images.contiguous(memory_format=self.memory_format))
        n = len(view1)
        if self.mixed_loss == "anchored":
            term = self._mixed_simclr(z, torch.cat([z1_mixed, z[n:]]), tau, base)
        else:
            term = self._simclr(torch.cat([z1_mixed, z[n:]]), tau, base)
        weight = torch.as_tensor(mixed.weight, device=z.device, dtype=torch.float32)
        weight = weight.repeat(2) if weight.ndim == 1 else weight
        return loss + self.lam * (weight * term).mean()
