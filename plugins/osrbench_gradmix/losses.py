"""SupCon and SimCLR on a batch of 2N unit-length embeddings, and the GradMix SimCLR term.

Rows ``i`` and ``i + N`` of ``z`` are the two views of image ``i``. Every loss is multiplied by
``temperature / base_temperature`` (0.05 / 0.07 by default), as the authors' code does, so that θ
and λ mean what they mean there.
"""

from __future__ import annotations

import torch
from torch import Tensor

BASE_TEMPERATURE = 0.07


def _logits(z: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """Similarities / τ with the diagonal masked out, and the log of each row's denominator."""
    logits = z @ z.T / temperature
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    return logits, torch.logsumexp(logits, dim=1)


def positive_index(n_views: int, device: torch.device) -> Tensor:
    """p(a): the other view of the same image, for a batch of 2N views."""
    half = n_views // 2
    return torch.arange(n_views, device=device).roll(half)


def simclr_per_anchor(z: Tensor, temperature: float, base_temperature: float = BASE_TEMPERATURE) -> Tensor:
    """ℓ_a = −log exp(s_{a,p(a)}/τ) / Σ_{k≠a} exp(s_ak/τ), one value per view (scaled)."""
    logits, log_denominator = _logits(z.float(), temperature)
    positive = logits.gather(1, positive_index(len(z), z.device)[:, None])[:, 0]
    return (temperature / base_temperature) * (log_denominator - positive)


def simclr_loss(z: Tensor, temperature: float, base_temperature: float = BASE_TEMPERATURE) -> Tensor:
    return simclr_per_anchor(z, temperature, base_temperature).mean()


def supcon_loss(z: Tensor, labels: Tensor, temperature: float, base_temperature: float = BASE_TEMPERATURE,
                denominator: str = "all") -> Tensor:
    """Khosla et al.'s L_out: positives are all other views of the same class.

    ``denominator="all"`` sums over all k ≠ a (the authors' code, the standard SupCon);
    ``"other_classes"`` over the views of other classes only, as the paper's eq. 2 is written.
    """
    logits, log_denominator = _logits(z.float(), temperature)
    same = labels[:, None] == labels[None, :]
    if denominator == "other_classes":
        log_denominator = torch.logsumexp(logits.masked_fill(same, float("-inf")), dim=1)
    same.fill_diagonal_(False)
    log_prob = (logits - log_denominator[:, None]).masked_fill(~same, 0.0)
    per_anchor = -log_prob.sum(1) / same.sum(1).clamp_min(1)
    return (temperature / base_temperature) * per_anchor.mean()


def mixed_simclr_per_anchor(z: Tensor, z_mixed: Tensor, temperature: float,
                            base_temperature: float = BASE_TEMPERATURE) -> Tensor:
    """The authors' GradMix SimCLR term, one value per view.

    ``z_mixed`` holds the embeddings of the mixed views (same layout as ``z``). Anchors are the
    original views, the positive similarity is taken against the mixed set and the denominator
    over the original views: ℓ̃_a = −[z_a·z̃_{p(a)}/τ − log Σ_{k≠a} exp(z_a·z_k/τ)].
    """
    z = z.float()
    _, log_denominator = _logits(z, temperature)
    partner = z_mixed.float()[positive_index(len(z), z.device)]
    positive = (z * partner).sum(1) / temperature
    return (temperature / base_temperature) * (log_denominator - positive)
