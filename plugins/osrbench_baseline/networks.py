"""Closed-set classifier backbones chosen by image size."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Normalize(nn.Module):
    """Per-channel standardisation inside the network, so models take images in [0, 1]."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def conv_bn(c_in: int, c_out: int, pool: bool = False) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class Classifier(nn.Module):
    """Feature extractor + linear head; ``features`` is the penultimate embedding."""

    def __init__(self, features: nn.Module, width: int, num_classes: int, mean, std):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.features = features
        self.head = nn.Linear(width, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return self.features(self.normalize(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x))


def small_cnn(in_channels: int, width: float = 1.0, stem_stride: int = 1) -> tuple[nn.Module, int]:
    """Three conv blocks for 8x8 digits (about 0.1M parameters at width 1; ``stem_stride`` is ignored)."""
    c = [round(n * width) for n in (32, 64, 128)]
    body = nn.Sequential(conv_bn(in_channels, c[0]), conv_bn(c[0], c[1], pool=True), conv_bn(c[1], c[2]),
                         nn.AdaptiveMaxPool2d(1), nn.Flatten())
    return body, c[2]


def resnet9(in_channels: int, width: float = 1.0, stem_stride: int = 1) -> tuple[nn.Module, int]:
    """The 9-layer residual network of fast CIFAR-10 training (about 6.6M parameters at width 1).

    ``width`` scales every layer's channels; ``stem_stride`` 2 halves the resolution after the first
    convolution, so 64 px images cost about what 32 px images do.
    """
    c = [round(n * width) for n in (64, 128, 256, 512)]
    stem = conv_bn(in_channels, c[0])
    if stem_stride > 1:
        stem.append(nn.MaxPool2d(stem_stride))
    body = nn.Sequential(
        stem, conv_bn(c[0], c[1], pool=True), Residual(c[1]),
        conv_bn(c[1], c[2], pool=True), conv_bn(c[2], c[3], pool=True), Residual(c[3]),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(),
    )
    return body, c[3]


BACKBONES = {"small-cnn": small_cnn, "resnet9": resnet9}


