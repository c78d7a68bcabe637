"""The postprocessors' options, kept apart from the postprocessors so that listing plugins imports neither torch
nor scikit-learn; each postprocessor module imports its config from here."""

from __future__ import annotations

from dataclasses import dataclass

from osrbench.config import option
from osrbench.specs import OsrbenchError


def _positive(name: str, **values: float) -> None:
    for key, value in values.items():
        if not value > 0:
            raise OsrbenchError(f"--set {name}.{key}={value}: must be positive")


@dataclass
class NoOptions:
    """This postprocessor has no options."""


@dataclass
class EnergyConfig:
    temperature: float = option(1.0, "temperature T of the free energy (paper: 1)")

    def validate(self) -> None:
        if not self.temperature > 0:
            raise OsrbenchError(f"--set energy.temperature={self.temperature}: must be positive")


@dataclass
class OdinConfig:
    temperature: float = option(1000.0, "softmax temperature T (paper: 1000)")
    epsilon: float = option(0.0014, "input perturbation ε in [0, 1] pixel units (paper: 0.0014; 0 = temperature only)")

    def validate(self) -> None:
        if not self.temperature > 0:
            raise OsrbenchError(f"--set odin.temperature={self.temperature}: must be positive")
        if not self.epsilon >= 0:
            raise OsrbenchError(f"--set odin.epsilon={self.epsilon}: must be >= 0")


@dataclass
class MahalanobisConfig:
    batch_size: int = option(1024, "batch size for embedding the training set")

    def validate(self) -> None:
        _positive("mahalanobis", batch_size=self.batch_size)


@dataclass
class RelativeMahalanobisConfig(MahalanobisConfig):
    def validate(self) -> None:
        _positive("relative-mahalanobis", batch_size=self.batch_size)


@dataclass
class KnnConfig:
    k: int = option(50, "the k-th nearest training feature (paper: 50 for CIFAR-10 with all training data)")
    batch_size: int = option(1024, "batch size for embedding the training set")

    def validate(self) -> None:
        _positive("knn", k=self.k, batch_size=self.batch_size)


@dataclass
class VimConfig:
    dim: int = option(0, "dimension of the principal subspace; 0 = the paper's rule (1000 for D >= 2048, "
                         "512 for D >= 768, else D/2)")
    batch_size: int = option(1024, "batch size for embedding the training set")

    def validate(self) -> None:
        if self.dim < 0:
            raise OsrbenchError(f"--set vim.dim={self.dim}: must be >= 0 (0 = the paper's rule)")
        _positive("vim", batch_size=self.batch_size)


@dataclass
class ReactConfig:
    percentile: float = option(90.0, "clip features at this percentile of the training activations (paper: 90)")
    batch_size: int = option(1024, "batch size for embedding the training set")

    def validate(self) -> None:
        if not 0 < self.percentile <= 100:
            raise OsrbenchError(f"--set react.percentile={self.percentile}: must lie in (0, 100]")
        _positive("react", batch_size=self.batch_size)
