"""The class-conditional VAE around an encoder (super-network or derived network).

* Latent head: the flattened stride-16 map gives μ and σ² = softplus(v) + 1e-8 of a
  (z_dim + u_dim)-d Gaussian; the first ``z_dim`` dims are the instance attribute z
  (prior N(0, I)), the rest the class attribute u (prior N(e_y, I), e_y = Linear(onehot(y))).
* Classifier: Linear(u_dim → K) on a sampled u in training, on μ_u at test time.
* Decoder ("up-path"): four stride-2 ConvTranspose blocks and a 1×1 one (ConvT → BN → PReLU), then
  PReLU → 1×1 ConvT, then tanh (``decoder_output="tanh"``, the authors' code) or nothing
  (``"linear"``). In the search it is U-Net-like: each step first concatenates the encoder map of the
  same resolution.
* Counterfactuals: x̂_c = UpPath(dec32([μ_z(x), m_c])) for every class vector m_c (B×K×C×H×W).
* Reconstruction x̂ for L_re: ``feature`` = the encoder's stride-16 map straight into the up-path
  (the authors' retraining); ``latent`` = dec32 of a sample of [z, u] (the search, and the
  paper-literal option).

Images come in as floats in [0, 1], are resized to ``input_size`` (so 8×8 digits and 28×28 MNIST
become 32×32, as the paper resizes MNIST) and standardised; targets of the reconstruction losses
are these standardised images. They span about [−2, 2.1] on CIFAR, so a tanh output (the authors'
code) cannot reach them and the reconstruction error then measures saturation and contrast more than
class membership; the linear output can.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from osrbench_nasosr.operations import scale_channels


def tconv(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    if stride == 2:
        conv = nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1)
    else:
        conv = nn.ConvTranspose2d(c_in, c_out, 1)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.PReLU())


class UpPath(nn.Module):
    """64F×s×s → C×16s×16s. With ``unet`` each step takes [x, encoder map] (maps of strides 16…1)."""

    def __init__(self, width: int, out_channels: int, unet: bool, output: str = "tanh"):
        super().__init__()
        self.unet = unet
        chans = [64 * width, 32 * width, 16 * width, 8 * width, 4 * width, 2 * width]
        strides = [2, 2, 2, 2, 1]
        grow = 2 if unet else 1
        self.blocks = nn.ModuleList(tconv(grow * chans[i], chans[i + 1], strides[i]) for i in range(5))
        squash = [nn.Tanh()] if output == "tanh" else []
        self.out = nn.Sequential(nn.PReLU(), nn.ConvTranspose2d(chans[-1], out_channels, 1), *squash)

    def forward(self, h: Tensor, maps: list[Tensor] | None = None) -> Tensor:
        for i, block in enumerate(self.blocks):
            if self.unet:
                h = torch.cat([h, maps[-1 - i]], dim=1)
            h = block(h)
        return self.out(h)


@dataclass
class VaeOutput:
    x: Tensor  # the standardised, resized input (reconstruction target)
    mu: Tensor  # (B, z_dim + u_dim)
    var: Tensor
    class_logits: Tensor  # classifier on a sampled u
    recon: Tensor  # (B, C, H, W)
    counterfactuals: Tensor  # (B, K, C, H, W), built from the prior class means e_c


class ConditionalVAE(nn.Module):
    def __init__(self, encoder: nn.Module, *, in_channels: int, num_classes: int, width: int, z_dim: int,
                 u_dim: int, input_size: int, mean, std, unet: bool, recon_source: str,
                 decoder_output: str = "tanh"):
        super().__init__()
        self.encoder = encoder
        self.z_dim, self.u_dim, self.num_classes = z_dim, u_dim, num_classes
        self.input_size, self.recon_source = input_size, recon_source
        self.side = input_size // 16
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        flat = scale_channels(width, 2) * self.side ** 2
        self.mu_head = nn.Linear(flat, z_dim + u_dim)
        self.var_head = nn.Linear(flat, z_dim + u_dim)
        self.prior = nn.Linear(num_classes, u_dim)  # e_y = W onehot(y) + b
        self.classifier = nn.Linear(u_dim, num_classes)
        self.dec32 = nn.Linear(z_dim + u_dim, flat)
        self.up = UpPath(width, in_channels, unet, decoder_output)

    def arch_parameters(self) -> list[nn.Parameter]:
        return self.encoder.arch_parameters()

    def prepare(self, images: Tensor) -> Tensor:
        if images.shape[-1] != self.input_size or images.shape[-2] != self.input_size:
            images = F.interpolate(images, size=(self.input_size, self.input_size), mode="bilinear",
                                   align_corners=False)
        return (images - self.mean) / self.std

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        maps = self.encoder(x)
        flat = maps[-1].flatten(1)
        return self.mu_head(flat), F.softplus(self.var_head(flat)) + 1e-8, maps

    def prior_means(self) -> Tensor:
        """e_c for every class c: (K, u_dim)."""
        return self.prior.weight.t() + self.prior.bias

    def decode_latent(self, latent: Tensor, maps: list[Tensor] | None) -> Tensor:
        h = self.dec32(latent).view(len(latent), -1, self.side, self.side)
        return self.up(h, maps)

    def counterfactuals(self, mu_z: Tensor, class_vectors: Tensor, maps: list[Tensor]) -> Tensor:
        """Decode [μ_z, m_c] for every sample and class: (B, K, C, H, W)."""
        b, k = len(mu_z), len(class_vectors)
        latent = torch.cat([mu_z.repeat_interleave(k, dim=0), class_vectors.to(mu_z.dtype).repeat(b, 1)], dim=1)
        skips = [m.repeat_interleave(k, dim=0) for m in maps] if self.up.unet else None
        out = self.decode_latent(latent, skips)
        return out.view(b, k, *out.shape[1:])

    def reconstruct(self, mu: Tensor, var: Tensor, maps: list[Tensor], sample: bool) -> Tensor:
        if self.recon_source == "feature":
            return self.up(maps[-1], None)
        latent = mu + var.sqrt() * torch.randn_like(mu) if sample else mu
        return self.decode_latent(latent, maps)

    def class_logits(self, mu_u: Tensor) -> Tensor:
        return self.classifier(mu_u)

    def forward(self, images: Tensor) -> VaeOutput:
        x = self.prepare(images)
        mu, var, maps = self.encode(x)
        mu_u, var_u = mu[:, self.z_dim:], var[:, self.z_dim:]
        u_sample = mu_u + var_u.sqrt() * torch.randn_like(mu_u)
        return VaeOutput(
            x=x, mu=mu, var=var,
            class_logits=self.classifier(u_sample),
            recon=self.reconstruct(mu, var, maps, sample=True),
            counterfactuals=self.counterfactuals(mu[:, :self.z_dim], self.prior_means(), maps),
        )
