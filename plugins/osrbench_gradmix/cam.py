"""LayerCAM and Grad-CAM maps from block outputs captured with forward hooks, for a whole batch at once.

For a block output A (B, C, h, w) and the gradient G = ∂l/∂A of a scalar loss l:

* LayerCAM (Jiang et al. 2021; GradMix eqs. 6–7): M = ReLU(Σ_k ReLU(G_k) · A_k);
* Grad-CAM ("vanilla GradMix"): M = ReLU(Σ_k mean_ij(G_k) · A_k).

Each layer's map is upsampled to the input size (bilinear, align_corners=False). Several layers are
min-max normalised over the whole batch and summed (the authors' later code); for one layer this
changes no argmax.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

CAM_KINDS = ("layercam", "gradcam")


@contextmanager
def record_outputs(modules: dict[str, nn.Module]) -> Iterator[dict[str, Tensor]]:
    """Capture the output of each named module during the forward passes run inside the block."""
    outputs: dict[str, Tensor] = {}
    handles = [module.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out))
               for name, module in modules.items()]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def layer_map(activation: Tensor, gradient: Tensor, kind: str) -> Tensor:
    """(B, C, h, w) activation and gradient -> (B, h, w) map."""
    a, g = activation.float(), gradient.float()
    if kind == "layercam":
        weighted = g.clamp_min(0) * a
    else:
        weighted = g.mean(dim=(2, 3), keepdim=True) * a
    return weighted.sum(1).clamp_min(0)


def combine_maps(maps: Sequence[Tensor], size: tuple[int, int]) -> Tensor:
    """Upsample per-layer maps (B, h, w) to ``size`` and add them up, each scaled to [0, 1] over the batch."""
    total = None
    for m in maps:
        up = F.interpolate(m[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
        low, high = up.min(), up.max()
        up = (up - low) / (high - low).clamp_min(1e-12)
        total = up if total is None else total + up
    return total


def cam_maps(loss: Tensor, activations: Sequence[Tensor], kind: str, size: tuple[int, int],
             retain_graph: bool = False) -> Tensor:
    """Maps (B, *size) of the captured ``activations`` for the gradient of ``loss``.

    Uses ``torch.autograd.grad``, so no parameter gradient is touched and the backward pass stops at
    the earliest captured layer.
    """
    if kind not in CAM_KINDS:
        raise ValueError(f"unknown activation-map kind {kind!r}; expected one of {CAM_KINDS}")
    grads = torch.autograd.grad(loss, list(activations), retain_graph=retain_graph)
    return combine_maps([layer_map(a.detach(), g, kind) for a, g in zip(activations, grads)], size)
