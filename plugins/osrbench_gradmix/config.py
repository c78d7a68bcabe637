"""GradMix hyperparameters (``shared/methods/gradmix.md``), settable with ``--set key=value``.

θ, λ, τ, the optimiser, its schedule and the epochs are not in the paper text; the defaults are the
values of the authors' training scripts for CIFAR10 (spec §4, §7). ``FAST_OVERRIDES`` are the
spec's fast-version sizes (§16) for CPU smoke runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from osrbench.config import option
from osrbench.specs import OsrbenchError

if TYPE_CHECKING:
    from osrbench.api import Split

VIEW_KINDS = ("simclr", "rotate")
BORDERS = ("shift", "clip")
LAYER_NAMES = tuple(f"layer{s}.{b}" for s in range(1, 5) for b in range(2))
CENTRES = ("cam", "random")

MIXED_LOSSES = ("anchored", "nt_xent_replaced")
SUPCON_DENOMINATORS = ("all", "other_classes")

FAST_OVERRIDES = {"width": "8", "head_dim": "32", "batch_size": "16", "epochs": "2", "lr_floor": "1", "topk": "3"}


@dataclass
class GradMixConfig:
    epochs: int = option(600, "training epochs (authors' CIFAR10/TinyImageNet scripts: 600)")
    batch_size: int = option(256, "images per minibatch (two views each)")
    lr: float = option(1e-3, "Adam learning rate (no weight decay)")
    lr_floor: float = option(0.512, "cosine decay per epoch down to lr × this (authors' code: 0.8³)")
    theta: float = option(1.0, "weight θ of the SupCon loss")
    lam: float = option(-1.0, "weight λ of the SimCLR part; -1 = 1.2 for CIFAR protocols, 1.0 otherwise "
                            "(authors' scripts)")
    temperature: float = option(0.05, "temperature τ of both contrastive losses")
    base_temperature: float = option(0.07, "losses are scaled by τ / base_temperature (authors' code)")
    supcon_denominator: str = option("all", "SupCon denominator: all (authors' code, standard SupCon) or "
                                          "other_classes (the paper's eq. 2 as written)")
    width: int = option(64, "channels of the first ResNet18 stage (64 = ResNet18; spec fast version: 8)")
    head_dim: int = option(128, "embedding dimension of the projection head")
    views: str = option("auto", "view augmentation: simclr, rotate (±rotation degrees only), auto = rotate for "
                              "1-channel digits, simclr otherwise (the paper's choice)")
    crop_scale_min: float = option(0.2, "smallest area share of the random resized crop (simclr views)")
    rotation: float = option(5.0, "rotation range in degrees (rotate views)")
    mixed_loss: str = option("anchored", "SimCLR term of the mixed views: anchored (authors' code: original anchors "
                                       "and denominators, mixed positives) or nt_xent_replaced (plain SimCLR on "
                                       "the mixed view pairs)")
    topk: int = option(10, "k of the per-class top-k cosine-similarity sum used for the label and score "
                           "(the score: postprocessors topk-cosine, topk-cosine-normalised)")
    compile: bool = option(False, "torch.compile each residual block, the views and the losses on CUDA (the "
                                  "activation-map hooks stay outside the compiled code); off until its gain is "
                                  "measured on a GPU")

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.lr <= 0 or self.topk < 1:
            raise OsrbenchError("--set: epochs, lr and topk must be positive and batch_size at least 2")
        if not 0 < self.lr_floor <= 1:
            raise OsrbenchError(f"--set lr_floor={self.lr_floor}: must lie in (0, 1]")
        if self.temperature <= 0 or self.base_temperature <= 0:
            raise OsrbenchError("--set temperature / base_temperature must be positive")
        if self.theta < 0 or (self.lam < 0 and self.lam != -1):
            raise OsrbenchError("--set theta and lam must be >= 0 (lam = -1: the protocol's default)")
        if self.width < 1 or self.head_dim < 1:
            raise OsrbenchError("--set width and head_dim must be positive")
        if self.views not in ("auto", *VIEW_KINDS):
            raise OsrbenchError(f"--set views={self.views}: choose auto, {', '.join(VIEW_KINDS)}")
        if self.rotation < 0:
            raise OsrbenchError(f"--set rotation={self.rotation}: must not be negative")
        if not 0 < self.crop_scale_min <= 1:
            raise OsrbenchError(f"--set crop_scale_min={self.crop_scale_min}: must lie in (0, 1]")
        if self.mixed_loss not in MIXED_LOSSES:
            raise OsrbenchError(f"--set mixed_loss={self.mixed_loss}: choose {' or '.join(MIXED_LOSSES)}")
        if self.supcon_denominator not in SUPCON_DENOMINATORS:
            raise OsrbenchError(f"--set supcon_denominator={self.supcon_denominator}: choose "
                                f"{' or '.join(SUPCON_DENOMINATORS)}")

    def simclr_weight(self, split: Split) -> float:
        if self.lam >= 0:
            return self.lam
        return 1.2 if split.protocol.startswith("cifar") else 1.0

    def view_kind(self, split: Split) -> str:
        if self.views != "auto":
            return self.views
        return "rotate" if split.image_shape[0] == 1 else "simclr"


@dataclass
class GradMixAugConfig:
    layers: tuple[str, ...] = option(("layer4.1",), "blocks whose maps are summed (layer4.1 = the paper's conv5_2; "
                                                  "comma-separated, e.g. layer3.1,layer4.1)")
    gamma_min: float = option(0.1, "smallest patch size ratio γ")
    gamma_max: float = option(0.5, "largest patch size ratio γ")
    per_sample: bool = option(False, "draw γ per image instead of once per minibatch (authors' code: per minibatch)")
    border: str = option("shift", "shift: move boxes inside the image (area stays γ²); clip: cut them at the border")
    centre: str = option("cam", "where the patch goes: cam (the activation-map peak) or random (a uniformly drawn "
                              "pixel: the control for whether the maps matter)")

    def validate(self) -> None:
        bad = [name for name in self.layers if name not in LAYER_NAMES]
        if bad or not self.layers:
            raise OsrbenchError(f"--set layers={','.join(self.layers)}: choose blocks among {', '.join(LAYER_NAMES)}")
        if not 0 < self.gamma_min <= self.gamma_max <= 1:
            raise OsrbenchError(f"--set gamma_min={self.gamma_min} gamma_max={self.gamma_max}: "
                                "need 0 < gamma_min <= gamma_max <= 1")
        if self.border not in BORDERS:
            raise OsrbenchError(f"--set border={self.border}: choose {' or '.join(BORDERS)}")
        if self.centre not in CENTRES:
            raise OsrbenchError(f"--set centre={self.centre}: choose {' or '.join(CENTRES)}")


@dataclass
class CodeVariantConfig(GradMixAugConfig):
    """Here γ_min/γ_max bound the patch *area* share, and boxes are clipped, as in the authors' code."""

    gamma_min: float = option(0.1, "smallest patch area share (authors' code: area ~ U(0.1, 0.5))")
    gamma_max: float = option(0.5, "largest patch area share")
    border: str = option("clip", "clip: cut boxes at the border (authors' code); shift: move them inside")
