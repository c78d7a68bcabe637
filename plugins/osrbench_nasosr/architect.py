"""First-order alternating updates of the architecture (α, β) and the weights (DARTS, unrolled=False).

``arch_step`` back-propagates the loss of a D_a batch into α and β only and takes an Adam step on
them; ``weight_step`` back-propagates the loss of a D_w batch into the weights only, clips the
global gradient norm and takes an Adam step on them. With ``accumulate_arch_grads`` the weight
step also receives the architecture batch's weight gradient, as in the authors' code (they zero
the weight gradients only once per iteration).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn


class Architect:
    def __init__(self, model: nn.Module, loss: Callable[[object], Tensor], *, weight_lr: float,
                 weight_decay: float, arch_lr: float, grad_clip: float, accumulate_arch_grads: bool = False):
        self.loss = loss
        self.arch_params = list(model.arch_parameters())
        arch_ids = {id(p) for p in self.arch_params}
        self.weight_params = [p for p in model.parameters() if id(p) not in arch_ids]
        fused = self.weight_params[0].is_cuda  # one kernel per step, no per-tensor step counter on the host
        self.weight_opt = torch.optim.Adam(self.weight_params, lr=weight_lr, weight_decay=weight_decay, fused=fused)
        self.arch_opt = torch.optim.Adam(self.arch_params, lr=arch_lr, betas=(0.5, 0.999), weight_decay=0.0,
                                         fused=fused)
        self.grad_clip = grad_clip
        self.accumulate = accumulate_arch_grads

    @staticmethod
    def _clear(params: list[nn.Parameter]) -> None:
        for p in params:
            p.grad = None

    def arch_step(self, batch) -> Tensor:
        self._clear(self.arch_params)
        self._clear(self.weight_params)
        loss = self.loss(batch)
        loss.backward(inputs=self.arch_params + (self.weight_params if self.accumulate else []))
        self.arch_opt.step()
        return loss.detach()

    def weight_step(self, batch) -> Tensor:
        self._clear(self.arch_params)
        if not self.accumulate:
            self._clear(self.weight_params)
        loss = self.loss(batch)
        loss.backward(inputs=self.weight_params)
        torch.nn.utils.clip_grad_norm_(self.weight_params, self.grad_clip)
        self.weight_opt.step()
        return loss.detach()

    def state_dict(self) -> dict:
        return {"weight_opt": self.weight_opt.state_dict(), "arch_opt": self.arch_opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.weight_opt.load_state_dict(state["weight_opt"])
        self.arch_opt.load_state_dict(state["arch_opt"])
