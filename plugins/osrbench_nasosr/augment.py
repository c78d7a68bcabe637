"""The training transform of the authors' code, batched on the device in one affine warp.

RandomResizedCrop (area share in [crop_scale_min, 1], aspect ratio in [3/4, 4/3]), a horizontal
flip with probability 1/2 (only where the protocol says flips keep the class) and a rotation in
[−rotation, +rotation] degrees with zero fill, all drawn per sample and applied with one
``grid_sample`` at the input resolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def crop_flip_rotate(x: Tensor, *, scale_min: float, rotation: float, hflip: bool) -> Tensor:
    b, dev = x.shape[0], x.device
    area = torch.empty(b, device=dev).uniform_(scale_min, 1.0)
    # aspect ratios whose crop fits inside the image (torchvision rejects the others)
    lo = area.log().clamp(min=math.log(3 / 4))
    hi = (-area.log()).clamp(max=math.log(4 / 3))
    log_ratio = lo + (hi - lo) * torch.rand(b, device=dev)
    w = (area * log_ratio.exp()).sqrt()  # crop width / image width
    h = (area / log_ratio.exp()).sqrt()
    cx = (torch.rand(b, device=dev) * 2 - 1) * (1 - w)  # crop centre in [-1, 1] coordinates
    cy = (torch.rand(b, device=dev) * 2 - 1) * (1 - h)
    angle = (torch.rand(b, device=dev) * 2 - 1) * math.radians(rotation)
    flip = torch.where(torch.rand(b, device=dev) < 0.5, -1.0, 1.0) if hflip else torch.ones(b, device=dev)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack([
        torch.stack([cos * w * flip, -sin * h, cx], dim=1),
        torch.stack([sin * w * flip, cos * h, cy], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
