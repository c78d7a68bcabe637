"""The two training views per image, made in batches on the device with per-sample random parameters.

* ``simclr``: RandomResizedCrop(scale 0.2–1, ratio 3/4–4/3) → horizontal flip (only where the
  split allows flips) → colour jitter (0.4, 0.4, 0.4, 0.1) with p = 0.8 → grayscale with p = 0.2.
  No blur, as in SimCLR's CIFAR recipe. The jitter applies brightness, contrast, saturation, hue in
  this fixed order (torchvision draws a random order per image; the spec notes the order barely
  matters).
* ``rotate``: a random rotation within ±5° only, the paper's MNIST recipe (no SimCLR
  augmentations on digits, which flips and crops can turn into other digits).

Crop, flip and rotation are one affine resampling (``osrbench.gpu_augment.random_affine_crop``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from osrbench.gpu_augment import random_affine_crop


def _uniform(n: int, low: float, high: float, device: torch.device) -> Tensor:
    return torch.rand(n, device=device) * (high - low) + low


def grayscale(x: Tensor) -> Tensor:
    """ITU-R 601 luma (torchvision's weights), shape (B, 1, H, W); 1-channel images pass through."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return r * 0.2989 + g * 0.587 + b * 0.114  # scalars, not a weight tensor: no host-to-device copy per call


def rgb_to_hsv(x: Tensor) -> Tensor:
    r, g, b = x.unbind(1)
    high, _ = x.max(1)
    low, _ = x.min(1)
    delta = high - low
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    hue = torch.where(high == r, ((g - b) / safe) % 6,
                      torch.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = torch.where(delta > 0, hue / 6, torch.zeros_like(hue))
    positive = high > 0
    saturation = torch.where(positive, delta / torch.where(positive, high, torch.ones_like(high)), 0.0)
    return torch.stack([hue, saturation, high], 1)


def hsv_to_rgb(x: Tensor) -> Tensor:
    h, s, v = x.unbind(1)
    k = torch.stack([(n + h * 6) % 6 for n in (5.0, 3.0, 1.0)], 1)
    return v[:, None] - v[:, None] * s[:, None] * (torch.minimum(k, 4 - k).clamp(0, 1))


def colour_jitter(x: Tensor, brightness: float, contrast: float, saturation: float, hue: float, p: float) -> Tensor:
    """torchvision's ColorJitter factors, drawn per image, applied to a random share ``p`` of the batch."""
    b, device = x.shape[0], x.device

    def factor(strength: float) -> Tensor:
        return _uniform(b, max(0.0, 1 - strength), 1 + strength, device).view(b, 1, 1, 1)

    out = (x * factor(brightness)).clamp(0, 1)
    mean = grayscale(out).mean(dim=(1, 2, 3), keepdim=True)
    out = (mean + factor(contrast) * (out - mean)).clamp(0, 1)
    if x.shape[1] == 3:
        gray = grayscale(out)
        out = (gray + factor(saturation) * (out - gray)).clamp(0, 1)
        hsv = rgb_to_hsv(out)
        shift = _uniform(b, -hue, hue, device).view(b, 1, 1)
        hsv = torch.stack([(hsv[:, 0] + shift) % 1.0, hsv[:, 1], hsv[:, 2]], 1)
        out = hsv_to_rgb(hsv).clamp(0, 1)
    apply = (torch.rand(b, device=device) < p).view(b, 1, 1, 1)
    return torch.where(apply, out, x)


def random_grayscale(x: Tensor, p: float) -> Tensor:
    if x.shape[1] == 1:
        return x
    apply = (torch.rand(x.shape[0], device=x.device) < p).view(-1, 1, 1, 1)
    return torch.where(apply, grayscale(x).expand_as(x), x)


def simclr_view(x: Tensor, hflip: bool, crop_scale: tuple[float, float] = (0.2, 1.0)) -> Tensor:
    x = random_affine_crop(x, scale=crop_scale, hflip=hflip)
    x = colour_jitter(x, 0.4, 0.4, 0.4, 0.1, p=0.8)
    return random_grayscale(x, p=0.2)


def make_view(x: Tensor, kind: str, hflip: bool, crop_scale: tuple[float, float], rotation: float) -> Tensor:
    """One random view of each image of ``x`` (float in [0, 1])."""
    if kind == "simclr":
        return simclr_view(x, hflip, crop_scale)
    return random_affine_crop(x, scale=(1.0, 1.0), degrees=rotation)
