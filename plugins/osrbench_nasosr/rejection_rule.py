"""The NAS-OSR rejection rule (the paper's test rule, GCM-CF style), fitted on the training set.

1. One eval-mode pass over the training images (test transform) gives μ_u and the classifier's
   label. Per class c, over the *correctly classified* samples: the mean μ̄_c and covariance Σ_c of
   μ_u. (A class with fewer than 2 correct samples falls back to all of its samples; the fit
   reports it as degenerate.)
2. Counterfactual reconstruction rejection: r(x) = min_c Σ_{C,H,W} (x − x̂_c)², with x̂_c decoded
   from (μ_z(x), μ̄_c). τ_rec keeps 95% of the training samples known (paper; ``quantile95``) or is
   mean + 2·std of the training r (code; ``mean_plus_2std``).
3. Gaussian class-attribute rejection: q_m is the t-quantile of max_r |X_r| for X ~ N(0, Σ_m)
   (Monte Carlo), c_m = q_m·sqrt(diag Σ_m) (the code's double scaling, kept by default), d*_m =
   c_mᵀ Σ_m⁺ c_m; class m accepts x iff D²_m(x) = (μ_u − μ̄_m)ᵀ Σ_m⁺ (μ_u − μ̄_m) < d*_m. Because of
   the double scaling the region shrinks with the spread of u (d*_m ≈ d·q_m², q_m ∝ σ), so with a
   tight latent it rejects most knowns; ``gaussian_corner="correlation"`` takes q_m from the
   correlation matrix instead, which makes the region scale-free.
4. Unknown iff r(x) > τ_rec or no class accepts; otherwise the label is argmax classifier(μ_u).

The search scores its snapshots with the same rule in the code's search-time form: the plain
(non-counterfactual) reconstruction error and a Gaussian level of 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import Tensor, nn

from osrbench import RunContext
from osrbench.batches import map_batches
from osrbench.metrics import threshold_at_tpr
from osrbench_nasosr.vae import ConditionalVAE

RECONSTRUCTIONS = ("counterfactual", "plain")


@dataclass
class ClassStats:
    means: Tensor  # (K, u) float64
    covs: Tensor  # (K, u, u) float64
    degenerate: list[int]  # classes with fewer than 2 correctly classified samples
    accuracy: float  # training accuracy of the classifier on μ_u


def class_statistics(mu_u: Tensor, labels: Tensor, pred: Tensor, num_classes: int) -> ClassStats:
    mu_u = mu_u.double()
    means, covs, degenerate = [], [], []
    for c in range(num_classes):
        sel = (labels == c) & (pred == c)
        if int(sel.sum()) < 2:
            degenerate.append(c)
            sel = labels == c
        v = mu_u[sel]
        means.append(v.mean(dim=0))
        covs.append(torch.cov(v.t()) if len(v) > 1 else torch.zeros(v.shape[1], v.shape[1], dtype=v.dtype,
                                                                      device=v.device))
    return ClassStats(torch.stack(means), torch.stack(covs), degenerate, float((pred == labels).double().mean()))


def equicoordinate_quantile(cov: Tensor, level: float, draws: int, seed: int = 0) -> float:
    """q with P(|X_r| ≤ q for all r) = level for X ~ N(0, cov), by Monte Carlo (R's qmvnorm, two-sided)."""
    evals, evecs = torch.linalg.eigh(cov.double().cpu())
    root = evecs * evals.clamp(min=0).sqrt()  # cov = root rootᵀ, also when cov is singular
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(draws, cov.shape[0], generator=gen, dtype=torch.float64) @ root.t()
    return float(torch.quantile(x.abs().amax(dim=1), level))


def reconstruction_threshold(errors: Tensor, rule: str, keep: float = 0.95) -> float:
    """``quantile95``: the smallest τ with at least ``keep`` of ``errors`` ≤ τ; else mean + 2·(population) std."""
    e = errors.double().flatten()
    if rule == "quantile95":  # lower error = more known: the known-score threshold of the negated errors
        return -threshold_at_tpr(-e, keep)
    return float(e.mean() + 2 * e.std(correction=0))


class GaussianRule(nn.Module):
    """Per-class Mahalanobis acceptance regions on μ_u."""

    def __init__(self, means: Tensor, precisions: Tensor, radii: Tensor):
        super().__init__()
        self.register_buffer("means", means.float())
        self.register_buffer("precisions", precisions.float())
        self.register_buffer("radii", radii.float())

    @classmethod
    def fit(cls, stats: ClassStats, level: float, draws: int, corner: str = "code") -> "GaussianRule":
        """``corner="code"``: q_m from Σ_m, then scaled by σ again (the authors'); ``"correlation"``: q_m
        from the correlation matrix, so the acceptance region does not depend on the scale of u."""
        covs = stats.covs.cpu()
        precisions = torch.linalg.pinv(covs, hermitian=True)
        radii = []
        for m in range(len(covs)):
            sigma = covs[m].diagonal().clamp(min=0).sqrt()
            basis = covs[m] if corner == "code" else covs[m] / torch.outer(sigma, sigma).clamp(min=1e-300)
            point = equicoordinate_quantile(basis, level, draws, seed=m) * sigma
            radii.append(point @ precisions[m] @ point)
        return cls(stats.means.cpu(), precisions, torch.stack(radii).clamp(min=1e-12))

    def ratio(self, mu_u: Tensor) -> Tensor:
        """min_m D²_m / d*_m: below 1 iff some class accepts."""
        with torch.autocast(device_type=mu_u.device.type, enabled=False):  # keep D² in float32 under bf16
            diff = mu_u.float()[:, None, :] - self.means[None]
            d2 = torch.einsum("bku,kuv,bkv->bk", diff, self.precisions, diff)
        return (d2 / self.radii).amin(dim=1)


class TestRule(nn.Module):
    def __init__(self, class_vectors: Tensor, gaussian: GaussianRule, reconstruction: str):
        super().__init__()
        self.register_buffer("class_vectors", class_vectors.float())
        self.register_buffer("tau", torch.tensor(float("inf")))
        self.gaussian = gaussian
        self.reconstruction = reconstruction

    def reconstruction_error(self, vae: ConditionalVAE, x: Tensor, mu: Tensor, var: Tensor,
                             maps: list[Tensor]) -> Tensor:
        """r(x) per sample: min over classes of the summed squared counterfactual error, or the plain one."""
        if self.reconstruction == "counterfactual":
            cf = vae.counterfactuals(mu[:, :vae.z_dim], self.class_vectors, maps).float()
            return (cf - x.float()[:, None]).pow(2).sum(dim=(2, 3, 4)).amin(dim=1)
        recon = vae.reconstruct(mu, var, maps, sample=False).float()
        return (recon - x.float()).pow(2).sum(dim=(1, 2, 3))

    def parts(self, vae: ConditionalVAE, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(label, r(x)/τ_rec, min_m D²_m/d*_m) for float images in [0, 1]."""
        x = vae.prepare(images)
        mu, var, maps = vae.encode(x)
        mu_u = mu[:, vae.z_dim:]
        labels = vae.class_logits(mu_u).argmax(dim=1)
        rec = self.reconstruction_error(vae, x, mu, var, maps) / self.tau
        return labels, rec, self.gaussian.ratio(mu_u)


def decide(labels: Tensor, rec_ratio: Tensor, gauss_ratio: Tensor, num_classes: int) -> Tensor:
    """The open-set label: ``num_classes`` (unknown) iff r > τ_rec or no class accepts."""
    unknown = (rec_ratio > 1) | (gauss_ratio >= 1)
    return torch.where(unknown, torch.full_like(labels, num_classes), labels)





def known_score(rec_ratio: Tensor, gauss_ratio: Tensor, kind: str = "rule") -> Tensor:
    """Higher = more likely known. ``rule``: −max(r/τ_rec, min_m D²_m/d*_m), below −1 ⇔ rejected by the
    test rule (ties aside); ``gaussian``: −min_m D²_m/d*_m; ``reconstruction``: −r/τ_rec."""
    if kind == "gaussian":
        return -gauss_ratio.float()
    if kind == "reconstruction":
        return -rec_ratio.float()
    return -torch.maximum(rec_ratio.float(), gauss_ratio.float())


@dataclass
class RuleFit:
    rule: TestRule
    stats: ClassStats
    train_errors: Tensor

    def summary(self) -> dict:
        return {"tau_rec": float(self.rule.tau),
                "gaussian_radii": [round(float(r), 4) for r in self.rule.gaussian.radii],
                "train_accuracy": round(self.stats.accuracy, 4), "degenerate_classes": self.stats.degenerate}


@torch.no_grad()
def fit_test_rule(vae: ConditionalVAE, images: Tensor, labels: Tensor, ctx: RunContext, *, reconstruction: str,
                  threshold_rule: str, level: float, draws: int, class_vectors: str = "train-means",
                  corner: str = "code", batch_size: int = 512) -> RuleFit:
    """Fit class statistics, the Gaussian rule and τ_rec on (uint8) training images, in eval mode."""
    was_training = vae.training
    vae.eval()
    try:
        def encode(x: Tensor) -> tuple[Tensor, Tensor]:
            mu, _, _ = vae.encode(vae.prepare(x))
            mu_u = mu[:, vae.z_dim:]
            return mu_u.float(), vae.class_logits(mu_u).argmax(dim=1)

        mu_u, pred = map_batches(encode, images, ctx, batch_size)
        labels = labels.to(pred.device)
        stats = class_statistics(mu_u, labels, pred, vae.num_classes)
        vectors = stats.means if class_vectors == "train-means" else vae.prior_means().detach()
        rule = TestRule(vectors, GaussianRule.fit(stats, level, draws, corner), reconstruction).to(ctx.device)

        def error(x: Tensor) -> Tensor:
            x = vae.prepare(x)
            mu, var, maps = vae.encode(x)
            return rule.reconstruction_error(vae, x, mu, var, maps)

        errors = map_batches(error, images, ctx, batch_size)
        rule.tau.fill_(reconstruction_threshold(errors, threshold_rule))
    finally:
        vae.train(was_training)
    return RuleFit(rule, stats, errors)


def open_set_f1(true: Tensor, pred: Tensor, num_classes: int) -> dict[str, float]:
    """Macro-F1 over the K known classes + unknown (label K).

    ``macro_f1_code``: the authors' (CGDL) form, F1 of the macro-averaged P_k = TP/(TP+FP+1) and
    R_k = TP/(TP+FN+1); ``macro_f1``: scikit-learn's mean of per-class F1.
    """
    t, p = true.cpu().numpy(), pred.cpu().numpy()
    precision, recall = [], []
    for k in range(num_classes + 1):
        tp = np.sum((p == k) & (t == k))
        precision.append(tp / (np.sum(p == k) + 1))
        recall.append(tp / (np.sum(t == k) + 1))
    pm, rm = float(np.mean(precision)), float(np.mean(recall))
    code = 0.0 if pm + rm == 0 else 2 * pm * rm / (pm + rm)
    sk = f1_score(t, p, labels=np.arange(num_classes + 1), average="macro", zero_division=0)
    return {"macro_f1_code": code, "macro_f1": float(sk)}
