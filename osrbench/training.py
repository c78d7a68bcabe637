"""The shared training loop: autocast, progress, a NaN guard and resumable checkpoints.

A method supplies the pieces that are its own (the batches of an epoch and the loss of one batch);
the loop does the rest the same way for every method.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn

from osrbench.api import OsrbenchError, RunContext


class NonFiniteLoss(OsrbenchError):
    """Training produced a NaN or infinite loss; the run stops and writes no record."""


def save_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def rng_state(generator: torch.Generator | None = None) -> dict:
    """The global CPU/CUDA random states (and ``generator``'s), for a checkpoint."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict, generator: torch.Generator | None = None) -> None:
    torch.set_rng_state(state["cpu"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None:
        generator.set_state(state["generator"])


def check_finite(mean_loss: float, stage: str, epoch: int, hint: str = "--set lr=...") -> None:
    """Stop the run with a clear message when an epoch's mean loss is NaN or infinite."""
    if not math.isfinite(mean_loss):
        raise NonFiniteLoss(f"{stage}: the loss became {mean_loss} in epoch {epoch + 1}; no record written. "
                            f"Try a lower learning rate ({hint})")


def train_epochs(
    ctx: RunContext,
    *,
    modules: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batches: Callable[[int], Iterable],
    step: Callable[[Any], Tensor],
    scheduler: Any | None = None,
    stage: str = "train",
    checkpoint_seconds: float = 60.0,
    extra_state: dict[str, Any] | None = None,
    after_step: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Train for ``epochs``; ``step(batch)`` returns the batch loss (computed under autocast).

    ``scheduler`` (if any) steps once per batch, then ``after_step`` (if any) is called (e.g. to update a
    weight average). The state of ``modules``, the optimizer, the
    scheduler, the RNGs and ``extra_state`` is checkpointed to ``ctx.work_dir/<stage>.ckpt`` at most
    every ``checkpoint_seconds`` and at the end, and an interrupted run resumes from it.
    Returns the wall seconds spent and the last epoch's mean loss.
    """
    path = ctx.work_dir / f"{stage}.ckpt"
    start_epoch = 0
    if path.exists():
        state = torch.load(path, map_location=ctx.device, weights_only=False)
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if extra_state is not None:
            extra_state.update(state.get("extra", {}))
        set_rng_state(state["rng"])
        start_epoch = state["epoch"]
        ctx.progress.log(f"resuming {stage} from epoch {start_epoch} ({path})")

    def checkpoint(epoch: int) -> None:
        save_atomic({
            "modules": {n: m.state_dict() for n, m in modules.items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "extra": extra_state or {}, "rng": rng_state(), "epoch": epoch,
        }, path)

    for module in modules.values():
        module.train()
    began = last_save = time.perf_counter()
    mean_loss = float("nan")
    with ctx.progress.task(f"{stage} epochs", total=epochs) as bar, ctx.progress.task("batches", None) as batch_bar:
        bar.advance(start_epoch)
        for epoch in range(start_epoch, epochs):
            total = torch.zeros((), device=ctx.device)
            count = 0
            epoch_batches = batches(epoch)
            batch_bar.restart(len(epoch_batches) if hasattr(epoch_batches, "__len__") else None)
            for batch in epoch_batches:
                with ctx.autocast():
                    loss = step(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                if after_step is not None:
                    after_step()
                total += loss.detach().float()
                count += 1
                batch_bar.advance()
            mean_loss = (total / max(count, 1)).item()  # one device sync per epoch
            check_finite(mean_loss, stage, epoch)
            bar.advance(info=f"loss {mean_loss:.4f}")
            if time.perf_counter() - last_save > checkpoint_seconds:
                checkpoint(epoch + 1)
                last_save = time.perf_counter()
    checkpoint(epochs)
    return {"train_seconds": time.perf_counter() - began, "final_loss": mean_loss}
