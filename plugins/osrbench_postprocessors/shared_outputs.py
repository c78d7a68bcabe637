"""The test-time outputs that several postprocessors of one trained model read, computed once per batch.

A run scores its trained model with each postprocessor in turn, and each scores every test batch: msp, mls and
energy read the same logits, and Mahalanobis (plain and relative), KNN, ViM and ReAct the same float32 features,
so without this each batch goes through the network (with all its test-time views) once per postprocessor, where
once per kind of output is enough. :class:`SharedOutputs` keeps, for the last model it served, each batch it was
given (as uint8 pixels) with the outputs computed from it, and answers a batch equal to a kept one, bit for bit,
with the kept outputs, so long as the model is the same object with its parameters and buffers unchanged in place
(each tensor's version counter) and in the same train/eval mode, and the output is of the same kind (logits under
the same autocast). Anything else is computed afresh: a batch with gradients enabled (ODIN's perturbation), a batch
that is not whole pixels over 255 (``osrbench.batches.to_float``'s images), or one past :data:`KEPT_BYTES` of kept
batches and outputs, which bounds the memory this takes. The kept outputs go when the model is freed.

This takes a model's outputs to be a function of the batch, its parameters and buffers, and its mode, as a
network's are in eval mode (no sampling at test time); the scores are then those each postprocessor computes for
itself, bit for bit.
"""

from __future__ import annotations

import weakref
from typing import Callable, Hashable

import torch
from torch import Tensor

from osrbench import OpenSetModel

KEPT_BYTES = 512 << 20  # at most 512 MiB of kept batches and outputs (cifar10's test sets: 46 MB with the features)


class _Batch:
    """One kept batch: its pixels and what was computed from it, by kind."""

    def __init__(self, pixels: Tensor):
        self.pixels = pixels
        self.outputs: dict[Hashable, Tensor] = {}

    def holds(self, images: Tensor) -> bool:
        return torch.equal(self.pixels.float().div_(255.0), images)


class SharedOutputs:
    """Outputs of the last model served, per batch; see the module's docstring."""

    def __init__(self, kept_bytes: int = KEPT_BYTES):
        self.kept_bytes = kept_bytes
        self.clear()

    def clear(self) -> None:
        self._model: weakref.ref | None = None
        self._state: tuple | None = None
        self._batches: dict[tuple, list[_Batch]] = {}
        self._bytes = 0

    def get(self, kind: Hashable, model: OpenSetModel, images: Tensor, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """``compute(images)``, or what it returned for an equal batch of this model before (callers must not
        modify the returned tensor in place)."""
        if torch.is_grad_enabled() or images.requires_grad or images.dtype != torch.float32:
            return compute(images)
        self._follow(model)
        key = self._key(images)
        batch = next((b for b in self._batches.get(key, []) if b.holds(images)), None)
        if batch is None:
            batch = self._keep(key, images)
            if batch is None:
                return compute(images)
        if kind not in batch.outputs:
            output = compute(images)
            if self._bytes + _size(output) > self.kept_bytes:
                return output
            batch.outputs[kind] = output
            self._bytes += _size(output)
        return batch.outputs[kind]

    def _follow(self, model: OpenSetModel) -> None:
        """Forget everything kept when the model is another one, or changed."""
        state = (model.training, tuple(t._version for t in (*model.parameters(), *model.buffers())))
        if self._model is None or self._model() is not model or self._state != state:
            self.clear()
            self._model, self._state = weakref.ref(model, self._model_gone), state

    def _model_gone(self, ref: weakref.ref) -> None:
        if ref is self._model:  # the model served last was freed: so are its outputs
            self.clear()

    @staticmethod
    def _key(images: Tensor) -> tuple:
        # The sum is a fingerprint to find candidates by; a candidate is used only if it is equal, bit for bit.
        return tuple(images.shape), images.device, float(images.sum(dtype=torch.float64))

    def _keep(self, key: tuple, images: Tensor) -> _Batch | None:
        """A new kept batch for ``images``; None if they are not pixels over 255 or the memory is spent."""
        if self._bytes + images.numel() > self.kept_bytes:
            return None
        pixels = images.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
        batch = _Batch(pixels)
        if not batch.holds(images):
            return None
        self._batches.setdefault(key, []).append(batch)
        self._bytes += _size(pixels)
        return batch


def _size(tensor: Tensor) -> int:
    return tensor.numel() * tensor.element_size()


shared_outputs = SharedOutputs()


def autocast_state(device: torch.device) -> tuple:
    """Whether autocast is on for ``device``'s type, and its dtype: logits differ between the two."""
    kind = device.type
    return (kind, torch.is_autocast_enabled(kind), torch.get_autocast_dtype(kind))


def shared_logits(model: OpenSetModel, images: Tensor) -> Tensor:
    """``model.logits(images)``, computed once per batch (under one autocast) for all the postprocessors."""
    return shared_outputs.get(("logits", autocast_state(images.device)), model, images, model.logits)
