"""The shared training loop: autocast, progress, health guards and resumable checkpoints.

A method supplies the pieces that are its own (the batches of an epoch and the loss of one batch);
the loop does the rest the same way for every method. Checkpoints are data, never code: they are
read with ``weights_only=True``, and a damaged one is moved aside and training starts over.
"""

from __future__ import annotations

import copy
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn

from rich.markup import escape

from osrbench.api import OsrbenchError, RunContext
from osrbench.records import move_aside


class TrainingFailed(OsrbenchError):
    """Training did not produce a usable model; the run stops and writes no record."""


class NonFiniteLoss(TrainingFailed):
    """Training produced a NaN or infinite loss."""


class UntrainedModel(TrainingFailed):
    """The model did not learn: the loss stayed at chance level (or the accuracy did)."""


# A loss still above this share of the chance loss at the end means the model did not learn.
CHANCE_LOSS_SHARE = 0.95


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


def load_checkpoint(path: Path, ctx: RunContext) -> dict | None:
    """The checkpoint at ``path`` (tensors and plain data only), or None when there is none.

    A file that cannot be read as such (truncated, damaged, or holding code) is moved aside to
    ``<name>.corrupt`` with a warning, and the caller starts over.
    """
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=ctx.device, weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"holds a {type(state).__name__}, not a checkpoint")
        return state
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for a bad file
        kept = move_aside(path)
        reason = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines()[0]  # torch's message carries terminal codes
        ctx.progress.warn(f"checkpoint {path} cannot be used ({type(exc).__name__}: {reason:.200}); "
                          f"moved it to {kept.name}, training starts over")
        return None


def check_finite(mean_loss: float, stage: str, epoch: int, hint: str = "--set lr=...") -> None:
    """Stop the run with a clear message when an epoch's mean loss is NaN or infinite."""
    if not math.isfinite(mean_loss):
        raise NonFiniteLoss(f"{stage}: the loss became {mean_loss} in epoch {epoch + 1}; no record written. "
                            f"Try a lower learning rate ({hint})")


def check_learned(ctx: RunContext, final_loss: float, chance_loss: float | None, epochs: int, stage: str) -> None:
    """Stop the run when the last epoch's mean loss is still at (or above) the loss of a chance-level model.

    Only from the second epoch on: the mean over a single epoch includes the untrained start.
    """
    if chance_loss is not None and epochs >= 2 and final_loss > CHANCE_LOSS_SHARE * chance_loss:
        ctx.unhealthy(UntrainedModel(f"{stage}: the model did not learn: the final training loss {final_loss:.4f} is still "
                             f"near the chance level {chance_loss:.4f}; no record written. Likely cause: a learning "
                             "rate far too low or too high, or too few epochs (--set lr=... epochs=...)"))


def _resume(state: dict, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer, scheduler: Any | None,
            extra_state: dict[str, Any] | None, path: Path) -> tuple[int, float]:
    """Load a checkpoint's state into the training objects; returns the epoch to continue from and its loss."""
    try:
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if extra_state is not None:
            extra_state.update(state.get("extra", {}))
        set_rng_state(state["rng"])
        return int(state["epoch"]), float(state.get("loss", math.nan))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        kept = move_aside(path)
        raise OsrbenchError(f"checkpoint {path} does not fit this run ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0]:.200}); moved it to {kept.name}: rerun to start over") from None


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
    chance_loss: float | None = None,
) -> dict[str, float]:
    """Train for ``epochs``; ``step(batch)`` returns the batch loss (computed under autocast).

    ``scheduler`` (if any) steps once per batch, then ``after_step`` (if any) is called (e.g. to update a
    weight average). The state of ``modules``, the optimizer, the
    scheduler, the RNGs and ``extra_state`` is checkpointed to ``ctx.work_dir/<stage>.ckpt`` at most
    every ``checkpoint_seconds``, at the end, and on Ctrl-C (the state after the last whole epoch, so a
    resumed run is identical to an uninterrupted one); an interrupted run resumes from it.
    ``chance_loss`` (e.g. ln K for a K-class cross-entropy) turns on the check that the last epoch's
    loss fell below chance (runs of two epochs or more); the runner checks every method's accuracy. Returns the wall seconds spent and the last epoch's mean loss.
    """
    path = ctx.work_dir / f"{stage}.ckpt"
    start_epoch, mean_loss = 0, math.nan
    state = load_checkpoint(path, ctx)
    if state is not None:
        start_epoch, mean_loss = _resume(state, modules, optimizer, scheduler, extra_state, path)
        ctx.progress.log(f"resuming {stage} from epoch {start_epoch} ({escape(str(path))})")

    def training_state(epoch: int) -> dict[str, Any]:
        return {
            "modules": {n: m.state_dict() for n, m in modules.items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "extra": extra_state or {}, "rng": rng_state(), "epoch": epoch, "loss": mean_loss,
        }

    for module in modules.values():
        module.train()
    began = last_save = time.perf_counter()
    last_whole_epoch = None  # a copy of the state after the last epoch not yet saved, for Ctrl-C
    try:
        with ctx.progress.task(f"{stage} epochs", total=epochs) as bar, \
                ctx.progress.task("batches", None) as batch_bar:
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
                    save_atomic(training_state(epoch + 1), path)
                    last_save, last_whole_epoch = time.perf_counter(), None
                else:
                    last_whole_epoch = copy.deepcopy(training_state(epoch + 1))
    except KeyboardInterrupt:
        if last_whole_epoch is not None:
            save_atomic(last_whole_epoch, path)
        raise
    save_atomic(training_state(epochs), path)
    check_learned(ctx, mean_loss, chance_loss, epochs, stage)
    return {"train_seconds": time.perf_counter() - began, "final_loss": mean_loss}
