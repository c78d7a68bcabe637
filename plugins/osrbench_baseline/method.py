"""The baseline's model, training and reloading (imported on the first ``fit`` or ``load``)."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Callable

import torch
from torch import Tensor, nn

from osrbench import AugmentContext, OpenSetModel, OsrbenchError, Prediction, RunContext, Split
from osrbench.batches import Minibatches, to_float
from osrbench.gpu_augment import random_affine_crop, standard_augment
from osrbench.training import train_epochs
from osrbench_baseline import BaselineConfig
from osrbench_baseline.networks import BACKBONES, Classifier, PatchWhitening
from osrbench_baseline.recipe import Recipe, Schedule, resolve, schedule


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


WHITENING_IMAGES = 2000  # training images whose 2x2 patches set the whitening layer (millions of patches at 32 px)


def fit_whitening(net: Classifier, images: Tensor, ctx: RunContext) -> None:
    """Set the network's patch-whitening layer (if any) from an evenly spaced sample of the training images
    (the sets are often sorted by class)."""
    sample = images[::max(1, len(images) // WHITENING_IMAGES)]
    for layer in net.modules():
        if isinstance(layer, PatchWhitening):
            layer.fit(net.normalize(to_float(sample, ctx)))


def epoch_batches(split: Split, recipe: Recipe, batch_size: int, seed: int) -> Callable[[int], Minibatches]:
    """The minibatches of each epoch. With ``flip=alternating`` (where flips keep the class) a fixed random half
    of the training images is mirrored in even epochs and the other half in odd ones, so every image is seen
    both ways every two epochs (Jordan 2024); the half is drawn from the run's seed, so a resumed run draws
    the same."""
    images, labels = split.train_images, split.train_labels
    if recipe.flip != "alternating" or not split.hflip:
        data = Minibatches(images, labels, batch_size)
        return lambda epoch: data
    half = (torch.rand(len(images), generator=torch.Generator().manual_seed(seed)) < 0.5).to(images.device)

    def batches(epoch: int) -> Minibatches:
        mirrored = half ^ bool(epoch % 2)
        return Minibatches(torch.where(mirrored[:, None, None, None], images.flip(3), images), labels, batch_size)
    return batches


def train_augment(split: Split, recipe: Recipe):
    """The batch augmentation of the recipe: a crop, random flips where they keep the class (unless the
    epochs alternate them), cutout."""
    if recipe.crop == "resized":
        def crop(x: Tensor) -> Tensor:
            return random_affine_crop(x, scale=(recipe.crop_scale, 1.0), hflip=split.hflip)
        flip = False  # the resized crop mirrors already
    else:
        def crop(x: Tensor) -> Tensor:
            return x
        flip = split.hflip and recipe.flip == "random"
    pad = recipe.crop_pad if recipe.crop == "pad" else 0
    return lambda x: standard_augment(crop(x), crop_pad=pad, hflip=flip, cutout_size=recipe.cutout)


def checked_recipe(config: BaselineConfig, split: Split) -> Recipe:
    """The recipe for this split's image size and training set; an error before training where it cannot work on
    it."""
    recipe = resolve(config, split.image_shape[1], len(split.train_images))
    side = min(split.image_shape[1:])
    if recipe.backbone == "whitened-cnn" and (side - 1) // recipe.stem_stride < 8:  # three 2x2 pools after it
        raise OsrbenchError(f"--set backbone=whitened-cnn: needs images of at least {8 * recipe.stem_stride + 1} px "
                            f"(stem_stride {recipe.stem_stride}); protocol {split.protocol!r} has "
                            f"{split.image_shape[1]}x{split.image_shape[2]}: choose resnet9 or small-cnn")
    if recipe.tta_shift >= side:
        raise OsrbenchError(f"--set tta_shift={recipe.tta_shift}: the shift must be smaller than the "
                            f"{split.image_shape[1]}x{split.image_shape[2]} images of protocol {split.protocol!r}")
    return recipe


class WeightAverage(nn.Module):
    """Exponential moving average of a network's parameters and buffers (BN statistics), updated in place
    with foreach ops on the network's device.

    torch's ``AveragedModel`` copies its step counter from the host to the GPU at every update, which stalls
    the host until the GPU's queue is empty; this average keeps no counter (it starts from the network as
    it is when built, whose weight has decayed to ``decay**steps`` by the end of training).
    """

    def __init__(self, net: nn.Module, decay: float):
        super().__init__()
        self.module, self.decay = copy.deepcopy(net), decay
        self.module.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module, decay: float | None = None) -> None:
        """average <- decay * average + (1 - decay) * net (decay: the average's own unless given)."""
        decay = self.decay if decay is None else decay
        pairs = list(zip([*self.module.parameters(), *self.module.buffers()], [*net.parameters(), *net.buffers()],
                         strict=True))
        floats = [(a, b) for a, b in pairs if a.is_floating_point()]
        torch._foreach_lerp_([a for a, _ in floats], [b for _, b in floats], 1.0 - decay)
        for average, current in pairs:
            if not average.is_floating_point():  # counters such as num_batches_tracked
                average.copy_(current)

    @torch.no_grad()
    def copy_to(self, net: nn.Module) -> None:
        torch._foreach_copy_([*net.parameters(), *net.buffers()], [*self.module.parameters(), *self.module.buffers()])


class Lookahead:
    """The lookahead optimiser's slow weights (Zhang et al. 2019) as the fast CIFAR-10 recipes use them (Jordan
    2024): every ``every`` steps the slow weights move toward the network and the network restarts from them.
    The slow weights keep ``base ** every * (step / steps) ** 3`` of themselves at each update (nothing early
    in training, most at its end), and after the last step the network takes them whole."""

    BASE = 0.95  # per step

    def __init__(self, net: nn.Module, every: int, steps: int):
        self.slow, self.every, self.steps = WeightAverage(net, 0.0), every, steps

    def after_step(self, net: nn.Module, step: int) -> None:
        if step % self.every and step != self.steps:
            return
        decay = 1.0 if step == self.steps else self.BASE ** self.every * (step / self.steps) ** 3
        self.slow.update(net, decay)
        self.slow.copy_to(net)


@dataclasses.dataclass
class Training:
    """Everything one training of the baseline steps: ``step(batch)`` gives the loss, then the optimiser and the
    scheduler step and ``after_step`` updates the weight average (if any)."""

    recipe: Recipe
    plan: Schedule
    net: Classifier
    average: WeightAverage | None
    lookahead: Lookahead | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    step: Callable[[tuple[Tensor, Tensor]], Tensor]

    @property
    def after_step(self) -> Callable[[], None] | None:
        """The lookahead's update (the scheduler has counted the step), then the weight average's."""
        if self.average is None and self.lookahead is None:
            return None

        def after_step() -> None:
            if self.lookahead is not None:
                self.lookahead.after_step(self.net, self.scheduler.last_epoch)
            if self.average is not None:
                self.average.update(self.net)
        return after_step

    @property
    def modules(self) -> dict[str, nn.Module]:
        """What a checkpoint keeps."""
        return ({"net": self.net} | ({"average": self.average} if self.average is not None else {})
                | ({"lookahead": self.lookahead.slow} if self.lookahead is not None else {}))


def build_training(split: Split, config: BaselineConfig, ctx: RunContext) -> Training:
    recipe = checked_recipe(config, split)
    net = build_network(split, recipe).to(ctx.device, memory_format=ctx.memory_format)
    fit_whitening(net, split.train_images, ctx)
    train_net = torch.compile(net) if (config.compile and ctx.cuda) else net
    plan = schedule(len(split.train_images), recipe.epochs, config.batch_size, config.lr)
    steps = plan.steps
    decay, no_decay = [], []
    for p in (p for p in net.parameters() if p.requires_grad):
        (decay if p.ndim > 1 else no_decay).append(p)
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=plan.lr, momentum=config.momentum, nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max(plan.lr, 1e-12), total_steps=steps,
                                                   pct_start=config.warmup, anneal_strategy="linear")
    # The weight average's time constant is the recipe's share of all steps: decay 1 - 1/(ema * steps).
    average = WeightAverage(net, 1 - 1 / max(recipe.ema * steps, 1.0)) if recipe.ema > 0 else None
    lookahead = Lookahead(net, recipe.lookahead, steps) if recipe.lookahead > 0 else None
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

    return Training(recipe, plan, net, average, lookahead, optimizer, scheduler, step)


