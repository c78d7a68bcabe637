"""NAS-OSR networks: super-network and derived shapes, counterfactual batch, parameter count, augmentation."""

import torch
from osrbench_nasosr.derivation import NAMED
from osrbench_nasosr.derived_net import DerivedEncoder
from osrbench_nasosr.operations import scale_channels
from osrbench_nasosr.supernet import SuperNet
from osrbench_nasosr.vae import ConditionalVAE

from osrbench.gpu_augment import random_affine_crop

PAPER_ARCH = NAMED["paper"]


def tiny_vae(encoder, *, unet, k=3, channels=1, recon_source="latent"):
    return ConditionalVAE(encoder, in_channels=channels, num_classes=k, width=2, z_dim=4, u_dim=8, input_size=32,
                          mean=(0.3,) * channels, std=(0.4,) * channels, unet=unet, recon_source=recon_source)


def test_supernet_maps_and_arch_parameter_shapes():
    net = SuperNet(3, width=2)
    maps = net(torch.rand(2, 3, 32, 32))
    assert [tuple(m.shape[1:]) for m in maps] == [(8, 32, 32), (16, 16, 16), (32, 8, 8), (64, 4, 4), (128, 2, 2)]
    assert [tuple(a.shape) for a in net.alphas] == [(6, 3), (5, 3), (4, 3)]
    assert [tuple(b.shape) for b in net.betas] == [(4, 2), (3, 2)]
    assert all(torch.allclose(p, torch.full_like(p, 1e-3)) for p in net.arch_parameters())


def test_counterfactual_batch_is_b_k_c_h_w_for_small_images():
    torch.manual_seed(0)
    vae = tiny_vae(SuperNet(1, width=2), unet=True, k=3)
    out = vae(torch.rand(5, 1, 8, 8))  # digits-sized input, resized to 32 inside the model
    assert out.counterfactuals.shape == (5, 3, 1, 32, 32)
    assert out.recon.shape == out.x.shape == (5, 1, 32, 32)
    assert out.class_logits.shape == (5, 3) and out.mu.shape == out.var.shape == (5, 12)
    assert bool((out.var > 0).all())


def test_counterfactuals_differ_only_by_the_class_vector():
    torch.manual_seed(0)
    vae = tiny_vae(DerivedEncoder(PAPER_ARCH, 1, 2), unet=False, recon_source="feature").eval()
    mu_z = torch.randn(2, 4)
    vectors = torch.randn(3, 8)
    cf = vae.counterfactuals(mu_z, vectors, maps=[])
    direct = vae.decode_latent(torch.cat([mu_z[1:2], vectors[2:3]], dim=1), None)
    assert torch.allclose(cf[1, 2], direct[0], atol=1e-6)


def test_linear_decoder_output_can_reach_standardised_targets_and_tanh_cannot():
    torch.manual_seed(0)
    vae = {out: ConditionalVAE(DerivedEncoder(PAPER_ARCH, 1, 2), in_channels=1, num_classes=2, width=2, z_dim=4,
                               u_dim=8, input_size=32, mean=(0.3,), std=(0.4,), unet=False, recon_source="latent",
                               decoder_output=out) for out in ("linear", "tanh")}
    with torch.no_grad():
        vae["linear"].up.out[1].bias.fill_(2.0)  # a target value of a standardised image (CIFAR spans ~[-2, 2.1])
    vae["tanh"].load_state_dict(vae["linear"].state_dict())  # same weights; the squashing is the only difference
    latent = torch.randn(3, 12)
    linear, squashed = (v.eval().decode_latent(latent, None) for v in (vae["linear"], vae["tanh"]))
    assert torch.allclose(squashed, torch.tanh(linear), atol=1e-6)
    assert float(linear.detach().abs().max()) > 1.5 and float(squashed.detach().abs().max()) <= 1.0


def test_derived_encoder_follows_the_path_and_matches_the_spec_parameter_count():
    enc = DerivedEncoder(PAPER_ARCH, 3, width=2)
    assert PAPER_ARCH.strides() == [1, 2, 1, 2, 1, 1]
    assert enc(torch.rand(2, 3, 32, 32))[-1].shape == (2, scale_channels(2, 2), 2, 2)
    full = ConditionalVAE(DerivedEncoder(PAPER_ARCH, 3, width=16), in_channels=3, num_classes=6, width=16, z_dim=10,
                          u_dim=32, input_size=32, mean=(0.5,) * 3, std=(0.25,) * 3, unet=False,
                          recon_source="feature")
    count = sum(p.numel() for p in full.parameters())
    assert abs(count / 1e6 - 57.5) < 0.1  # spec §4.5: about 57.5 M for the paper's architecture


def test_augmentation_without_crop_rotation_or_flip_is_the_identity():
    x = torch.rand(4, 3, 8, 8)
    assert torch.allclose(random_affine_crop(x, scale=(1.0, 1.0), degrees=0.0, hflip=False), x, atol=1e-5)
    moved = random_affine_crop(x, scale=(0.5, 1.0), degrees=10.0, hflip=True)
    assert moved.shape == x.shape and not torch.allclose(moved, x)
