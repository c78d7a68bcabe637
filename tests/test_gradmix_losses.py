"""GradMix losses against hand-computed values and a brute-force reading of the formulas; the full objective."""

import math

import pytest
import torch
from osrbench_gradmix.augment import GradMixAugmentation
from osrbench_gradmix.config import GradMixAugConfig
from osrbench_gradmix.losses import (
    mixed_simclr_per_anchor,
    simclr_loss,
    simclr_per_anchor,
    supcon_loss,
)
from osrbench_gradmix.network import ContrastiveNet
from osrbench_gradmix.objective import Objective
from torch.nn import functional as F

from osrbench import MixedBatch

TAU = 0.5


def orthogonal_batch() -> torch.Tensor:
    """Two images, two identical views each: rows 0 and 2 are e1, rows 1 and 3 are e2."""
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    return torch.stack([e1, e2, e1, e2])


def test_simclr_matches_hand_computed_value():
    # anchor similarities: positive 1, two negatives 0 -> ℓ = log(1 + 2 e^{-1/τ}) for every anchor
    expected = math.log(1 + 2 * math.exp(-1 / TAU))
    assert simclr_loss(orthogonal_batch(), TAU, base_temperature=TAU).item() == pytest.approx(expected, rel=1e-6)
    # the authors' τ / 0.07 factor
    assert simclr_loss(orthogonal_batch(), TAU).item() == pytest.approx(expected * TAU / 0.07, rel=1e-6)


def test_supcon_matches_hand_computed_value():
    z = orthogonal_batch()
    # one class: the 3 other views are positives with similarities 1, 0, 0 -> ℓ = log(e^{1/τ} + 2) − (1/τ)/3
    same = math.log(math.exp(1 / TAU) + 2) - (1 / TAU) / 3
    assert supcon_loss(z, torch.tensor([0, 0, 0, 0]), TAU, TAU).item() == pytest.approx(same, rel=1e-6)
    # two classes: the only positive is the other view, so SupCon equals SimCLR
    assert supcon_loss(z, torch.tensor([0, 1, 0, 1]), TAU, TAU).item() == pytest.approx(
        simclr_loss(z, TAU, TAU).item(), rel=1e-6)


def test_paper_eq2_supcon_sums_the_denominator_over_other_classes():
    # anchor 0: positive view 2 (similarity 1), other-class views 1 and 3 (similarity 0) -> ℓ = log 2 − 1/τ
    z, labels = orthogonal_batch(), torch.tensor([0, 1, 0, 1])
    got = supcon_loss(z, labels, TAU, TAU, denominator="other_classes").item()
    assert got == pytest.approx(math.log(2) - 1 / TAU, rel=1e-6)


def brute_force(z, labels, tau):
    n = len(z)
    sim = [[float(z[a] @ z[k]) / tau for k in range(n)] for a in range(n)]
    supcon, simclr = [], []
    for a in range(n):
        log_den = math.log(sum(math.exp(sim[a][k]) for k in range(n) if k != a))
        positives = [p for p in range(n) if p != a and labels[p] == labels[a]]
        supcon.append(-sum(sim[a][p] - log_den for p in positives) / len(positives))
        simclr.append(-(sim[a][(a + n // 2) % n] - log_den))
    return sum(supcon) / n, simclr


def test_losses_match_brute_force_on_random_embeddings():
    torch.manual_seed(0)
    z = F.normalize(torch.randn(8, 5), dim=1)
    labels = torch.tensor([0, 1, 1, 2, 0, 1, 1, 2])  # 4 images x 2 views
    supcon, simclr = brute_force(z, labels.tolist(), 0.1)
    assert supcon_loss(z, labels, 0.1, 0.1).item() == pytest.approx(supcon, rel=1e-5)
    assert simclr_per_anchor(z, 0.1, 0.1).tolist() == pytest.approx(simclr, rel=1e-5)


def test_mixed_term_uses_mixed_positive_and_original_denominator():
    z = orthogonal_batch()
    assert torch.allclose(mixed_simclr_per_anchor(z, z, TAU, TAU), simclr_per_anchor(z, TAU, TAU))
    mixed = z.clone()
    mixed[0] = -mixed[0]  # the mixed view 1 of image 0 points away from its partner view
    got = mixed_simclr_per_anchor(z, mixed, TAU, TAU)
    plain = math.log(1 + 2 * math.exp(-1 / TAU))
    # view-1 anchors keep their unchanged view-2 positive; the view-2 anchor of image 0 now has similarity −1
    assert got[[0, 1, 3]].tolist() == pytest.approx([plain] * 3, rel=1e-6)
    assert got[2].item() == pytest.approx(math.log(math.exp(1 / TAU) + 2) + 1 / TAU, rel=1e-6)


class ScaledWeight:
    """Wraps an augmentation and replaces its loss weight."""

    name = "scaled"

    def __init__(self, inner, weight):
        self.inner, self.weight = inner, weight

    def __call__(self, images, labels, ctx):
        mixed = self.inner(images, labels, ctx)
        return MixedBatch(mixed.images, mixed.labels, mixed.partner, mixed.lam, torch.tensor(self.weight))


def objective(augmentation):
    torch.manual_seed(1)
    net = ContrastiveNet(3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), width=4, head_dim=8)
    return Objective(net=net, num_classes=3, theta=1.0, lam=1.2, temperature=0.05, base_temperature=0.07,
                     view_kind="simclr", hflip=True, crop_scale=(0.2, 1.0), rotation=5.0, augmentation=augmentation)


def batch():
    g = torch.Generator().manual_seed(2)
    return torch.rand(6, 3, 32, 32, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])


def test_zero_gradmix_weight_gives_plain_supcon_plus_simclr():
    x, labels = batch()
    gradmix = GradMixAugmentation("gradmix", GradMixAugConfig(), cam="layercam")
    torch.manual_seed(3)
    plain = objective(None)(x, labels)
    torch.manual_seed(3)
    zero = objective(ScaledWeight(gradmix, 0.0))(x, labels)
    assert torch.equal(plain, zero)
    torch.manual_seed(3)
    weighted = objective(gradmix)(x, labels)
    assert weighted.item() > plain.item()  # the mixed SimCLR term is positive
    weighted.backward()  # the graph reused for the maps still backpropagates


def test_objective_value_is_theta_supcon_plus_lambda_simclr():
    x, labels = batch()
    obj = objective(None)
    torch.manual_seed(4)
    loss = obj(x, labels)
    torch.manual_seed(4)
    view1, view2 = obj.views(x)
    z = obj.net(torch.cat([view1, view2]))
    expected = supcon_loss(z, labels.repeat(2), 0.05) + 1.2 * simclr_loss(z, 0.05)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