def fit(split: Split, config: BaselineConfig, ctx: RunContext) -> ClassifierModel:
    t = build_training(split, config, ctx)
    batches = epoch_batches(split, t.recipe, t.plan.batch_size, ctx.seed)
    # Predicting the uniform distribution costs ln K whatever the targets; a model that learned ends well below
    # it, unless strong label smoothing keeps even a perfect model's loss near ln K (then only accuracy is checked).
    chance_loss = math.log(split.num_classes) if config.label_smoothing <= 0.5 else None
    stats = train_epochs(ctx, modules=t.modules, optimizer=t.optimizer, scheduler=t.scheduler, epochs=t.recipe.epochs,
                         batches=batches, step=t.step, chance_loss=chance_loss, after_step=t.after_step)
    ctx.extra_record.update({"recipe": dataclasses.asdict(t.recipe), "schedule": dataclasses.asdict(t.plan),
                             "epochs": t.recipe.epochs, "final_loss": stats["final_loss"]})
    trained = t.average.module if t.average is not None else t.net
    return ClassifierModel(trained, config.flip_tta and split.hflip, t.recipe.tta_shift)


def load(state: dict[str, Tensor], split: Split, config: BaselineConfig, ctx: RunContext) -> ClassifierModel:
    """The trained model of a finished run, rebuilt from its saved state dict."""
    recipe = checked_recipe(config, split)
    model = ClassifierModel(build_network(split, recipe), config.flip_tta and split.hflip, recipe.tta_shift)
    model.load_state_dict(state)
    return model.to(ctx.device, memory_format=ctx.memory_format)

