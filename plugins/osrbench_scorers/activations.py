"""A grid of images with the model's activation maps and chosen patches, for models that offer them.

The hook is duck-typed so that no scorer depends on a method plugin: a model may define
``activation_figure_data(images)`` taking float images in [0, 1] (B, C, H, W) on the run's device
and returning a mapping with

* ``"images"``: (B, C, H, W) float in [0, 1] (the images to show; usually the input),
* ``"maps"``: (B, h, w) activation maps, any scale (each is upsampled to H x W and scaled to [0, 1]),
* ``"boxes"`` (optional): (B, 4) integer patch boxes (top, left, bottom, right) in pixels, bottom
  and right exclusive.

Models without the method get no grid.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from osrbench import OpenSetModel, OsrbenchError, RunContext
from osrbench.batches import to_float
from osrbench_scorers import plots


def _scaled_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    maps = F.interpolate(maps.float()[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    return (maps - low) / (high - low).clamp_min(1e-12)


def activation_grid(model: OpenSetModel, images: torch.Tensor, ctx: RunContext, title: str, count: int) -> str | None:
    """Write ``activation-grid.png`` for ``count`` of ``images`` (uint8), spread evenly over the set (test sets may
    be sorted by class); None if the model has no maps."""
    provide = getattr(model, "activation_figure_data", None)
    if not callable(provide) or count < 1 or len(images) == 0:
        return None
    chosen = torch.linspace(0, len(images) - 1, min(count, len(images))).round().long()  # spread over the set
    data = provide(to_float(images[chosen.to(images.device)], ctx))
    missing = {"images", "maps"} - set(data)
    if missing:
        raise OsrbenchError(f"{type(model).__name__}.activation_figure_data returned no {', '.join(sorted(missing))}; "
                            "it must return a mapping with 'images', 'maps' and optionally 'boxes'")
    shown = data["images"].detach().float().cpu().clamp(0, 1)
    maps = data["maps"].detach().cpu()
    if maps.ndim != 3 or len(maps) != len(shown):
        raise OsrbenchError(f"{type(model).__name__}.activation_figure_data: 'maps' must be (B, h, w) with one map "
                            f"per image, got shape {tuple(maps.shape)} for {len(shown)} images")
    boxes = data.get("boxes")
    boxes = None if boxes is None else torch.as_tensor(boxes).detach().cpu().numpy()
    fig = plots.activation_grid_figure(shown.permute(0, 2, 3, 1).numpy(), _scaled_maps(maps, shown.shape[-2:]).numpy(),
                                       boxes, title)
    return plots.save(fig, ctx.work_dir, plots.ACTIVATIONS)
