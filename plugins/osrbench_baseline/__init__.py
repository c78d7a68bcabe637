"""The baseline: ``ce``, a closed-set classifier trained with cross-entropy.

Its model offers logits, penultimate features, its linear head and input gradients, so every
logit- or feature-based postprocessor applies. One training is scored by default with

* ``msp``: maximum softmax probability (Hendrycks & Gimpel 2017);
* ``mls``: maximum logit (Vaze et al., "Open-set recognition: a good closed-set classifier is all
  you need?", ICLR 2022).

``--method msp`` / ``--method mls`` are aliases of ``ce`` with that postprocessor alone.

The recipe is that of fast CIFAR-10 training, one per input size (``recipe.py``): a ResNet-9 (a
small CNN for 8x8 digits; a stride-2 stem at 64 px), SGD with Nesterov momentum and a one-cycle
learning rate, pad-and-crop, flips where they keep the class, cutout, an exponential moving average
of the weights, and test-time mirror and translation views, all batched on the device; bf16
autocast and channels-last on CUDA.
An augmentation plugin (``--augment mixup`` ...) replaces the hard labels with its mixed targets.
"""

from __future__ import annotations

import math
import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import osrbench
from osrbench import (
    AugmentContext,
    MethodSpec,
    OpenSetModel,
    OsrbenchError,
    Prediction,
    RunContext,
    Split,
)
from osrbench.api import FEATURES, INPUT_GRADIENTS, LINEAR_HEAD, LOGITS
from osrbench.batches import Minibatches, to_float
from osrbench.config import option
from osrbench.gpu_augment import random_affine_crop, standard_augment
from osrbench.training import train_epochs
from osrbench_baseline.networks import BACKBONES, Classifier
from osrbench_baseline.recipe import Recipe, resolve

AUTO = "auto = the recipe for the image size (osrbench_baseline/recipe.py)"


@dataclass
class BaselineConfig:
    backbone: str = option("auto", f"small-cnn or resnet9; {AUTO}")
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
    flip_tta: bool = option(True, "average the logits of each test image and its mirror image (where flips keep the class)")
    compile: bool = option(True, "torch.compile the network on CUDA")

    def validate(self) -> None:
        if self.backbone not in ("auto", *BACKBONES):
            raise OsrbenchError(f"--set backbone={self.backbone}: choose auto, {', '.join(BACKBONES)}")
        if self.crop not in ("auto", "pad", "resized"):
            raise OsrbenchError(f"--set crop={self.crop}: choose auto, pad or resized")
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


