"""NAS-OSR losses: finiteness on a tiny batch and values against hand computation."""

import math

import torch
from osrbench_nasosr.losses import (
    LossWeights,
    contrastive_loss,
    gaussian_kl,
    linear_warmup,
    nasosr_loss,
)
from osrbench_nasosr.supernet import SuperNet
from osrbench_nasosr.vae import ConditionalVAE


def test_contrastive_loss_matches_hand_computation():
    x = torch.tensor([1.0, 2.0]).view(1, 1, 1, 2)
    cf = torch.stack([x[0], torch.zeros_like(x[0])]).unsqueeze(0)  # (B=1, K=2, C=1, H=1, W=2)
    # mean squared errors: class 0 -> 0, class 1 -> (1 + 4) / 2 = 2.5; T = 2 -> logits (0, -5)
    assert math.isclose(contrastive_loss(x, cf, torch.tensor([0]), 2.0).item(), math.log(1 + math.exp(-5)),
                        rel_tol=1e-5)
    assert math.isclose(contrastive_loss(x, cf, torch.tensor([1]), 2.0).item(), 5 + math.log(1 + math.exp(-5)),
                        rel_tol=1e-5)


def test_gaussian_kl_matches_closed_form():
    mu, var = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.5]])
    expected = 0.5 * ((2 + 1 - 1 - math.log(2)) + (0.5 + 0 - 1 - math.log(0.5)))
    assert math.isclose(gaussian_kl(mu, var).item(), expected, rel_tol=1e-6)
    assert math.isclose(gaussian_kl(mu, var, torch.tensor([[1.0, 0.0]])).item(),
                        0.5 * ((2 - 1 - math.log(2)) + (0.5 - 1 - math.log(0.5))), rel_tol=1e-6)


def test_all_losses_finite_and_combined_with_their_weights():
    torch.manual_seed(0)
    vae = ConditionalVAE(SuperNet(1, width=2), in_channels=1, num_classes=3, width=2, z_dim=4, u_dim=8,
                         input_size=32, mean=(0.3,), std=(0.4,), unet=True, recon_source="latent")
    out = vae(torch.rand(4, 1, 8, 8))
    labels = torch.tensor([0, 1, 2, 1])
    w = LossWeights(ce=30, kl=1, kl_z=2, re=1, cr=3, temperature=6)
    terms = nasosr_loss(out, labels, vae.prior_means(), 4, w, kl_scale=0.5)
    for name in ("ce", "kl", "re", "cr", "total"):
        assert torch.isfinite(getattr(terms, name)), name
    expected = 30 * terms.ce + 0.5 * terms.kl + terms.re + 3 * terms.cr
    assert torch.allclose(terms.total, expected)
    kl_u = gaussian_kl(out.mu[:, 4:], out.var[:, 4:], vae.prior_means()[labels])
    assert torch.allclose(terms.kl, (kl_u + 2 * gaussian_kl(out.mu[:, :4], out.var[:, :4])).mean(), rtol=1e-5)
    terms.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in vae.parameters() if p.grad is not None)


def test_kl_warmup_is_linear_then_constant():
    assert [linear_warmup(i, 4) for i in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert linear_warmup(0, 0) == 1.0
