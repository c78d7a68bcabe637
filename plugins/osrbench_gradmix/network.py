"""ResNet18 encoder (CIFAR stem) with the 2-layer projection head to an L2-normalised embedding.

Images of 32 px and more go straight into the CIFAR stem (3x3 conv, stride 1, no max-pool; the
authors use the same network for 64 px TinyImageNet). Smaller images (28 px MNIST, 8 px digits) are
resized to 32 px first, the spec's default for MNIST, so that the last stage still has 4x4 maps
for the activation maps.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

MIN_SIDE = 32  # smaller inputs are resized to this side inside the network


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """Stages ``layer1``..``layer4`` of two BasicBlocks each; ``layer4.1`` is the paper's conv5_2."""

    def __init__(self, in_channels: int, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        channels = [width, 2 * width, 4 * width, 8 * width]
        c_in = width
        for i, c_out in enumerate(channels):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)))
            c_in = c_out
        self.out_features = c_in
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class ContrastiveNet(nn.Module):
    """Normalise -> (resize small images) -> ResNet18 -> MLP head -> unit-length embedding."""

    def __init__(self, in_channels: int, mean: tuple[float, ...], std: tuple[float, ...],
                 width: int = 64, head_dim: int = 128):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.encoder = ResNet18(in_channels, width)
        hidden = self.encoder.out_features
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, head_dim))

    def features(self, x: Tensor) -> Tensor:
        """The pooled encoder features h (before the head); the linear probe's embedding."""
        x = (x - self.mean) / self.std
        if min(x.shape[-2:]) < MIN_SIDE:
            x = F.interpolate(x, size=(MIN_SIDE, MIN_SIDE), mode="bilinear", align_corners=False)
        return self.encoder(x)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.head(self.features(x)).float(), dim=1)

    def cam_layers(self) -> dict[str, nn.Module]:
        """The residual blocks whose outputs may feed activation maps, by name (``layer4.1`` ...)."""
        return {f"layer{s}.{b}": getattr(self.encoder, f"layer{s}")[b] for s in range(1, 5) for b in range(2)}

    def compile_blocks(self) -> None:
        """``torch.compile`` each residual block's ``forward``, not the modules: the forward hooks that capture
        block outputs for the activation maps run in the eager ``Module.__call__`` around the compiled code, so
        registering them each step recompiles nothing, and a block output is a real autograd node that
        ``torch.autograd.grad`` can stop at. The blocks share one code object, whose compiled variants (one per
        block, and per train/eval and grad mode) would pass Dynamo's default limit of 8 and fall back to eager."""
        blocks = self.cam_layers()
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 8 * len(blocks))
        for block in blocks.values():
            block.forward = torch.compile(block.forward)
