"""Batched image augmentations with per-sample random parameters, run where the batch lives.

No per-sample Python: each function draws one random tensor per parameter, on the batch's device
(a ``generator``, if given, must live there too), and builds the result with indexing, so the same
code runs on a GPU at full speed and on a CPU at small size.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F


def draw_device(generator: torch.Generator | None, batch_device: torch.device) -> torch.device:
    """Where to draw random numbers for a batch: on the generator's device if one is given, else on the batch's
    (a draw on the host, copied to a GPU, would stall the host until the GPU's queue is empty)."""
    return batch_device if generator is None else generator.device


def random_crop(x: Tensor, pad: int, generator: torch.Generator | None = None) -> Tensor:
    """Random translation by up to ``pad`` pixels with reflection padding (the usual pad-and-crop)."""
    if pad <= 0:
        return x
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B,1,H,1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B,1,1,W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_hflip(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cutout(x: Tensor, size: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero a ``size``×``size`` square at a random centre per image (clipped at the borders)."""
    if size <= 0:
        return x
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator, device=x.device)
    cx = torch.randint(0, w, (b,), generator=generator, device=x.device)
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    inside_y = ((ys - cy[:, None] + size // 2) >= 0) & ((ys - cy[:, None] + size // 2) < size)
    inside_x = ((xs - cx[:, None] + size // 2) >= 0) & ((xs - cx[:, None] + size // 2) < size)
    mask = inside_y[:, :, None] & inside_x[:, None, :]
    return x.masked_fill(mask[:, None], 0.0)


def random_affine_crop(x: Tensor, *, scale: tuple[float, float], ratio: tuple[float, float] = (3 / 4, 4 / 3),
                       degrees: float = 0.0, hflip: bool = False) -> Tensor:
    """RandomResizedCrop, optional horizontal flip and rotation in one bilinear ``grid_sample`` (zero fill).

    Per image: crop area share ~ U(scale), log aspect ratio uniform within ``ratio`` restricted to the
    ratios whose crop fits inside the image (torchvision rejects the others), centre uniform over the
    places the crop fits, rotation ~ U(−degrees, degrees), mirror with probability 1/2 if ``hflip``.
    """
    b, dev = x.shape[0], x.device
    area = torch.empty(b, device=dev).uniform_(*scale)
    lo = area.log().clamp(min=math.log(ratio[0]))
    hi = (-area.log()).clamp(max=math.log(ratio[1]))
    log_ratio = lo + (hi - lo) * torch.rand(b, device=dev)
    w = (area * log_ratio.exp()).sqrt()  # crop width / image width
    h = (area / log_ratio.exp()).sqrt()
    cx = (torch.rand(b, device=dev) * 2 - 1) * (1 - w)  # crop centre in [-1, 1] coordinates
    cy = (torch.rand(b, device=dev) * 2 - 1) * (1 - h)
    angle = (torch.rand(b, device=dev) * 2 - 1) * math.radians(degrees)
    flip = torch.where(torch.rand(b, device=dev) < 0.5, -1.0, 1.0) if hflip else torch.ones(b, device=dev)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack([
        torch.stack([cos * w * flip, -sin * h, cx], dim=1),
        torch.stack([sin * w * flip, cos * h, cy], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)


def standard_augment(x: Tensor, *, crop_pad: int, hflip: bool, cutout_size: int = 0,
                     generator: torch.Generator | None = None) -> Tensor:
    """Pad-and-crop, optional horizontal flip, optional cutout: the classic small-image recipe."""
    x = random_crop(x, crop_pad, generator)
    if hflip:
        x = random_hflip(x, generator)
    return cutout(x, cutout_size, generator)
