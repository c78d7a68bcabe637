"""The baseline: ``ce``, a closed-set classifier trained with cross-entropy.

Its model offers logits, penultimate features, its linear head and input gradients, so every
logit- or feature-based postprocessor applies. One training is scored by default with

* ``msp``: maximum softmax probability (Hendrycks & Gimpel 2017);
* ``mls``: maximum logit (Vaze et al., "Open-set recognition: a good closed-set classifier is all
  you need?", ICLR 2022).

``--method msp`` / ``--method mls`` are aliases of ``ce`` with that postprocessor alone.

The recipe is that of fast CIFAR-10 training, one per input size (``recipe.py``): a ResNet-9 (a
small CNN for 8x8 digits; a stride-2 stem at 64 px; at 32 px the whitened CNN with flips alternating
by epoch and lookahead), SGD with Nesterov momentum and a one-cycle learning rate, pad-and-crop,
flips where they keep the class, cutout, an exponential moving average of the weights (28 and 64
px), and test-time mirror and translation views, all batched on the device; bf16 autocast and
channels-last on CUDA. The method's version is that of the image size's recipe
(``recipe.RECIPE_VERSIONS``), so a changed default recipe retrains the records of its size alone.
An augmentation plugin (``--augment mixup`` ...) replaces the hard labels with its mixed targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import osrbench
from osrbench import MethodSpec, OsrbenchError, deferred
from osrbench.config import option
from osrbench.specs import FEATURES, INPUT_GRADIENTS, LINEAR_HEAD, LOGITS
from osrbench_baseline.recipe import BACKBONE_NAMES, version_for

AUTO = "auto = the recipe for the image size (osrbench_baseline/recipe.py)"
MAX_EPOCHS = 100_000


@dataclass
class BaselineConfig:
    backbone: str = option("auto", f"small-cnn, resnet9 or whitened-cnn; {AUTO}")
    width: float = option(-1.0, f"channel multiplier of the backbone; -1 {AUTO}")
    stem_stride: int = option(-1, f"2 halves the resolution after the first convolution; -1 {AUTO}")
    epochs: int = option(-1, f"training epochs; -1 {AUTO}")
    batch_size: int = option(512, "minibatch size")
    lr: float = option(0.2, "peak learning rate of the one-cycle schedule (SGD, Nesterov)")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(5e-4, "L2 weight decay")
    label_smoothing: float = option(0.0, "cross-entropy label smoothing")
    warmup: float = option(0.25, "share of training spent raising the learning rate")
    crop: str = option("auto", f"pad (pad-and-crop) or resized (random resized crop); {AUTO}")
    crop_pad: int = option(-1, f"pad-and-crop range in pixels; -1 {AUTO}")
    crop_scale: float = option(-1.0, f"smallest area share of a random resized crop; -1 {AUTO}")
    cutout: int = option(-1, f"cutout square side in pixels, 0 = none; -1 {AUTO}")
    ema: float = option(-1.0, "evaluate an exponential moving average of the weights whose time constant is this "
                              f"share of all training steps, 0 = the last weights; -1 {AUTO}")
    tta_shift: int = option(-1, "average the logits over test views translated by +-this many pixels (and their "
                                f"mirrors where flips keep the class), 0 = no translated views; -1 {AUTO}")
    flip: str = option("auto", "random (each training image mirrored with probability 1/2) or alternating (a "
                               "random half mirrored in even epochs, the other half in odd ones), where flips keep "
                               f"the class; {AUTO}")
    lookahead: int = option(-1, "every this many steps, move slow weights toward the network and restart the network "
                                "from them (lookahead, with the slow step growing over training), 0 = none; "
                                f"-1 {AUTO}")
    flip_tta: bool = option(True, "average the logits of each test image and its mirror image (where flips keep the class)")
    compile: bool = option(True, "torch.compile the network on CUDA")

    def validate(self) -> None:
        if self.backbone not in ("auto", *BACKBONE_NAMES):
            raise OsrbenchError(f"--set backbone={self.backbone}: choose auto, {', '.join(BACKBONE_NAMES)}")
        if self.crop not in ("auto", "pad", "resized"):
            raise OsrbenchError(f"--set crop={self.crop}: choose auto, pad or resized")
        if self.flip not in ("auto", "random", "alternating"):
            raise OsrbenchError(f"--set flip={self.flip}: choose auto, random or alternating")
        if self.lookahead < -1:
            raise OsrbenchError(f"--set lookahead={self.lookahead}: steps >= 0 (0 = none), or -1 for the recipe's")
        if self.epochs > MAX_EPOCHS:
            raise OsrbenchError(f"--set epochs={self.epochs}: at most {MAX_EPOCHS}")
        if self.epochs == 0 or self.epochs < -1 or self.batch_size < 1:
            raise OsrbenchError(f"--set epochs={self.epochs} batch_size={self.batch_size}: both must be at least 1 "
                                "(epochs -1 = the recipe's)")
        if self.lr < 0:  # lr = 0 is allowed: the training-health guard then reports the untrained model
            raise OsrbenchError(f"--set lr={self.lr}: must not be negative")
        if not 0 <= self.momentum < 1:
            raise OsrbenchError(f"--set momentum={self.momentum}: must lie in [0, 1)")
        if self.weight_decay < 0:
            raise OsrbenchError(f"--set weight_decay={self.weight_decay}: must not be negative")
        if not 0 <= self.label_smoothing < 1:
            raise OsrbenchError(f"--set label_smoothing={self.label_smoothing}: must lie in [0, 1)")
        if not 0 < self.warmup < 1:
            raise OsrbenchError(f"--set warmup={self.warmup}: must lie strictly between 0 and 1")
        if self.crop_pad < -1 or self.cutout < -1 or self.tta_shift < -1 or self.stem_stride == 0 or self.stem_stride < -1:
            raise OsrbenchError(f"--set crop_pad={self.crop_pad} cutout={self.cutout} tta_shift={self.tta_shift} "
                                f"stem_stride={self.stem_stride}: pixels >= 0 (stride >= 1), or -1 for the recipe's")
        if not (self.width == -1 or self.width > 0):
            raise OsrbenchError(f"--set width={self.width}: must be positive (or -1 = the recipe's)")
        if not (self.crop_scale == -1 or 0 < self.crop_scale <= 1):
            raise OsrbenchError(f"--set crop_scale={self.crop_scale}: must lie in (0, 1] (or -1 = the recipe's)")
        if not (self.ema == -1 or 0 <= self.ema < 1):
            raise OsrbenchError(f"--set ema={self.ema}: must lie in [0, 1) (or -1 = the recipe's)")


@osrbench.hookimpl
def osrbench_methods():
    return [MethodSpec(
        name="ce", description="cross-entropy classifier (baseline); scored by msp and mls unless "
                               "--postprocessor says otherwise; aliases: msp, mls (ce with that postprocessor)",
        config=BaselineConfig, fit=deferred("osrbench_baseline.method:fit"),
        load=deferred("osrbench_baseline.method:load"),
        provides=frozenset({LOGITS, FEATURES, LINEAR_HEAD, INPUT_GRADIENTS}),
        postprocessors=("msp", "mls"), aliases={"msp": ("msp",), "mls": ("mls",)},
        version=version_for,
    )]
