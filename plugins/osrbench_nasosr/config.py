"""NAS-OSR hyperparameters: the spec's defaults (``shared/methods/nas-osr.md``), settable with ``--set``.

Defaults are the full-scale values of the authors' code for CIFAR10 (search: ``search.sh``,
retraining: ``train.sh``). ``FAST_OVERRIDES`` are the spec's "fast version" sizes (§14) for a CPU
smoke run; on the command line they read::

    --set width=2 z_dim=4 u_dim=8 batch_size=16 warmup_epochs=1 search_epochs=1 \\
          search_iterations=4 search_eval_every=1 retrain_epochs=2 retrain_iterations=8 \\
          train_per_class=128 mc_draws=20000
"""

from __future__ import annotations

from dataclasses import dataclass, field

from osrbench.config import option
from osrbench.specs import OsrbenchError

PATH_RULES = ("fasterseg", "beta")
RECON_SOURCES = ("feature", "latent")
DECODER_OUTPUTS = ("linear", "tanh")
SCORES = ("gaussian", "rule", "reconstruction")
THRESHOLD_RULES = ("quantile95", "mean_plus_2std")
SCORE_FORMULAS = {"gaussian": "-min_m D2_m/d*_m", "rule": "-max(r/tau_rec, min_m D2_m/d*_m)",
                  "reconstruction": "-r/tau_rec"}
COUNTERFACTUAL_MEANS = ("train-means", "prior")
GAUSSIAN_CORNERS = ("code", "correlation")

FAST_OVERRIDES = {
    "width": "2", "z_dim": "4", "u_dim": "8", "batch_size": "16",
    "warmup_epochs": "1", "search_epochs": "1", "search_iterations": "4", "search_eval_every": "1",
    "retrain_epochs": "2", "retrain_iterations": "8", "train_per_class": "128", "mc_draws": "20000",
}