class ClassifierModel(OpenSetModel):
    """The trained classifier; its features and logits average the test-time views (mirrors, small translations)."""

    has_embedding = True

    def __init__(self, net: Classifier, flip_tta: bool, tta_shift: int = 0):
        super().__init__()
        self.net, self.flip_tta, self.tta_shift = net, flip_tta, tta_shift

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features in float32, averaged over the test-time views (the head is linear, so
        logits = head(features) is the average of the views' logits)."""
        views = self.views(x)
        return sum(self.net.embed(v).float() for v in views) / len(views)

    def logits(self, x: Tensor) -> Tensor:
        """Logits in float32 even under bf16 autocast, so scores keep their resolution (few ties)."""
        features = self.features(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.net.head(features)

    def linear_head(self) -> tuple[Tensor, Tensor]:
        return self.net.head.weight.float(), self.net.head.bias.float()

    def views(self, x: Tensor) -> list[Tensor]:
        views = [x]
        if self.tta_shift:
            s = self.tta_shift
            padded = nn.functional.pad(x, (s, s, s, s), mode="reflect")
            h, w = x.shape[2:]
            views += [padded[:, :, :h, :w], padded[:, :, 2 * s:, 2 * s:]]
        if self.flip_tta:
            views += [v.flip(3) for v in views]
        return views

    def forward(self, x: Tensor) -> Tensor:
        return self.logits(x)

    def predict(self, images: Tensor) -> Prediction:
        """Label = argmax of the logits; own score = maximum softmax probability."""
        value, label = self.logits(images).softmax(dim=1).max(dim=1)
        return Prediction(label, value)

    def embed(self, images: Tensor) -> Tensor:
        return self.net.embed(images)


def build_network(split: Split, recipe: Recipe) -> Classifier:
    body, width = BACKBONES[recipe.backbone](split.image_shape[0], recipe.width, recipe.stem_stride)
    return Classifier(body, width, split.num_classes, split.mean, split.std)


def train_augment(split: Split, recipe: Recipe):
    """The batch augmentation of the recipe: a crop, flips where they keep the class, cutout."""
    if recipe.crop == "resized":
        def crop(x: Tensor) -> Tensor:
            return random_affine_crop(x, scale=(recipe.crop_scale, 1.0), hflip=split.hflip)
        flip = False  # the resized crop mirrors already
    else:
        def crop(x: Tensor) -> Tensor:
            return x
        flip = split.hflip
    pad = recipe.crop_pad if recipe.crop == "pad" else 0
    return lambda x: standard_augment(crop(x), crop_pad=pad, hflip=flip, cutout_size=recipe.cutout)


MAX_EPOCHS = 100_000


def checked_recipe(config: BaselineConfig, split: Split) -> Recipe:
    """The recipe for this split's image size; an error before training where it cannot work on it."""
    recipe = resolve(config, split.image_shape[1])
    if recipe.tta_shift >= min(split.image_shape[1:]):
        raise OsrbenchError(f"--set tta_shift={recipe.tta_shift}: the shift must be smaller than the "
                            f"{split.image_shape[1]}x{split.image_shape[2]} images of protocol {split.protocol!r}")
    return recipe


def fit(split: Split, config: BaselineConfig, ctx: RunContext) -> ClassifierModel:
    recipe = checked_recipe(config, split)
    net = build_network(split, recipe).to(ctx.device, memory_format=ctx.memory_format)
    train_net = torch.compile(net) if (config.compile and ctx.cuda) else net
    data = Minibatches(split.train_images, split.train_labels, config.batch_size)
    steps = recipe.epochs * len(data)
    decay, no_decay = [], []
    for p in net.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=config.lr, momentum=config.momentum, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max(config.lr, 1e-12), total_steps=steps,
                                                   pct_start=config.warmup, anneal_strategy="linear")
    # The weight average: decay 1 - 1/(ema * steps), buffers (BN statistics) averaged too.
    average = (AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(1 - 1 / max(recipe.ema * steps, 1.0)),
                             use_buffers=True) if recipe.ema > 0 else None)
    augment = train_augment(split, recipe)
    mixing = ctx.augmentation
    mix_ctx = AugmentContext(num_classes=split.num_classes)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, reduction="none")

    def step(batch: tuple[Tensor, Tensor]) -> Tensor:
        images, labels = batch
        x = augment(to_float(images, ctx))
        labels = labels.to(ctx.device)
        if mixing is None:
            return loss_fn(train_net(x), labels).mean()
        mixed = mixing(x, labels, mix_ctx)
        per_sample = loss_fn(train_net(mixed.images), mixed.soft_targets(split.num_classes))
        return (per_sample * mixed.weight).mean()

    modules = {"net": net} | ({"average": average} if average is not None else {})
    # Predicting the uniform distribution costs ln K whatever the targets; a model that learned ends well below
    # it, unless strong label smoothing keeps even a perfect model's loss near ln K (then only accuracy is checked).
    chance_loss = math.log(split.num_classes) if config.label_smoothing <= 0.5 else None
    stats = train_epochs(ctx, modules=modules, optimizer=optimizer, scheduler=schedule, epochs=recipe.epochs,
                         batches=lambda epoch: data, step=step, chance_loss=chance_loss,
                         after_step=(lambda: average.update_parameters(net)) if average is not None else None)
    ctx.extra_record.update({"recipe": dataclasses.asdict(recipe), "epochs": recipe.epochs, "final_loss": stats["final_loss"]})
    trained = average.module if average is not None else net
    return ClassifierModel(trained, config.flip_tta and split.hflip, recipe.tta_shift)


def load(state: dict[str, Tensor], split: Split, config: BaselineConfig, ctx: RunContext) -> ClassifierModel:
    """The trained model of a finished run, rebuilt from its saved state dict."""
    recipe = checked_recipe(config, split)
    model = ClassifierModel(build_network(split, recipe), config.flip_tta and split.hflip, recipe.tta_shift)
    model.load_state_dict(state)
    return model.to(ctx.device, memory_format=ctx.memory_format)


@osrbench.hookimpl
def osrbench_methods():
    return [MethodSpec(
        name="ce", description="cross-entropy classifier (baseline); scored by msp and mls unless "
                               "--postprocessor says otherwise; aliases: msp, mls (ce with that postprocessor)",
        config=BaselineConfig, fit=fit, load=load, provides=frozenset({LOGITS, FEATURES, LINEAR_HEAD, INPUT_GRADIENTS}),
        postprocessors=("msp", "mls"), aliases={"msp": ("msp",), "mls": ("mls",)},
    )]
