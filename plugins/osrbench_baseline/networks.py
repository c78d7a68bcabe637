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


class PatchWhitening(nn.Conv2d):
    """A 2x2 convolution fixed to the whitening transform of the training set's 2x2 patches (each filter an
    eigenvector of the patch covariance over the square root of its eigenvalue, and its negative, so a ReLU-like
    activation after it loses nothing); only its bias learns. Set by ``fit`` before training."""

    def __init__(self, in_channels: int, eps: float = 5e-4):
        super().__init__(in_channels, 2 * 4 * in_channels, kernel_size=2, bias=True)
        self.weight.requires_grad_(False)
        self.eps = eps

    @torch.no_grad()
    def fit(self, images: Tensor) -> None:
        """``images``: standardised float (N, C, H, W), a few thousand of them."""
        c = images.shape[1]
        patches = images.float().unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, c * 4)
        patches = patches - patches.mean(dim=0)
        eigenvalues, eigenvectors = torch.linalg.eigh(patches.T @ patches / len(patches))
        filters = (eigenvectors.T / (eigenvalues + self.eps).sqrt()[:, None]).reshape(-1, c, 2, 2)
        self.weight.copy_(torch.cat([filters, -filters]).to(self.weight))


def conv_pool_block(c_in: int, c_out: int) -> nn.Sequential:
    """conv, 2x2 max-pool, BN, GELU, conv, BN, GELU: the block of the whitened CNN."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c_out),
                         nn.GELU(), nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.GELU())


def whitened_cnn(in_channels: int, width: float = 1.0, stem_stride: int = 1) -> tuple[nn.Module, int]:
    """The network of the fastest CIFAR-10 training recipes (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds"):
    a frozen patch-whitening layer, then three conv-pool blocks of 64, 256 and 256 channels (times ``width``);
    about 2M parameters at width 1. ``stem_stride`` 2 halves the resolution after the whitening layer."""
    c = [round(n * width) for n in (64, 256, 256)]
    stem = nn.Sequential(PatchWhitening(in_channels), nn.GELU())
    if stem_stride > 1:
        stem.append(nn.MaxPool2d(stem_stride))
    body = nn.Sequential(stem, conv_pool_block(8 * in_channels, c[0]), conv_pool_block(c[0], c[1]),
                         conv_pool_block(c[1], c[2]), nn.AdaptiveMaxPool2d(1), nn.Flatten())
    return body, c[2]


BACKBONES = {"small-cnn": small_cnn, "resnet9": resnet9, "whitened-cnn": whitened_cnn}


