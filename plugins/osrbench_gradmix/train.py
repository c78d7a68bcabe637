"""``fit``: train the contrastive network with the shared loop, then embed the training set as exemplars;
``load``: rebuild a trained model from its kept weights (``osrbench score``)."""

from __future__ import annotations

import math

import torch

from osrbench import RunContext, Split
from osrbench.batches import Minibatches, map_batches, to_float
from osrbench.training import train_epochs
from osrbench_gradmix.config import GradMixConfig
from osrbench_gradmix.model import GradMixModel
from osrbench_gradmix.network import ContrastiveNet
from osrbench_gradmix.objective import Objective


def cosine_per_epoch(epochs: int, steps_per_epoch: int, floor: float):
    """LR factor for a per-batch scheduler that changes once per epoch: floor + (1 − floor)(1 + cos(πe/E))/2."""
    def factor(step: int) -> float:
        epoch = step // steps_per_epoch
        return floor + (1 - floor) * (1 + math.cos(math.pi * epoch / epochs)) / 2
    return factor


def build_net(split: Split, config: GradMixConfig) -> ContrastiveNet:
    return ContrastiveNet(split.image_shape[0], split.mean, split.std, config.width, config.head_dim)


def training_net(split: Split, config: GradMixConfig, ctx: RunContext) -> ContrastiveNet:
    """The network to train, on the run's device and memory format, its blocks compiled where the config says."""
    net = build_net(split, config).to(ctx.device, memory_format=ctx.memory_format)
    if config.compile and ctx.cuda:
        net.compile_blocks()
    return net


def training_optimizer(net: ContrastiveNet, config: GradMixConfig, ctx: RunContext) -> torch.optim.Adam:
    return torch.optim.Adam(net.parameters(), lr=config.lr, fused=ctx.cuda)  # fused: no per-tensor launches or syncs


def build_objective(net: ContrastiveNet, split: Split, config: GradMixConfig, ctx: RunContext) -> Objective:
    return Objective(net=net, num_classes=split.num_classes, theta=config.theta, lam=config.simclr_weight(split),
                     temperature=config.temperature, base_temperature=config.base_temperature,
                     view_kind=config.view_kind(split), hflip=split.hflip, crop_scale=(config.crop_scale_min, 1.0),
                     rotation=config.rotation, mixed_loss=config.mixed_loss,
                     supcon_denominator=config.supcon_denominator, augmentation=ctx.augmentation,
                     memory_format=ctx.memory_format, compiled=config.compile and ctx.cuda)


def fit(split: Split, config: GradMixConfig, ctx: RunContext) -> GradMixModel:
    net = training_net(split, config, ctx)
    objective = build_objective(net, split, config, ctx)
    data = Minibatches(split.train_images, split.train_labels, config.batch_size)
    optimizer = training_optimizer(net, config, ctx)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_per_epoch(config.epochs, len(data), config.lr_floor))

    def step(batch) -> torch.Tensor:
        images, labels = batch
        return objective(to_float(images, ctx), labels.to(ctx.device))

    stats = train_epochs(ctx, modules={"net": net}, optimizer=optimizer, scheduler=schedule, epochs=config.epochs,
                         batches=lambda epoch: data, step=step)
    net.eval()
    exemplars = map_batches(net, split.train_images, ctx)
    ctx.extra_record.update({
        "theta": objective.theta, "lam": objective.lam, "views": objective.view_kind,
        "mixed_term": ctx.augmentation.name if ctx.augmentation is not None else None,
        "cam_schedule": "per_iteration", "exemplars": len(exemplars), "final_loss": stats["final_loss"],
    })
    return GradMixModel(net, exemplars, split.train_labels.to(ctx.device), split.num_classes, config.topk,
                        config.temperature, config.base_temperature, split.hflip)


def load(state: dict[str, torch.Tensor], split: Split, config: GradMixConfig, ctx: RunContext) -> GradMixModel:
    """The trained model of a finished run; its exemplar bank comes from ``state`` (the zeros only shape it)."""
    placeholder = torch.zeros(len(split.train_labels), config.head_dim)
    model = GradMixModel(build_net(split, config), placeholder, split.train_labels.cpu(), split.num_classes,
                         config.topk, config.temperature, config.base_temperature, split.hflip)
    model.load_state_dict(state)
    return model.to(ctx.device, memory_format=ctx.memory_format)
