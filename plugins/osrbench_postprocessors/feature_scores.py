"""Scores from penultimate features fitted on the known training data: Mahalanobis (plain and relative),
KNN, ViM, ReAct.

Each ``fit`` embeds the training images once (eval mode, the model's own test-time view) and keeps
what its score needs; ``score`` is a few matrix products per batch. The five postprocessors embed the
training set once between them (``train_features``) and each test batch once between them
(``shared_features``). Features are always computed in
float32, also inside a run's bf16 autocast: bf16 keeps about three significant digits, and the fitted
statistics (covariances, subspaces, percentiles, neighbour banks) amplify that rounding where the
features' covariance is ill-conditioned, as it is for a trained network's penultimate layer.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
from sklearn.covariance import EmpiricalCovariance
from torch import Tensor
from torch.nn import functional as F

from osrbench import OpenSetModel, OsrbenchError, Postprocessor, RunContext, TrainData
from osrbench.batches import map_batches
from osrbench_postprocessors.configs import KnnConfig, MahalanobisConfig, ReactConfig, VimConfig
from osrbench_postprocessors.logit_scores import energy_score
from osrbench_postprocessors.shared_outputs import shared_outputs


def float32_features(model: OpenSetModel, images: Tensor) -> Tensor:
    """``model.features`` computed in float32 even inside a bf16 autocast region."""
    with torch.autocast(device_type=images.device.type, enabled=False):
        return model.features(images.float()).float()


def shared_features(model: OpenSetModel, images: Tensor) -> Tensor:
    """``float32_features`` of a batch being scored, computed once per batch for all the feature postprocessors of
    one model (``shared_outputs``; callers must not modify the returned tensor in place)."""
    return shared_outputs.get("float32 features", model, images, lambda x: float32_features(model, x))


class _LastTrainFeatures:
    """The training features last embedded, reused while the same model (its parameters unchanged in place:
    each tensor's version counter) embeds the same image tensor in the same batches. A run fits several
    feature postprocessors on one trained model: with this they embed the training set once, not once each
    (on a cifar10 split, 30,000 images times six test-time views per postprocessor)."""

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.model: weakref.ref | None = None
        self.images: weakref.ref | None = None
        self.features: Tensor | None = None

    def get(self, model: OpenSetModel, images: Tensor, batch_size: int) -> Tensor | None:
        fresh = (self.model is not None and self.model() is model and self.images is not None
                 and self.images() is images and self.key == self._key(model, batch_size))
        return self.features if fresh else None

    def put(self, model: OpenSetModel, images: Tensor, batch_size: int, features: Tensor) -> None:
        self.key, self.features = self._key(model, batch_size), features
        self.model, self.images = weakref.ref(model), weakref.ref(images)

    @staticmethod
    def _key(model: OpenSetModel, batch_size: int) -> tuple:
        return (batch_size, tuple(t._version for t in (*model.parameters(), *model.buffers())))


_last_train_features = _LastTrainFeatures()


def train_features(model: OpenSetModel, train: TrainData, ctx: RunContext, batch_size: int) -> Tensor:
    """(N, D) float32 features of the training images, in eval mode (embedded once for all the postprocessors
    fitted on one trained model; callers must not modify the returned tensor in place)."""
    model.eval()
    features = _last_train_features.get(model, train.images, batch_size)
    if features is None:
        features = map_batches(lambda x: float32_features(model, x), train.images, ctx, batch_size)
        _last_train_features.put(model, train.images, batch_size, features)
    return features


# --------------------------------------------------------------------------- Mahalanobis


class Mahalanobis(Postprocessor):
    """Lee et al. 2018: −min_c (f − μ_c)ᵀ Σ⁺ (f − μ_c) with class means μ_c and one tied covariance Σ of
    the training features (scikit-learn's ``EmpiricalCovariance`` of the class-centred features; Σ⁺ its
    pseudo-inverse, with the cut-off of ``scipy.linalg.pinvh``). The plain feature-space score: no
    input preprocessing and no ensemble over layers.

    The distances are computed in float64 in the whitened space (z = f·V·Λ^−½), never as
    fᵀΣ⁺f − 2fᵀΣ⁺μ + μᵀΣ⁺μ in float32, where an ill-conditioned covariance makes that sum of large terms
    cancel. (Precision is not why this score is below chance on the CIFAR network: every numeric path
    gives the same AUROC there; see ``RelativeMahalanobis``.)
    """

    def __init__(self, config: MahalanobisConfig):
        self.batch_size = config.batch_size

    def fit(self, model: OpenSetModel, train: TrainData, ctx: RunContext) -> None:
        features = train_features(model, train, ctx, self.batch_size).double()
        labels = train.labels.to(features.device)
        means = torch.stack([features[labels == c].mean(dim=0) for c in range(train.num_classes)])
        self.whitening = whitening_of(features - means[labels])
        self.whitened_means = means @ self.whitening

    def distances(self, features: Tensor) -> Tensor:
        """(B,) squared distance to the nearest class mean, in float64."""
        return squared_distances(features @ self.whitening, self.whitened_means).amin(dim=1)

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        return -self.distances(shared_features(model, images).double()).float()


class RelativeMahalanobis(Mahalanobis):
    """Ren et al. 2021 (a simple fix to the Mahalanobis distance for near-OOD detection):
    −min_c [MD_c(f) − MD_0(f)], where MD_0 is the distance under one Gaussian (mean and covariance)
    of all training features, fitted without labels.

    Subtracting MD_0 removes what every input shares with the training data as a whole. On the
    CIFAR ResNet-9 the plain distance is dominated by the hundreds of low-variance directions in
    which every image, known or not, lies about D away from the nearest mean, and that part shrinks
    with the feature norm: unknown images have smaller norms, come out *closer* than known test
    images, and the plain score falls below chance (0.47 AUROC on split 0); the relative distance
    gives 0.86 on the same features (``benchmarks/gpu_mahalanobis.py``).
    """

    def fit(self, model: OpenSetModel, train: TrainData, ctx: RunContext) -> None:
        super().fit(model, train, ctx)
        features = train_features(model, train, ctx, self.batch_size).double()  # the embedding super() made
        self.background_whitening = whitening_of(features - features.mean(dim=0))
        self.background_mean = features.mean(dim=0, keepdim=True) @ self.background_whitening

    def distances(self, features: Tensor) -> Tensor:
        background = squared_distances(features @ self.background_whitening, self.background_mean)[:, 0]
        return super().distances(features) - background


def whitening_of(centred: Tensor) -> Tensor:
    """W with (x·W)ᵀ(x·W) = xᵀΣ⁺x for the covariance Σ of the centred rows (scikit-learn's
    ``EmpiricalCovariance``), dropping the directions ``scipy.linalg.pinvh`` would cut off."""
    covariance = EmpiricalCovariance(assume_centered=True).fit(centred.cpu().numpy()).covariance_
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    kept = eigenvalues > eigenvalues.max() * len(eigenvalues) * np.finfo(np.float64).eps
    return torch.from_numpy(eigenvectors[:, kept] / np.sqrt(eigenvalues[kept])).to(centred.device)


def squared_distances(z: Tensor, means: Tensor) -> Tensor:
    """(B, K) squared Euclidean distances of whitened rows to whitened means: |z − m|² = |z|² − 2 z·m + |m|²,
    exact enough in float64 once whitened; clamped at 0 against rounding."""
    return ((z * z).sum(dim=1, keepdim=True) - 2 * z @ means.T + (means * means).sum(dim=1)[None]).clamp_min(0)


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
        z = F.normalize(shared_features(model, images), dim=1)
        return -(2 - 2 * kth_cosine(z, self.bank, self.k)).clamp_min(0).sqrt()  # |a − b| of unit vectors


KNN_ROWS = 256  # test features compared with the whole bank at once: bounds the (rows, N) similarity matrix


def kth_cosine(z: Tensor, bank: Tensor, k: int, rows: int = KNN_ROWS) -> Tensor:
    """(B,) the k-th largest of each row of z·bankᵀ, ``rows`` rows of the product at a time."""
    return torch.cat([(part @ bank.T).topk(k, dim=1).values[:, -1] for part in z.split(rows)])


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
        f = shared_features(model, images)
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
        clipped = shared_features(model, images).clamp(max=self.threshold)
        return energy_score(clipped @ weight.float().T + bias.float(), 1.0)
