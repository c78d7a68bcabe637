"""A training step makes no copy from the host to the batch's device.

On CUDA a copy from pageable host memory to the GPU waits for the GPU's queue to drain, so one such copy
per step (a random number drawn on the CPU, a constant built with ``torch.tensor``) stalls the host and
leaves the GPU idle between steps. The steps run here on the ``meta`` device, which has no data: every
tensor that a step builds on the host and moves to the batch's device shows up as a copy from ``cpu``.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

META = torch.device("meta")


class HostToDeviceCopies(TorchDispatchMode):
    """Names the operations that read a host tensor and write a tensor on another device."""

    def __init__(self):
        super().__init__()
        self.copies: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        if any(t.device.type == "cpu" for t in inputs) and any(t.device.type != "cpu" for t in outputs):
            self.copies.append(str(func))
        return out


@contextmanager
def recorded_copies(monkeypatch):
    """Copies through operations, and tensors built from Python data straight onto a device (``torch.tensor``
    builds those on the host and copies them outside the dispatcher's view)."""
    built: list[str] = []
    for name in ("tensor", "as_tensor"):
        original = getattr(torch, name)

        def constructor(data, *args, _original=original, _name=name, **kwargs):
            device = kwargs.get("device")
            if not isinstance(data, torch.Tensor) and device is not None and torch.device(device).type != "cpu":
                built.append(f"torch.{_name}({data!r}, device={device})")
            return _original(data, *args, **kwargs)

        monkeypatch.setattr(torch, name, constructor)
    with HostToDeviceCopies() as mode:
        yield mode.copies, built
    monkeypatch.undo()


def gradmix_objective(augmentation):
    from osrbench_gradmix.network import ContrastiveNet
    from osrbench_gradmix.objective import Objective

    net = ContrastiveNet(3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 8, 16).to(META)
    return Objective(net=net, num_classes=4, theta=1.0, lam=1.2, temperature=0.05, base_temperature=0.05,
                     view_kind="simclr", hflip=True, crop_scale=(0.2, 1.0), rotation=0.0, augmentation=augmentation)


def augmentation(name: str):
    if name == "none":
        return None
    from osrbench.plugins import build_plugins

    spec = build_plugins().augmentations.get(name)
    return spec.build(spec.config())


@pytest.mark.parametrize("name", ["none", "gradmix", "gradcam", "gradmix_codevariant", "mixup", "cutmix"])
def test_a_gradmix_step_copies_nothing_from_the_host(name, monkeypatch):
    objective = gradmix_objective(augmentation(name))
    images, labels = torch.rand(8, 3, 32, 32, device=META), torch.randint(0, 4, (8,), device=META)
    with recorded_copies(monkeypatch) as (copies, built):
        objective(images, labels).backward()
    assert (copies, built) == ([], [])


@pytest.mark.parametrize("name", ["none", "mixup", "cutmix"])
def test_a_baseline_augmentation_step_copies_nothing_from_the_host(name, monkeypatch):
    from osrbench import AugmentContext
    from osrbench.gpu_augment import standard_augment

    mixing = augmentation(name)
    images, labels = torch.rand(8, 3, 32, 32, device=META), torch.randint(0, 4, (8,), device=META)
    with recorded_copies(monkeypatch) as (copies, built):
        x = standard_augment(images, crop_pad=4, hflip=True, cutout_size=16)
        if mixing is not None:
            mixed = mixing(x, labels, AugmentContext(num_classes=4))
            (mixed.soft_targets(4) * mixed.weight).sum()
    assert (copies, built) == ([], [])


def test_the_check_sees_a_host_draw_and_a_host_constant(monkeypatch):
    """The check itself: both ways a step can copy from the host are caught."""
    images = torch.rand(8, 3, 4, 4, device=META)
    with recorded_copies(monkeypatch) as (copies, built):
        images * torch.rand(8).to(META)[:, None, None, None]
        images * torch.tensor([0.2989, 0.587, 0.114], device=META).view(1, 3, 1, 1)
    assert copies == ["aten._to_copy.default"] and len(built) == 1


@pytest.mark.parametrize("augment", ["none", "mixup"])
def test_a_whole_baseline_step_with_the_weight_average_copies_nothing_from_the_host(augment, monkeypatch):
    """Forward, backward, SGD, the one-cycle schedule and the weight average of a 64 px recipe (which keeps
    one): torch's AveragedModel copied its step counter to the device at every update."""
    from osrbench_baseline import BaselineConfig
    from osrbench_baseline.method import build_training

    from osrbench import RunContext, Split
    from osrbench.progress import Progress

    images, labels = torch.zeros(2000, 3, 64, 64, dtype=torch.uint8, device=META), torch.zeros(2000, dtype=torch.long, device=META)
    split = Split("meta", 0, images, labels, images, labels, images, [str(k) for k in range(4)], (0.5,) * 3, (0.25,) * 3,
                  "", "")
    ctx = RunContext(device=META, seed=0, work_dir=None, progress=Progress(quiet=True), augmentation=augmentation(augment))
    training = build_training(split, BaselineConfig(width=0.25), ctx)
    assert training.average is not None
    batch = images[:16], labels[:16]
    with recorded_copies(monkeypatch) as (copies, built):
        for _ in range(2):
            training.step(batch).backward()
            training.optimizer.step()
            training.scheduler.step()
            training.after_step()
    assert (copies, built) == ([], [])
