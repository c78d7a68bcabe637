"""Retraining a derived architecture from scratch on all known classes (the authors' ``train.py``).

SGD (lr 5e-4, momentum 0.9, weight decay 5e-4) on every parameter, the learning rate multiplied by
0.992 after every epoch, the KL coefficient warmed up linearly over all epochs, the four losses
with the retraining coefficients, no gradient clipping. The model of the last epoch is kept (the
code's choice of the epoch with the best *test-set* F1 would select on the test set).
"""

from __future__ import annotations

import torch

from osrbench import RunContext, Split
from osrbench.batches import Minibatches, to_float
from osrbench.gpu_augment import random_affine_crop
from osrbench.training import train_epochs
from osrbench_nasosr.config import NasOsrConfig
from osrbench_nasosr.derivation import Architecture
from osrbench_nasosr.derived_net import DerivedEncoder
from osrbench_nasosr.losses import LossWeights, linear_warmup, nasosr_loss
from osrbench_nasosr.operations import init_weights
from osrbench_nasosr.vae import ConditionalVAE


def build_final_vae(arch: Architecture, split: Split, config: NasOsrConfig, ctx: RunContext) -> ConditionalVAE:
    """The derived encoder with the latent head and the plain (non-U-Net) decoder, freshly initialised."""
    channels = split.image_shape[0]
    vae = ConditionalVAE(DerivedEncoder(arch, channels, config.width), in_channels=channels,
                         num_classes=split.num_classes, width=config.width, z_dim=config.z_dim, u_dim=config.u_dim,
                         input_size=config.input_size, mean=split.mean, std=split.std, unet=False,
                         recon_source=config.recon_source, decoder_output=config.decoder_output)
    init_weights(vae)
    return vae.to(ctx.device, memory_format=ctx.memory_format)


def retrain_step(vae: ConditionalVAE, config: NasOsrConfig, ctx: RunContext, hflip: bool):
    """The loss of one ``(epoch, images, labels)`` batch: augment, forward, the four losses (KL warmed up by epoch)."""
    weights = LossWeights(ce=config.ce_weight, kl=config.kl_weight, kl_z=config.kl_z_weight, re=config.re_weight,
                          cr=config.cr_weight, temperature=config.temperature)

    def step(batch) -> torch.Tensor:
        epoch, images, labels = batch
        x = random_affine_crop(to_float(images, ctx), scale=(config.crop_scale_min, 1.0), degrees=config.rotation,
                             hflip=hflip)
        out = vae(x)
        kl_scale = linear_warmup(epoch, config.retrain_epochs)
        return nasosr_loss(out, labels.to(ctx.device), vae.prior_means(), config.z_dim, weights, kl_scale).total

    return step


def retrain(vae: ConditionalVAE, split: Split, config: NasOsrConfig, ctx: RunContext) -> dict[str, float]:
    data = Minibatches(split.train_images, split.train_labels, config.batch_size)
    iterations = min(len(data), config.retrain_iterations) if config.retrain_iterations else len(data)
    optimizer = torch.optim.SGD(vae.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: config.lr_decay ** (step // iterations))

    def batches(epoch: int):
        for i, (images, labels) in enumerate(data):
            if i == iterations:
                return
            yield epoch, images, labels

    return train_epochs(ctx, modules={"vae": vae}, optimizer=optimizer, scheduler=schedule,
                        epochs=config.retrain_epochs, batches=batches, step=retrain_step(vae, config, ctx, split.hflip),
                        stage="nasosr-retrain")
