"""The four NAS-OSR losses (paper eq. 4), used in both search and retraining.

L = λ·L_ce + β_t·L_kl + w_re·L_re + w_cr·L_cr with

* L_ce: cross-entropy of the classifier on a sampled u;
* L_kl: KL(q(u|x) ‖ N(e_y, I)) + β_z·KL(q(z|x) ‖ N(0, I)), summed over dims, averaged over the batch;
* L_re: mean squared error of the reconstruction over all elements (what the code's MSELoss does);
* L_cr: VAE contrastive loss (eq. 3): logits ℓ_c = −T·mean_{C,H,W}(x − x̂_c)² over the K
  counterfactuals, cross-entropy against the true class. (The code's 0.005·T "margin" is a no-op
  and omitted, as the spec recommends.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from osrbench_nasosr.vae import VaeOutput


@dataclass(frozen=True)
class LossWeights:
    ce: float
    kl: float  # after warm-up
    kl_z: float  # weight of KL(z) inside the KL term
    re: float
    cr: float
    temperature: float


@dataclass
class LossTerms:
    ce: Tensor
    kl: Tensor
    re: Tensor
    cr: Tensor
    total: Tensor


def gaussian_kl(mu: Tensor, var: Tensor, prior_mean: Tensor | float = 0.0) -> Tensor:
    """KL(N(μ, diag σ²) ‖ N(m, I)) per sample, summed over dimensions."""
    return 0.5 * (var + (mu - prior_mean) ** 2 - 1.0 - var.log()).sum(dim=1)


def contrastive_logits(x: Tensor, counterfactuals: Tensor, temperature: float) -> Tensor:
    """ℓ_c = −T · mean over (C, H, W) of (x − x̂_c)²: (B, K)."""
    return -temperature * (counterfactuals - x.unsqueeze(1)).pow(2).mean(dim=(2, 3, 4))


def contrastive_loss(x: Tensor, counterfactuals: Tensor, labels: Tensor, temperature: float) -> Tensor:
    return F.cross_entropy(contrastive_logits(x, counterfactuals, temperature), labels)


def nasosr_loss(out: VaeOutput, labels: Tensor, prior_means: Tensor, z_dim: int, weights: LossWeights,
                kl_scale: float) -> LossTerms:
    """All four terms in float32; ``kl_scale`` ∈ [0, 1] is the KL warm-up factor."""
    mu, var = out.mu.float(), out.var.float()
    x = out.x.float()
    ce = F.cross_entropy(out.class_logits.float(), labels)
    kl_u = gaussian_kl(mu[:, z_dim:], var[:, z_dim:], prior_means.float()[labels])
    kl_z = gaussian_kl(mu[:, :z_dim], var[:, :z_dim])
    kl = (kl_u + weights.kl_z * kl_z).mean()
    re = F.mse_loss(out.recon.float(), x)
    cr = contrastive_loss(x, out.counterfactuals.float(), labels, weights.temperature)
    total = weights.ce * ce + kl_scale * weights.kl * kl + weights.re * re + weights.cr * cr
    return LossTerms(ce, kl, re, cr, total)


def linear_warmup(step: int, length: int) -> float:
    """(step + 1) / length, capped at 1 (1 when ``length`` is 0)."""
    return 1.0 if length <= 0 else min(1.0, (step + 1) / length)
