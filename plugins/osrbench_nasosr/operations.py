"""The candidate operations of the search space (FasterSeg's op set), the mixed op and the stem.

Despite the names in the authors' code ("Residual…"), none of the ops has a residual connection.
Every conv has no bias and is followed by BatchNorm and LeakyReLU(0.01).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

OP_NAMES = ("skip", "conv", "conv_2x")
LRELU_SLOPE = 0.01


def conv_bn_act(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.LeakyReLU(LRELU_SLOPE))


class FactorizedReduce(nn.Module):
    """The stride-2 ``skip``: two 1×1 stride-2 convs, the second on the input shifted by one pixel."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.even = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.odd = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.post = nn.Sequential(nn.BatchNorm2d(c_out), nn.LeakyReLU(LRELU_SLOPE))

    def forward(self, x: Tensor) -> Tensor:
        return self.post(torch.cat([self.even(x), self.odd(x[:, :, 1:, 1:])], dim=1))


def make_op(name: str, channels: int, stride: int, searching: bool) -> nn.Module:
    """Op ``name`` taking ``channels`` to ``channels * stride`` channels at the given stride.

    The stride-1 ``skip`` is a 1×1 conv in the super-network and the identity in a derived network.
    """
    out = channels * stride
    if name == "skip":
        if stride == 2:
            return FactorizedReduce(channels, out)
        return conv_bn_act(channels, out, 1, 1) if searching else nn.Identity()
    if name == "conv":
        return conv_bn_act(channels, out, 3, stride)
    if name == "conv_2x":
        return nn.Sequential(conv_bn_act(channels, out, 3, stride), conv_bn_act(out, out, 3, 1))
    raise ValueError(f"unknown op {name!r}; expected one of {OP_NAMES}")


class MixedOp(nn.Module):
    """Σ_i w_i · op_i(x) over the candidate ops (paper eq. 1); ``w`` = softmax of an α row."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.ops = nn.ModuleList(make_op(name, channels, stride, searching=True) for name in OP_NAMES)

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        out = weights[0] * self.ops[0](x)
        for w, op in zip(weights[1:], self.ops[1:]):
            out = out + w * op(x)
        return out


class Stem(nn.Module):
    """Fixed stem: 1×1 conv to 4F, then two stride-2 ``conv_2x`` blocks to 8F and 16F channels.

    Returns the three maps (strides 1, 2, 4); the U-Net decoder of the search uses the first two.
    """

    def __init__(self, in_channels: int, width: int):
        super().__init__()
        self.stride1 = conv_bn_act(in_channels, 4 * width, 1, 1)
        self.stride2 = make_op("conv_2x", 4 * width, 2, searching=False)
        self.stride4 = make_op("conv_2x", 8 * width, 2, searching=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        full = self.stride1(x)
        half = self.stride2(full)
        return full, half, self.stride4(half)


def scale_channels(width: int, scale: int) -> int:
    """Channels at scale 0/1/2 (strides 4/8/16): 16F, 32F, 64F."""
    return 16 * width * 2 ** scale


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal (fan-in, ReLU gain) convs, BN weight 1 / bias 0; Linear and ConvT keep PyTorch's init."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
