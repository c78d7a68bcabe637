"""The baseline: a closed-set classifier trained with cross-entropy.

Two methods share one training recipe and differ only in the open-set score:

* ``msp``: maximum softmax probability (Hendrycks & Gimpel 2017);
* ``mls``: maximum logit (Vaze et al., "Open-set recognition: a good closed-set classifier is all
  you need?", ICLR 2022).

The recipe is that of fast CIFAR-10 training: a ResNet-9 (small CNN for 8x8 and 28x28 images),
SGD with Nesterov momentum and a one-cycle learning rate, pad-and-crop, flips where they keep the
class, and cutout, all done on the device in batches; bf16 autocast and channels-last on CUDA.
An augmentation plugin (``--augment mixup`` ...) replaces the hard labels with its mixed targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

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
from osrbench.batches import Minibatches, to_float
from osrbench.config import option
from osrbench.gpu_augment import standard_augment
from osrbench.training import train_epochs
from osrbench_baseline.networks import BACKBONES, Classifier, auto_backbone

SCORES = ("msp", "mls")



@dataclass
class BaselineConfig:
    backbone: str = option("auto", "auto (small-cnn up to 28 px, resnet9 above), small-cnn or resnet9")
    epochs: int = option(80, "training epochs")
    batch_size: int = option(512, "minibatch size")
    lr: float = option(0.2, "peak learning rate of the one-cycle schedule (SGD, Nesterov)")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(5e-4, "L2 weight decay")
    label_smoothing: float = option(0.0, "cross-entropy label smoothing")
    warmup: float = option(0.25, "share of training spent raising the learning rate")
    crop_pad: int = option(-1, "pad-and-crop range in pixels; -1 = image size / 8")
    cutout: int = option(-1, "cutout square side in pixels; -1 = half the image side for images of 32 px and more, else 0")
    compile: bool = option(True, "torch.compile the network on CUDA")
    flip_tta: bool = option(True, "average the logits of each test image and its mirror image (where flips keep the class)")

    def validate(self) -> None:
        if self.backbone not in ("auto", *BACKBONES):
            raise OsrbenchError(f"--set backbone={self.backbone}: choose auto, {', '.join(BACKBONES)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise OsrbenchError(f"--set epochs={self.epochs} batch_size={self.batch_size}: both must be at least 1")
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
        if self.crop_pad < -1 or self.cutout < -1:
            raise OsrbenchError(f"--set crop_pad={self.crop_pad} cutout={self.cutout}: pixels >= 0, or -1 for the "
                                "size-dependent default")


class ClassifierModel(OpenSetModel):
    has_embedding = True

    def __init__(self, net: Classifier, score: str, flip_tta: bool):
        super().__init__()
        self.net, self.score, self.flip_tta = net, score, flip_tta

    def _logits(self, x: Tensor) -> Tensor:
        """Logits in float32 even under bf16 autocast, so scores keep their resolution (few ties)."""
        features = self.net.embed(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.net.head(features.float())

    def forward(self, x: Tensor) -> Tensor:
        logits = self._logits(x)
        return (logits + self._logits(x.flip(3))) / 2 if self.flip_tta else logits

    def predict(self, images: Tensor) -> Prediction:
        logits = self(images)
        if self.score == "msp":
            value, label = logits.softmax(dim=1).max(dim=1)
        else:
            value, label = logits.max(dim=1)
        return Prediction(label, value)

    def embed(self, images: Tensor) -> Tensor:
        return self.net.embed(images)


def backbone_name(split: Split, config: BaselineConfig) -> str:
    return auto_backbone(split.image_shape[1]) if config.backbone == "auto" else config.backbone


def build_network(split: Split, config: BaselineConfig) -> Classifier:
    body, width = BACKBONES[backbone_name(split, config)](split.image_shape[0])
    return Classifier(body, width, split.num_classes, split.mean, split.std)


def fit(split: Split, config: BaselineConfig, ctx: RunContext, score: str) -> ClassifierModel:
    size = split.image_shape[1]
    crop_pad = size // 8 if config.crop_pad < 0 else config.crop_pad
    cutout = (size // 2 if size >= 32 else 0) if config.cutout < 0 else config.cutout
    net = build_network(split, config).to(ctx.device, memory_format=ctx.memory_format)
    train_net = torch.compile(net) if (config.compile and ctx.cuda) else net
    data = Minibatches(split.train_images, split.train_labels, config.batch_size)
    steps = config.epochs * len(data)
    decay, no_decay = [], []
    for p in net.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=config.lr, momentum=config.momentum, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=steps,
                                                   pct_start=config.warmup, anneal_strategy="linear")
    mixing = ctx.augmentation
    mix_ctx = AugmentContext(num_classes=split.num_classes)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, reduction="none")

    def step(batch: tuple[Tensor, Tensor]) -> Tensor:
        images, labels = batch
        x = standard_augment(to_float(images, ctx), crop_pad=crop_pad, hflip=split.hflip, cutout_size=cutout)
        labels = labels.to(ctx.device)
        if mixing is None:
            return loss_fn(train_net(x), labels).mean()
        mixed = mixing(x, labels, mix_ctx)
        per_sample = loss_fn(train_net(mixed.images), mixed.soft_targets(split.num_classes))
        return (per_sample * mixed.weight).mean()

    stats = train_epochs(ctx, modules={"net": net}, optimizer=optimizer, scheduler=schedule,
                         epochs=config.epochs, batches=lambda epoch: data, step=step)
    ctx.extra_record.update({"backbone": backbone_name(split, config), "crop_pad": crop_pad, "cutout": cutout,
                             "final_loss": stats["final_loss"]})
    return ClassifierModel(net, score, config.flip_tta and split.hflip)


def _method(score: str, description: str) -> MethodSpec:
    return MethodSpec(name=score, description=description, config=BaselineConfig,
                      fit=lambda split, config, ctx: fit(split, config, ctx, score))


@osrbench.hookimpl
def osrbench_methods():
    return [
        _method("msp", "cross-entropy classifier scored by maximum softmax probability (baseline)"),
        _method("mls", "cross-entropy classifier scored by maximum logit (Vaze et al. 2022)"),
    ]
