"""NAS-OSR test rule: thresholds, the Gaussian rule, the decision, the score and the F1 forms."""

import math

import pytest
import torch
from osrbench_nasosr.derivation import FASTERSEG_PATH, Architecture
from osrbench_nasosr.derived_net import DerivedEncoder
from osrbench_nasosr.model import NasOsrModel
from osrbench_nasosr.rejection_rule import (
    GaussianRule,
    class_statistics,
    decide,
    equicoordinate_quantile,
    fit_test_rule,
    known_score,
    open_set_f1,
    reconstruction_threshold,
)
from osrbench_nasosr.vae import ConditionalVAE
from scipy.stats import norm

from osrbench import RunContext
from osrbench.progress import Progress


@pytest.mark.parametrize("n", [20, 97, 1000])
def test_quantile_threshold_keeps_95_percent_of_training_samples(n):
    errors = torch.rand(n, generator=torch.Generator().manual_seed(n)) * 100
    tau = reconstruction_threshold(errors, "quantile95")
    kept = int((errors <= tau).sum())
    assert kept == math.ceil(0.95 * n)  # at least 95% known, and the smallest such threshold
    assert int((errors < tau).sum()) < 0.95 * n


def test_mean_plus_two_std_threshold():
    errors = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert math.isclose(reconstruction_threshold(errors, "mean_plus_2std"), 2.5 + 2 * math.sqrt(1.25), rel_tol=1e-9)


def test_equicoordinate_quantile_matches_the_independent_closed_form():
    # identity covariance in d dims: P(max|X_r| <= q) = (2 Phi(q) - 1)^d
    d, level = 4, 0.9
    exact = norm.ppf((1 + level ** (1 / d)) / 2)
    assert abs(equicoordinate_quantile(torch.eye(d, dtype=torch.float64), level, 200_000) - exact) < 0.02
    scaled = equicoordinate_quantile(4 * torch.eye(d, dtype=torch.float64), level, 200_000)
    assert abs(scaled - 2 * exact) < 0.04


def test_gaussian_rule_is_the_mahalanobis_form_with_the_corner_point():
    mu_u = torch.randn(400, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 2.0])
    labels = torch.zeros(400, dtype=torch.long)
    stats = class_statistics(mu_u, labels, labels, 1)
    rule = GaussianRule.fit(stats, 0.9, 100_000)
    cov = stats.covs[0]
    q = equicoordinate_quantile(cov, 0.9, 100_000, seed=0)
    corner = q * cov.diagonal().sqrt()
    assert math.isclose(float(rule.radii[0]), float(corner @ torch.linalg.inv(cov) @ corner), rel_tol=1e-4)
    point = stats.means[0] + torch.tensor([0.5, -1.0], dtype=torch.float64)
    d2 = (point - stats.means[0]) @ torch.linalg.inv(cov) @ (point - stats.means[0])
    assert math.isclose(float(rule.ratio(point[None])[0]), float(d2 / rule.radii[0]), rel_tol=1e-4)


def test_correlation_corner_is_scale_free_and_code_corner_is_not():
    mu_u = torch.randn(400, 3, generator=torch.Generator().manual_seed(1)) * torch.tensor([0.2, 0.5, 0.1])
    labels = torch.zeros(400, dtype=torch.long)
    probe = mu_u[:5]

    def ratios(scale, corner):
        rule = GaussianRule.fit(class_statistics(mu_u * scale, labels, labels, 1), 0.9, 50_000, corner)
        return rule.ratio(probe * scale)

    assert torch.allclose(ratios(1.0, "correlation"), ratios(10.0, "correlation"), rtol=1e-3)
    assert torch.allclose(ratios(1.0, "code"), 100 * ratios(10.0, "code"), rtol=1e-3)  # d* grows with σ²


