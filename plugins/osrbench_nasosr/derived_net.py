"""The derived (discrete) encoder: the fixed stem, then one plain op per layer along branch 2."""

from __future__ import annotations

from torch import Tensor, nn

from osrbench_nasosr.derivation import Architecture
from osrbench_nasosr.operations import Stem, make_op, scale_channels


class DerivedEncoder(nn.Module):
    """Returns ``[stride-16 map]``; the retrained decoder needs no skip maps."""

    def __init__(self, arch: Architecture, in_channels: int, width: int):
        super().__init__()
        self.stem = Stem(in_channels, width)
        self.layers = nn.Sequential(*(make_op(op, scale_channels(width, s), stride, searching=False)
                                      for op, s, stride in zip(arch.ops, arch.scales, arch.strides())))

    def arch_parameters(self) -> list[nn.Parameter]:
        return []

    def forward(self, x: Tensor) -> list[Tensor]:
        return [self.layers(self.stem(x)[-1])]
