"""ODIN (Liang, Li & Srikant, "Enhancing the reliability of out-of-distribution image detection in
neural networks", ICLR 2018): temperature scaling plus a small input perturbation.

Each image is moved by ε·sign of the gradient that raises its temperature-scaled softmax score of
the predicted class, x̃ = x − ε·sign(∇ₓ CE(f(x)/T, ŷ)), and scored by max softmax(f(x̃)/T). The paper's
CIFAR defaults are T = 1000 and ε = 0.0014. The authors' code perturbs the normalised input by
ε·sign/σ per channel, which is a step of exactly ε in [0, 1] pixel space, where osrbench models take
their input; so ε here is the paper's ε. The images are not clipped to [0, 1] afterwards (as in the code).

The gradient pass keeps every activation of every test-time view for the backward pass: a batch of
1,024 CIFAR images with the baseline's six views took 14 GiB on the CPU (float32), far more than its
training, and parallel runs sharing a GPU ran out of memory there. So the perturbation is computed in
parts of at most :data:`GRADIENT_PIXELS` pixels (256 CIFAR or 64 TinyImageNet images; 3.5 GiB on the
CPU): each image's gradient is its own (the model is in eval mode and the loss a sum over images), so
the scores are those of the whole batch at once.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from osrbench import OpenSetModel, Postprocessor
from osrbench_postprocessors.configs import OdinConfig
from osrbench_postprocessors.shared_outputs import shared_logits

GRADIENT_PIXELS = 256 * 32 * 32  # pixels (per channel) of the images in one gradient pass: bounds its memory


def gradient_batch(images: Tensor) -> int:
    """How many of ``images`` (B, C, H, W) go into one gradient pass: at least one."""
    return max(1, GRADIENT_PIXELS // math.prod(images.shape[2:]))


class Odin(Postprocessor):
    def __init__(self, config: OdinConfig):
        self.temperature, self.epsilon = config.temperature, config.epsilon

    def perturb(self, model: OpenSetModel, images: Tensor) -> Tensor:
        """x − ε·sign(∇ₓ CE(f(x)/T, ŷ)): the step that raises the predicted class's scaled softmax."""
        with torch.enable_grad():
            x = images.detach().clone().requires_grad_(True)
            logits = model.logits(x).float() / self.temperature
            loss = F.cross_entropy(logits, logits.argmax(dim=1), reduction="sum")
            (grad,) = torch.autograd.grad(loss, x)
        return images.detach() - self.epsilon * grad.sign()

    def scaled_softmax(self, logits: Tensor) -> Tensor:
        return (logits.float() / self.temperature).softmax(dim=1).amax(dim=1)

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        if self.epsilon == 0:  # temperature only: the logits msp, mls and energy read too
            with torch.no_grad():
                return self.scaled_softmax(shared_logits(model, images))
        parts = []
        for part in images.split(gradient_batch(images)):
            x = self.perturb(model, part)
            with torch.no_grad():
                parts.append(self.scaled_softmax(model.logits(x)))
        return torch.cat(parts)
