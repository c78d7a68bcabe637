"""Scores from penultimate features fitted on the known training data: Mahalanobis, KNN, ViM, ReAct.

Each ``fit`` embeds the training images once (eval mode, the model's own test-time view) and keeps
what its score needs; ``score`` is a few matrix products per batch. Features are always computed in
float32, also inside a run's bf16 autocast: bf16 keeps about three significant digits, and the fitted
statistics (covariances, subspaces, percentiles, neighbour banks) amplify that rounding where the
features' covariance is ill-conditioned, as it is for a trained network's penultimate layer.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.covariance import EmpiricalCovariance
from torch import Tensor
from torch.nn import functional as F

from osrbench import OpenSetModel, OsrbenchError, Postprocessor, RunContext, TrainData
from osrbench.batches import map_batches
from osrbench_postprocessors.configs import KnnConfig, MahalanobisConfig, ReactConfig, VimConfig
from osrbench_postprocessors.logit_scores import energy_score


def float32_features(model: OpenSetModel, images: Tensor) -> Tensor:
    """``model.features`` computed in float32 even inside a bf16 autocast region."""
    with torch.autocast(device_type=images.device.type, enabled=False):
        return model.features(images.float()).float()


def train_features(model: OpenSetModel, train: TrainData, ctx: RunContext, batch_size: int) -> Tensor:
    """(N, D) float32 features of the training images, in eval mode."""
    model.eval()
    return map_batches(lambda x: float32_features(model, x), train.images, ctx, batch_size)


# --------------------------------------------------------------------------- Mahalanobis


class Mahalanobis(Postprocessor):
    """Lee et al. 2018: −min_c (f − μ_c)ᵀ Σ⁺ (f − μ_c) with class means μ_c and one tied covariance Σ of
    the training features (scikit-learn's ``EmpiricalCovariance`` of the class-centred features; Σ⁺ its
    pseudo-inverse, with the cut-off of ``scipy.linalg.pinvh``). The plain feature-space score: no
    input preprocessing and no ensemble over layers.

    The distances are computed in float64 in the whitened space (z = f·V·Λ^−½), never as
    fᵀΣ⁺f − 2fᵀΣ⁺μ + μᵀΣ⁺μ in float32: with a condition number of 10⁶ or more that sum of large terms
    cancels to noise, and the score falls below chance on a CIFAR network's 512-d features.
    """

    def __init__(self, config: MahalanobisConfig):
        self.batch_size = config.batch_size

    def fit(self, model: OpenSetModel, train: TrainData, ctx: RunContext) -> None:
        features = train_features(model, train, ctx, self.batch_size).double()
        labels = train.labels.to(features.device)
        means = torch.stack([features[labels == c].mean(dim=0) for c in range(train.num_classes)])
        centred = (features - means[labels]).cpu().numpy()
        covariance = EmpiricalCovariance(assume_centered=True).fit(centred).covariance_
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        kept = eigenvalues > eigenvalues.max() * len(eigenvalues) * np.finfo(np.float64).eps
        whitening = eigenvectors[:, kept] / np.sqrt(eigenvalues[kept])
        self.whitening = torch.from_numpy(whitening).to(features.device)
        self.whitened_means = means @ self.whitening

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        z = float32_features(model, images).double() @ self.whitening
        m = self.whitened_means
        # |z − m|² = |z|² − 2 z·m + |m|² for every class at once, (B, K): exact enough in float64 once whitened
        distances = (z * z).sum(dim=1, keepdim=True) - 2 * z @ m.T + (m * m).sum(dim=1)[None]
        return -distances.amin(dim=1).clamp_min(0).float()


# --------------------------------------------------------------------------- KNN


class Knn(Postprocessor):
    """Sun et al. 2022: −(Euclidean distance from the L2-normalised feature to its k-th nearest
    L2-normalised training feature). The neighbour search is exact (a matrix product and ``topk``)."""

    def __init__(self, config: KnnConfig):
        self.k, self.batch_size = config.k, config.batch_size

    def fit(self, model: OpenSetModel, train: TrainData, ctx: RunContext) -> None:
        bank = F.normalize(train_features(model, train, ctx, self.batch_size), dim=1)
        if self.k > len(bank):
            raise OsrbenchError(f"--set knn.k={self.k}: the training set has only {len(bank)} images; "
                                f"choose k <= {len(bank)}")
        self.bank = bank

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        z = F.normalize(float32_features(model, images), dim=1)
        kth_cosine = (z @ self.bank.T).topk(self.k, dim=1).values[:, -1]
        return -(2 - 2 * kth_cosine).clamp_min(0).sqrt()  # |a − b| of unit vectors


# --------------------------------------------------------------------------- ViM


def principal_dim(feature_dim: int) -> int:
    """The subspace dimension of the ViM paper's code for a feature dimension."""
    return 1000 if feature_dim >= 2048 else 512 if feature_dim >= 768 else feature_dim // 2


class Vim(Postprocessor):
    """Wang et al. 2022 (Virtual-logit Matching): energy minus a virtual logit α·‖P⊥(f − o)‖, where
    o = −W⁺b is the origin of the logit space, P⊥ projects onto the complement of the top principal
    subspace of the training features around o, and α = mean max-logit / mean virtual-logit norm
    on the training data."""

    def __init__(self, config: VimConfig):
        self.dim, self.batch_size = config.dim, config.batch_size

    def fit(self, model: OpenSetModel, train: TrainData, ctx: RunContext) -> None:
        features = train_features(model, train, ctx, self.batch_size).double()
        weight, bias = (t.detach().double() for t in model.linear_head())
        dim = self.dim or principal_dim(features.shape[1])
        if not 0 < dim < features.shape[1]:
            raise OsrbenchError(f"--set vim.dim={dim}: must lie in 1..{features.shape[1] - 1} for "
                                f"{features.shape[1]}-d features")
        origin = -torch.linalg.pinv(weight) @ bias
        centred = (features - origin).cpu().numpy()
        covariance = EmpiricalCovariance(assume_centered=True).fit(centred).covariance_
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
        residual = torch.from_numpy(np.ascontiguousarray(eigenvectors[:, np.argsort(-eigenvalues)[dim:]]))
        self.origin = origin.float()
        self.residual = residual.float().to(features.device)
        virtual = ((features.float() - self.origin) @ self.residual).norm(dim=1)
        max_logit = (features @ weight.T + bias).amax(dim=1)
        self.alpha = float(max_logit.mean() / virtual.mean())

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        f = float32_features(model, images)
        weight, bias = model.linear_head()
        virtual = self.alpha * ((f - self.origin) @ self.residual).norm(dim=1)
        return energy_score(f @ weight.float().T + bias.float(), 1.0) - virtual


# --------------------------------------------------------------------------- ReAct


class React(Postprocessor):
    """Sun, Guo & Li 2021 (Rectified Activations): penultimate features clipped at c, the given
    percentile of all training activations, then the energy score of the logits of the clipped
    features."""

    def __init__(self, config: ReactConfig):
        self.percentile, self.batch_size = config.percentile, config.batch_size

    def fit(self, model: OpenSetModel, train: TrainData, ctx: RunContext) -> None:
        features = train_features(model, train, ctx, self.batch_size)
        self.threshold = float(np.percentile(features.cpu().numpy().ravel(), self.percentile))

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        weight, bias = model.linear_head()
        clipped = float32_features(model, images).clamp(max=self.threshold)
        return energy_score(clipped @ weight.float().T + bias.float(), 1.0)