@dataclass
class NasOsrConfig:
    # --- what to run
    arch: str = option("", "JSON file of a derived architecture, or paper (the one the paper reports for CIFAR10): "
                         "retrain it without searching (recorded as nas-osr-fixed-arch)")
    # --- network sizes
    width: int = option(16, "base channel unit F: stem 4F/8F, scales 16F/32F/64F (spec: 16; fast version: 2)")
    z_dim: int = option(10, "instance attribute z dimensions")
    u_dim: int = option(32, "class attribute u dimensions")
    input_size: int = option(32, "images are resized to this side inside the model (multiple of 16)")
    batch_size: int = option(64, "minibatch size of search and retraining")
    train_per_class: int = option(0, "use at most this many training images per known class (0 = all)")
    crop_scale_min: float = option(0.8, "random-resized-crop minimum area share (augmentation)")
    rotation: float = option(10.0, "random rotation range in degrees (augmentation; 0 = none)")
    # --- search with Pseudo Auxiliary Searching
    pseudo_unknowns: int = option(-1, "known classes held out as pseudo-unknowns in the search (-1 = round(K/3))")
    val_fraction: float = option(0.1, "share of search-class training images held out to select the snapshot")
    warmup_epochs: int = option(30, "search phase A: weight-only epochs")
    search_epochs: int = option(30, "search phase B: alternating architecture/weight epochs")
    search_iterations: int = option(0, "iterations per search epoch (0 = one pass over the weight half)")
    search_eval_every: int = option(5, "evaluate the pseudo-unknown macro-F1 every N epochs (and at each phase end)")
    weight_lr: float = option(5e-4, "search: Adam learning rate of the weights")
    weight_decay_search: float = option(5e-5, "search: Adam weight decay of the weights")
    lr_decay_search: float = option(0.97, "search: weight learning rate factor per epoch")
    grad_clip: float = option(5.0, "search: global gradient norm clip of the weight step")
    arch_lr: float = option(3e-4, "search: Adam learning rate of alpha/beta (betas 0.5, 0.999)")
    accumulate_arch_grads: bool = option(False, "authors' code: the weight step also gets the architecture "
                                              "batch's gradient")
    search_ce_weight: float = option(30.0, "search: cross-entropy coefficient (lambda)")
    search_kl_weight: float = option(1.0, "search: KL coefficient after warm-up")
    search_kl_z_weight: float = option(1.0, "search: weight of KL(z) inside the KL term")
    search_cr_weight: float = option(1.0, "search: VAE contrastive coefficient")
    search_temperature: float = option(6.0, "search: contrastive temperature T")
    kl_warmup_iterations: int = option(50, "search: iterations of linear KL warm-up")
    search_gaussian_level: float = option(0.5, "search: Gaussian rule level t when scoring snapshots")
    path_rule: str = option("fasterseg", "branch-2 path: fasterseg (fixed [0,0,1,1,2,2], authors' code) "
                                       "or beta (highest-weighted path, paper text)")
    # --- retraining
    retrain_epochs: int = option(300, "retraining epochs on all known classes")
    retrain_iterations: int = option(0, "iterations per retraining epoch (0 = one pass)")
    lr: float = option(5e-4, "retraining SGD learning rate")
    momentum: float = option(0.9, "retraining SGD momentum")
    weight_decay: float = option(5e-4, "retraining SGD weight decay")
    lr_decay: float = option(0.992, "retraining learning rate factor per epoch")
    ce_weight: float = option(30.0, "retraining: cross-entropy coefficient (lambda; MNIST/SVHN: 60)")
    kl_weight: float = option(0.5, "retraining: KL coefficient, warmed up linearly over all epochs")
    kl_z_weight: float = option(3.0, "retraining: weight of KL(z) inside the KL term (MNIST/SVHN: 1)")
    re_weight: float = option(1.0, "reconstruction coefficient (search and retraining)")
    cr_weight: float = option(3.0, "retraining: VAE contrastive coefficient (MNIST/SVHN: 1)")
    temperature: float = option(6.0, "retraining: contrastive temperature T (MNIST: 10, SVHN: 2)")
    recon_source: str = option("latent", "retrained reconstruction: latent (decode a sample of [z, u], the paper; "
                                       "trains the counterfactual decoder on the absolute error) or feature "
                                       "(branch-2 map -> up-path, authors' code)")
    decoder_output: str = option("linear", "decoder output layer: linear (can reach the standardised targets) or "
                                         "tanh (authors' code; outputs in [-1, 1])")
    # --- test rule
    rec_threshold_rule: str = option("quantile95", "reconstruction threshold: quantile95 (paper) or "
                                                 "mean_plus_2std (code)")
    gaussian_level: float = option(0.9, "Gaussian rule level t (MNIST/CIFAR10 0.9, SVHN 0.6, CIFAR+N 0.5)")
    gaussian_corner: str = option("code", "Gaussian rule corner point: code (q from the covariance, scaled by "
                                        "sigma again) or correlation (q from the correlation matrix; scale-free)")
    mc_draws: int = option(200_000, "Monte-Carlo draws per class for the equicoordinate Gaussian quantile")
    counterfactual_means: str = option("train-means", "class vectors of test counterfactuals: train-means "
                                                    "(mean u of correct training samples) or prior (e_c)")
    score: str = option("gaussian", "continuous known-ness score: gaussian (-min_m D2_m/d*_m), rule "
                                  "(-max(r/tau_rec, min_m D2_m/d*_m), both rejection statistics) or "
                                  "reconstruction (-r/tau_rec)")

    def validate(self) -> None:
        choices = {"path_rule": PATH_RULES, "recon_source": RECON_SOURCES, "decoder_output": DECODER_OUTPUTS,
                   "score": SCORES,
                   "rec_threshold_rule": THRESHOLD_RULES, "counterfactual_means": COUNTERFACTUAL_MEANS,
                   "gaussian_corner": GAUSSIAN_CORNERS}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise OsrbenchError(f"--set {key}={getattr(self, key)}: choose {' or '.join(allowed)}")
        positive = ("width", "z_dim", "u_dim", "batch_size", "search_epochs", "retrain_epochs",
                    "search_eval_every", "mc_draws")
        for key in positive:
            if getattr(self, key) < 1:
                raise OsrbenchError(f"--set {key}={getattr(self, key)}: must be at least 1")
        nonneg = ("warmup_epochs", "search_iterations", "retrain_iterations", "train_per_class",
                  "kl_warmup_iterations")
        for key in nonneg:
            if getattr(self, key) < 0:
                raise OsrbenchError(f"--set {key}={getattr(self, key)}: must not be negative")
        if self.input_size < 16 or self.input_size % 16:
            raise OsrbenchError(f"--set input_size={self.input_size}: must be a multiple of 16")
        if not 0 < self.val_fraction < 1:
            raise OsrbenchError(f"--set val_fraction={self.val_fraction}: must lie strictly between 0 and 1")
        for key in ("gaussian_level", "search_gaussian_level"):
            if not 0 < getattr(self, key) < 1:
                raise OsrbenchError(f"--set {key}={getattr(self, key)}: must lie strictly between 0 and 1")
        if not 0 < self.crop_scale_min <= 1:
            raise OsrbenchError(f"--set crop_scale_min={self.crop_scale_min}: must lie in (0, 1]")
        rates = ("weight_lr", "arch_lr", "lr", "grad_clip", "search_temperature", "temperature")
        for key in rates:
            if getattr(self, key) <= 0:
                raise OsrbenchError(f"--set {key}={getattr(self, key)}: must be positive")
        weights = ("weight_decay_search", "weight_decay", "rotation", "search_ce_weight", "search_kl_weight",
                   "search_kl_z_weight", "search_cr_weight", "ce_weight", "kl_weight", "kl_z_weight", "re_weight",
                   "cr_weight")
        for key in weights:
            if getattr(self, key) < 0:
                raise OsrbenchError(f"--set {key}={getattr(self, key)}: must not be negative")
        for key in ("lr_decay_search", "lr_decay"):
            if not 0 < getattr(self, key) <= 1:
                raise OsrbenchError(f"--set {key}={getattr(self, key)}: must lie in (0, 1]")
        if not 0 <= self.momentum < 1:
            raise OsrbenchError(f"--set momentum={self.momentum}: must lie in [0, 1)")
        if self.arch:
            from osrbench_nasosr.derivation import Architecture  # here: listing the options needs no torch

            Architecture.load(self.arch)  # a bad file fails here, before any data is loaded


@dataclass
class RuleScorerConfig:
    batch_size: int = field(default=512, metadata={"help": "inference batch size"})