def test_class_statistics_use_correct_samples_and_flag_degenerate_classes():
    mu_u = torch.tensor([[0.0], [2.0], [100.0], [5.0], [7.0]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    pred = torch.tensor([0, 0, 1, 0, 1])  # class 1 has one correct sample
    stats = class_statistics(mu_u, labels, pred, 2)
    assert stats.means[0].item() == 1.0 and stats.degenerate == [1]
    assert stats.means[1].item() == 6.0  # fallback: all class-1 samples


def test_decision_agrees_with_the_score():
    labels = torch.tensor([0, 1, 2, 1, 0])
    rec = torch.tensor([0.5, 1.5, 0.9, 0.2, 2.0])
    gauss = torch.tensor([0.3, 0.1, 1.2, 0.99, 0.5])
    out = decide(labels, rec, gauss, 3)
    assert out.tolist() == [0, 3, 3, 1, 3]
    assert ((known_score(rec, gauss) < -1) == (out == 3)).all()


def test_score_kinds_match_hand_values():
    rec = torch.tensor([0.5, 3.0])
    gauss = torch.tensor([0.25, 2.0])
    assert known_score(rec, gauss, "rule").tolist() == [-0.5, -3.0]
    assert known_score(rec, gauss, "gaussian").tolist() == [-0.25, -2.0]
    assert known_score(rec, gauss, "reconstruction").tolist() == [-0.5, -3.0]
    assert known_score(torch.tensor([0.1]), torch.tensor([0.7]), "rule").tolist() == [-0.699999988079071]


def test_open_set_f1_forms_match_hand_computation():
    true = torch.tensor([0, 0, 1, 1, 2, 2])  # label 2 = unknown (K = 2)
    pred = torch.tensor([0, 1, 1, 1, 2, 0])
    f1 = open_set_f1(true, pred, 2)
    p = [1 / (2 + 1), 2 / (3 + 1), 1 / (1 + 1)]
    r = [1 / (2 + 1), 2 / (2 + 1), 1 / (2 + 1)]
    pm, rm = sum(p) / 3, sum(r) / 3
    assert math.isclose(f1["macro_f1_code"], 2 * pm * rm / (pm + rm), rel_tol=1e-9)
    per_class = [2 * 0.5 * 0.5 / 1.0, 2 * (2 / 3) * 1 / (2 / 3 + 1), 2 * 1 * 0.5 / 1.5]
    assert math.isclose(f1["macro_f1"], sum(per_class) / 3, rel_tol=1e-9)


def test_fitted_rule_keeps_95_percent_of_training_images_known_by_reconstruction(tmp_path):
    torch.manual_seed(0)
    arch = Architecture(("conv",) * 6, FASTERSEG_PATH)
    vae = ConditionalVAE(DerivedEncoder(arch, 1, 1), in_channels=1, num_classes=2, width=1, z_dim=2, u_dim=3,
                         input_size=32, mean=(0.3,), std=(0.4,), unet=False, recon_source="feature")
    ctx = RunContext(device=torch.device("cpu"), seed=0, work_dir=tmp_path, progress=Progress(quiet=True))
    images = torch.randint(0, 256, (60, 1, 8, 8), dtype=torch.uint8)
    labels = torch.arange(2).repeat(30)
    fit = fit_test_rule(vae, images, labels, ctx, reconstruction="counterfactual", threshold_rule="quantile95",
                        level=0.9, draws=10_000)
    model = NasOsrModel(vae, fit.rule, "rule").eval()
    with torch.no_grad():
        _, rec, gauss = model.score_parts(images.float() / 255)
        pred = model.predict(images.float() / 255)
        gaussian = NasOsrModel(vae, fit.rule, "gaussian").eval().predict(images.float() / 255)
    assert int((rec <= 1).sum()) == math.ceil(0.95 * 60)
    assert torch.allclose(pred.scores, -torch.maximum(rec, gauss))
    assert torch.allclose(gaussian.scores, -gauss) and torch.equal(gaussian.labels, pred.labels)
    assert torch.allclose(rec * fit.rule.tau, fit.train_errors, rtol=1e-4)
