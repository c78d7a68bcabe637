"""The scorers' options, kept apart from the scorers so that listing plugins imports neither torch nor
scikit-learn; each scorer module imports its config from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from osrbench.specs import OsrbenchError

COMMON = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
          "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
          "jpeg_compression")


@dataclass
class OSRConfig:
    tpr: float = field(default=0.95, metadata={"help": "share of known test samples kept when thresholding for macro-F1"})
    batch_size: int = field(default=1024, metadata={"help": "inference batch size"})
    openness_draws: int = field(default=5, metadata={"help": "random unknown-class subsets averaged per point of the openness curve"})
    plots: bool = field(default=True, metadata={"help": "write the ROC, openness and activation-grid PNGs into the run folder"})
    grid_images: int = field(default=8, metadata={"help": "images in the activation grid (models that provide maps)"})

    def validate(self) -> None:
        if not 0 < self.tpr <= 1:
            raise OsrbenchError(f"--set osr.tpr={self.tpr}: must lie in (0, 1]")
        if self.openness_draws < 1:
            raise OsrbenchError(f"--set osr.openness_draws={self.openness_draws}: must be at least 1")
        if self.batch_size < 1 or self.grid_images < 1:
            raise OsrbenchError(f"--set osr.batch_size={self.batch_size} osr.grid_images={self.grid_images}: "
                                "both must be at least 1")


@dataclass
class OODConfig:
    sets: list[str] = field(default_factory=lambda: ["cifar100", "svhn"], metadata={
        "help": "OOD datasets (test split), comma-separated; NAME:I+J+K keeps only those classes of NAME"})
    tpr: float = field(default=0.95, metadata={"help": "true positive rate (in-distribution accepted) for the TNR"})
    batch_size: int = field(default=1024, metadata={"help": "inference batch size"})
    plots: bool = field(default=True, metadata={"help": "write the OOD ROC curves (roc-ood.png) into the run folder"})

    def validate(self) -> None:
        if not self.sets:
            raise OsrbenchError("--set ood.sets: name at least one dataset, e.g. ood.sets=cifar100,svhn")
        if not 0 < self.tpr <= 1:
            raise OsrbenchError(f"--set ood.tpr={self.tpr}: must lie in (0, 1]")
        if self.batch_size < 1:
            raise OsrbenchError(f"--set ood.batch_size={self.batch_size}: must be at least 1")
        for spec in self.sets:
            parse_set(spec)


def dataset_names(config: OODConfig) -> list[str]:
    """The datasets ``config`` reads (the harness loads them before training)."""
    return list(dict.fromkeys(parse_set(spec)[0] for spec in config.sets))


def parse_set(spec: str) -> tuple[str, list[int] | None]:
    """``"cifar10:2+3"`` -> ``("cifar10", [2, 3])``; ``"svhn"`` -> ``("svhn", None)``."""
    name, sep, classes = spec.partition(":")
    if not sep:
        return name, None
    try:
        chosen = [int(c) for c in classes.split("+") if c.strip()]
    except ValueError:
        chosen = []
    if not chosen:
        raise OsrbenchError(f"--set ood.sets: {spec!r} should read NAME:I+J+... with class indices, e.g. cifar10:2+3+5")
    return name, chosen


@dataclass
class CorruptionConfig:
    corruptions: list[str] = field(default_factory=lambda: list(COMMON),
                                   metadata={"help": "corruptions to apply, comma-separated (default: the 15 common ones)"})
    severities: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5], metadata={"help": "severities 1..5 to apply"})
    workers: int = field(default=0, metadata={"help": "worker processes generating corrupted sets (0 = one per CPU core)"})
    prepared: str = field(default="auto", metadata={
        "help": "CIFAR-10-C style folder to read instead of generating; auto = <data root>/CIFAR-10-C for CIFAR-10 "
                "protocols if present; none = always generate"})
    cache_dir: str = field(default="", metadata={"help": "where generated sets are cached (default <data root>/corruptions)"})
    batch_size: int = field(default=1024, metadata={"help": "inference batch size"})
    plots: bool = field(default=True, metadata={"help": "write the accuracy-drop bar chart (corruption-drop.png)"})

    def validate(self) -> None:
        unknown = [c for c in self.corruptions if c not in COMMON]
        if unknown or not self.corruptions:
            raise OsrbenchError(f"--set corruption.corruptions: {unknown[0] if unknown else 'empty'} is not one of the "
                                f"common corruptions: {', '.join(COMMON)}")
        if not self.severities or any(s not in (1, 2, 3, 4, 5) for s in self.severities):
            raise OsrbenchError(f"--set corruption.severities={self.severities}: choose among 1,2,3,4,5")
        if len(set(self.corruptions)) < len(self.corruptions) or len(set(self.severities)) < len(self.severities):
            raise OsrbenchError("--set corruption: a corruption or severity is listed twice")
        if self.workers < 0:
            raise OsrbenchError(f"--set corruption.workers={self.workers}: must be 0 (all cores) or more")
        if self.batch_size < 1:
            raise OsrbenchError(f"--set corruption.batch_size={self.batch_size}: must be at least 1")


@dataclass
class LinearProbeConfig:
    steps: int = field(default=200, metadata={"help": "L-BFGS iterations (full batch)"})
    weight_decay: float = field(default=1e-4, metadata={"help": "L2 penalty on the weights, weight_decay/2 * ||W||^2"})
    batch_size: int = field(default=1024, metadata={"help": "batch size for computing embeddings"})

    def validate(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.weight_decay < 0:
            raise OsrbenchError("--set linear-probe: steps and batch_size must be positive, weight_decay non-negative")
