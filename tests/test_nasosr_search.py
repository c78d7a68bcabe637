"""NAS-OSR search: first-order architect updates, PAS data split, derivation and architecture files."""

import json

import pytest
import torch
from osrbench_nasosr.architect import Architect
from osrbench_nasosr.config import NasOsrConfig
from osrbench_nasosr.derivation import (
    FASTERSEG_PATH,
    Architecture,
    branch2_paths,
    derive,
)
from osrbench_nasosr.losses import LossWeights, nasosr_loss
from osrbench_nasosr.search import pas_split, pseudo_unknown_count
from osrbench_nasosr.supernet import SuperNet
from osrbench_nasosr.vae import ConditionalVAE

from osrbench import OsrbenchError


def make_architect(accumulate=False):
    torch.manual_seed(0)
    vae = ConditionalVAE(SuperNet(1, width=1), in_channels=1, num_classes=2, width=1, z_dim=2, u_dim=3,
                         input_size=32, mean=(0.3,), std=(0.4,), unet=True, recon_source="latent")
    weights = LossWeights(ce=1, kl=1, kl_z=1, re=1, cr=1, temperature=6)

    def loss(batch):
        images, labels = batch
        return nasosr_loss(vae(images), labels, vae.prior_means(), 2, weights, 1.0).total

    arch = Architect(vae, loss, weight_lr=1e-2, weight_decay=0.0, arch_lr=1e-1, grad_clip=5.0,
                     accumulate_arch_grads=accumulate)
    return vae, arch


def batch():
    return torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])


def snapshot(params):
    return [p.detach().clone() for p in params]


def test_arch_step_updates_only_alpha_beta_and_weight_step_only_weights():
    _, arch = make_architect()
    w0, a0 = snapshot(arch.weight_params), snapshot(arch.arch_params)
    arch.arch_step(batch())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in arch.arch_params)
    assert all(p.grad is None for p in arch.weight_params)
    assert all(torch.equal(p, q) for p, q in zip(arch.weight_params, w0))
    assert all(not torch.equal(p, q) for p, q in zip(arch.arch_params, a0))

    a1 = snapshot(arch.arch_params)
    arch.weight_step(batch())
    assert all(p.grad is None for p in arch.arch_params)
    assert all(p.grad is not None for p in arch.weight_params)
    assert all(torch.equal(p, q) for p, q in zip(arch.arch_params, a1))
    assert sum(not torch.equal(p, q) for p, q in zip(arch.weight_params, w0)) > len(w0) // 2


def test_accumulate_flag_adds_the_arch_batch_gradient_to_the_weight_step():
    _, arch = make_architect(accumulate=True)
    arch.arch_step(batch())
    assert all(p.grad is not None for p in arch.weight_params)
    assert all(p.grad is not None for p in arch.arch_params)


def test_weights_exclude_alpha_beta():
    vae, arch = make_architect()
    assert len(arch.arch_params) == 5
    assert len(arch.weight_params) + 5 == len(list(vae.parameters()))


def _alphas(choices):
    """α rows with the given op index (0 skip, 1 conv, 2 conv_2x) winning along the fasterseg path."""
    alphas = [torch.zeros(6 - s, 3) for s in range(3)]
    for layer, (scale, op) in enumerate(zip(FASTERSEG_PATH, choices)):
        alphas[scale][layer - scale, op] = 2.0
    return alphas


def test_derivation_picks_the_highest_weighted_op_and_drops_skip():
    betas = [torch.zeros(4, 2), torch.zeros(3, 2)]
    arch = derive(_alphas([2, 1, 2, 1, 2, 2]), betas)
    assert arch.ops == ("conv_2x", "conv", "conv_2x", "conv", "conv_2x", "conv_2x")
    assert arch.scales == FASTERSEG_PATH
    alphas = _alphas([0, 1, 1, 1, 1, 1])
    alphas[0][0] = torch.tensor([5.0, 1.0, 3.0])  # skip wins layer 0; conv_2x is the better of the rest
    assert derive(alphas, betas).ops[0] == "conv_2x"


def test_fasterseg_path_ignores_beta_and_beta_rule_takes_the_best_path():
    alphas = _alphas([1] * 6)
    betas = [torch.zeros(4, 2), torch.zeros(3, 2)]
    # favour going down late: cell (l, 1) prefers "from keep" until layer 4, scale 2 entered at layer 5
    betas[0][:, 1] = 3.0   # scale-1 cells (layers 2..5) prefer keeping scale 1
    betas[1][:, 0] = 3.0   # scale-2 cells (layers 3..5) prefer coming from scale 1
    assert derive(alphas, betas, "fasterseg").scales == FASTERSEG_PATH
    best = derive(alphas, betas, "beta").scales
    assert best == (0, 1, 1, 1, 1, 2)
    assert len(branch2_paths()) == 10 and FASTERSEG_PATH in branch2_paths()


def test_architecture_file_round_trip_and_bad_files(tmp_path):
    arch = Architecture(("conv", "conv_2x", "conv", "conv", "conv_2x", "conv"), FASTERSEG_PATH, {"selected_epoch": 3})
    loaded = Architecture.load(arch.save(tmp_path / "a.json"))
    assert loaded == arch and loaded.info["selected_epoch"] == 3
    assert json.loads((tmp_path / "a.json").read_text())["ops"][1] == "conv_2x"
    with pytest.raises(OsrbenchError, match="cannot read"):
        Architecture.load(tmp_path / "missing.json")
    (tmp_path / "b.json").write_text(json.dumps({"format": "nas-osr-architecture/1", "ops": ["conv"] * 5,
                                                 "scales": list(FASTERSEG_PATH)}))
    with pytest.raises(OsrbenchError, match="need 6 entries"):
        Architecture.load(tmp_path / "b.json")
    (tmp_path / "c.json").write_text(json.dumps({"format": "nas-osr-architecture/1", "ops": ["conv"] * 6,
                                                 "scales": [0, 1, 2, 2, 2, 1]}))
    with pytest.raises(OsrbenchError, match="scales"):
        Architecture.load(tmp_path / "c.json")
    paper = Architecture.load("paper")  # the paper's CIFAR10 architecture by name (--set arch=paper)
    assert paper.ops == ("conv_2x", "conv", "conv_2x", "conv", "conv_2x", "conv_2x") and paper.scales == FASTERSEG_PATH


def test_pas_split_holds_out_pseudo_unknowns_and_splits_disjoint_halves():
    labels = torch.arange(6).repeat_interleave(20)
    images = torch.arange(120).view(120, 1, 1, 1).to(torch.uint8)
    n = pseudo_unknown_count(6, NasOsrConfig())
    assert n == 2
    data = pas_split(images, labels, 6, n, 0.1, torch.Generator().manual_seed(0))
    assert data.num_search_classes == 4
    w, a = set(data.weight_images.flatten().tolist()), set(data.arch_images.flatten().tolist())
    val_known = set(data.val_images[data.val_labels < 4].flatten().tolist())
    assert not (w & a) and not (w & val_known) and not (a & val_known)
    assert len(w) == len(a) == 36 and len(val_known) == 8
    assert int(data.weight_labels.max()) < 4 and int(data.arch_labels.max()) < 4
    assert int((data.val_labels == 4).sum()) == 40  # every pseudo-unknown training image, labelled "unknown"
    with pytest.raises(OsrbenchError, match="pseudo_unknowns"):
        pseudo_unknown_count(3, NasOsrConfig(pseudo_unknowns=2))
