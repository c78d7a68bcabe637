"""Where the GradMix patch goes and what fills it, for a whole batch at once.

Boxes are integer (top, left, bottom, right) rows, bottom and right exclusive. A box of side s
centred on pixel c covers [c − s//2, c − s//2 + s). ``shift`` moves boxes that would cross the
border back inside the image (the covered area stays s², matching the loss weight γ²);
``clip`` cuts them at the border (the authors' code; the patch shrinks near edges).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from osrbench.gpu_augment import draw_device


def argmax_centres(maps: Tensor) -> Tensor:
    """(B, H, W) maps -> (B, 2) integer (row, column) of each map's maximum (first index on ties)."""
    flat = maps.flatten(1).argmax(dim=1)
    width = maps.shape[-1]
    return torch.stack([flat // width, flat % width], dim=1)


def boxes_around(centres: Tensor, sides: Tensor, size: tuple[int, int], border: str) -> Tensor:
    """Boxes of ``sides`` (B, 2) (height, width) centred on ``centres`` (B, 2) inside an image of ``size``."""
    start = centres - sides // 2
    if border == "shift":
        start = torch.stack([start[:, i].clamp_min(0).minimum(size[i] - sides[:, i]) for i in (0, 1)], dim=1)
        end = start + sides
    else:
        end = torch.stack([(start[:, i] + sides[:, i]).clamp_max(size[i]) for i in (0, 1)], dim=1)
        start = start.clamp_min(0)
    return torch.cat([start, end], dim=1)


def box_mask(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, H, W) boolean: inside each box."""
    rows = torch.arange(size[0], device=boxes.device)[None, :]
    cols = torch.arange(size[1], device=boxes.device)[None, :]
    inside_rows = (rows >= boxes[:, 0:1]) & (rows < boxes[:, 2:3])
    inside_cols = (cols >= boxes[:, 1:2]) & (cols < boxes[:, 3:4])
    return inside_rows[:, :, None] & inside_cols[:, None, :]


def box_area_share(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    return ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).float() / (size[0] * size[1])


def paste_resized(images: Tensor, sources: Tensor, boxes: Tensor) -> Tensor:
    """Each of ``sources`` resized into its box of ``images`` (bilinear, no antialiasing).

    The sampling grid reproduces ``F.interpolate(source, (h, w), mode="bilinear",
    align_corners=False)`` pixel for pixel: box pixel i reads source coordinate (2i + 1)/h − 1.
    """
    b, _, height, width = images.shape
    boxes = boxes.to(images.device)
    rows = torch.arange(height, device=images.device, dtype=images.dtype)[None, :]
    cols = torch.arange(width, device=images.device, dtype=images.dtype)[None, :]
    box_h = (boxes[:, 2] - boxes[:, 0]).clamp_min(1).to(images.dtype)[:, None]
    box_w = (boxes[:, 3] - boxes[:, 1]).clamp_min(1).to(images.dtype)[:, None]
    gy = (2 * (rows - boxes[:, 0:1]) + 1) / box_h - 1  # (B, H)
    gx = (2 * (cols - boxes[:, 1:2]) + 1) / box_w - 1  # (B, W)
    grid = torch.stack([gx[:, None, :].expand(b, height, width), gy[:, :, None].expand(b, height, width)], dim=-1)
    resized = F.grid_sample(sources, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return torch.where(box_mask(boxes, (height, width))[:, None], resized, images)


def fill_noise(images: Tensor, boxes: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The authors' code fill: U[0, 1) per pixel, the same value in every channel, drawn where ``generator``
    lives (where the images live when there is none)."""
    b, _, height, width = images.shape
    noise = torch.rand(b, 1, height, width, generator=generator, device=draw_device(generator, images.device))
    noise = noise.to(images.device, images.dtype)
    return torch.where(box_mask(boxes.to(images.device), (height, width))[:, None], noise, images)
