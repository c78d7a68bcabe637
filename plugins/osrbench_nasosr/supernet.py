"""The hierarchical search super-network: 6 layers × 3 scales of mixed-op cells, paths mixed by β.

Cell (l, s) exists for s ≤ min(l, 2) and runs at scale s (stride 4·2^s, 16F·2^s channels). Its
*keep* output stays at scale s; its *down* output (a second mixed op, same α row, stride 2) feeds
scale s+1 of the next layer; the last layer and scale 2 have no down output. A cell with l > s has
two candidate inputs: the down output of (l−1, s−1) and the keep output of (l−1, s). As in the
authors' code, the cell runs on each candidate separately and its outputs are mixed with
softmax(β) (the paper's eq. 2 mixes the inputs instead; the two differ because ops are nonlinear).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from osrbench_nasosr.operations import OP_NAMES, MixedOp, Stem, scale_channels

LAYERS = 6
SCALES = 3


def cell_exists(layer: int, scale: int) -> bool:
    return scale <= min(layer, SCALES - 1)


def has_down(layer: int, scale: int) -> bool:
    return scale < SCALES - 1 and layer < LAYERS - 1


class Cell(nn.Module):
    def __init__(self, width: int, layer: int, scale: int):
        super().__init__()
        channels = scale_channels(width, scale)
        self.keep = MixedOp(channels, 1)
        self.down = MixedOp(channels, 2) if has_down(layer, scale) else None

    def forward(self, x: Tensor, weights: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.keep(x, weights), (self.down(x, weights) if self.down is not None else None)


class SuperNet(nn.Module):
    """The searchable encoder. ``forward`` returns the maps at strides 1, 2, 4, 8, 16.

    α_s has one row per cell of scale s (``LAYERS - s`` rows, cell (l, s) uses row l − s);
    β_s (s = 1, 2) has one row per cell with two inputs (cell (l, s) uses row l − s − 1, columns
    (from down, from keep)). All start at 1e-3, i.e. uniform after the softmax.
    """

    def __init__(self, in_channels: int, width: int):
        super().__init__()
        self.stem = Stem(in_channels, width)
        self.cells = nn.ModuleDict({
            f"{l}_{s}": Cell(width, l, s) for l in range(LAYERS) for s in range(SCALES) if cell_exists(l, s)
        })
        self.alphas = nn.ParameterList(
            nn.Parameter(torch.full((LAYERS - s, len(OP_NAMES)), 1e-3)) for s in range(SCALES))
        self.betas = nn.ParameterList(
            nn.Parameter(torch.full((LAYERS - s - 1, 2), 1e-3)) for s in range(1, SCALES))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [*self.alphas, *self.betas]

    def forward(self, x: Tensor) -> list[Tensor]:
        full, half, quarter = self.stem(x)
        alpha = [a.softmax(dim=-1) for a in self.alphas]
        beta = [b.softmax(dim=-1) for b in self.betas]
        keep: dict[int, Tensor] = {0: quarter}
        down: dict[int, Tensor] = {}
        for l in range(LAYERS):
            new_keep, new_down = {}, {}
            for s in range(min(l, SCALES - 1) + 1):
                cell, w = self.cells[f"{l}_{s}"], alpha[s][l - s]
                if s == 0:
                    k, d = cell(keep[0], w)
                elif l == s:
                    k, d = cell(down[s - 1], w)
                else:
                    b = beta[s - 1][l - s - 1]
                    k_down, d_down = cell(down[s - 1], w)
                    k_keep, d_keep = cell(keep[s], w)
                    k = b[0] * k_down + b[1] * k_keep
                    d = None if d_down is None else b[0] * d_down + b[1] * d_keep
                new_keep[s] = k
                if d is not None:
                    new_down[s] = d
            keep, down = new_keep, new_down
        return [full, half, keep[0], keep[1], keep[2]]
