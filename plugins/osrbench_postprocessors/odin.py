"""ODIN (Liang, Li & Srikant, "Enhancing the reliability of out-of-distribution image detection in
neural networks", ICLR 2018): temperature scaling plus a small input perturbation.

Each image is moved by ε·sign of the gradient that raises its temperature-scaled softmax score of
the predicted class, x̃ = x − ε·sign(∇ₓ CE(f(x)/T, ŷ)), and scored by max softmax(f(x̃)/T). The paper's
CIFAR defaults are T = 1000 and ε = 0.0014. The authors' code perturbs the normalised input by
ε·sign/σ per channel, which is a step of exactly ε in [0, 1] pixel space, where osrbench models take
their input; so ε here is the paper's ε. The images are not clipped to [0, 1] afterwards (as in the code).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from osrbench import OpenSetModel, Postprocessor
from osrbench_postprocessors.configs import OdinConfig


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

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        x = self.perturb(model, images) if self.epsilon > 0 else images
        with torch.no_grad():
            return (model.logits(x).float() / self.temperature).softmax(dim=1).amax(dim=1)
