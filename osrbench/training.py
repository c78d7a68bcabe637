"""The shared training loop: autocast, progress, health guards and resumable checkpoints.

A method supplies the pieces that are its own (the batches of an epoch and the loss of one batch);
the loop does the rest the same way for every method. Checkpoints are data, never code: they are
read with ``weights_only=True``, and a damaged one is moved aside and training starts over.
"""

from __future__ import annotations

import copy
import math
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn

from rich.markup import escape

from osrbench.types import OsrbenchError, RunContext
from osrbench.records import move_aside
from osrbench.safe_files import atomic_write


class TrainingFailed(OsrbenchError):
    """Training did not produce a usable model; the run stops and writes no record."""


class NonFiniteLoss(TrainingFailed):
    """Training produced a NaN or infinite loss."""


class UntrainedModel(TrainingFailed):
    """The model did not learn: the loss stayed at chance level (or the accuracy did)."""


# A loss still above this share of the chance loss at the end means the model did not learn;
# above DIVERGED_SHARE times it, that training diverged.
CHANCE_LOSS_SHARE = 0.95
DIVERGED_SHARE = 2.0


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` through an exclusive temporary file (removed if the write fails, e.g. a full disk)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def rng_state(generator: torch.Generator | None = None) -> dict:
    """The global CPU/CUDA random states (and ``generator``'s), for a checkpoint."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict, generator: torch.Generator | None = None) -> None:
    """Restore :func:`rng_state`'s states. RNG states are CPU byte tensors whatever device the
    checkpoint was loaded onto (``torch.load(map_location=cuda)`` moves them to the GPU)."""
    torch.set_rng_state(state["cpu"].cpu())
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    if generator is not None:
        generator.set_state(state["generator"].cpu())


def load_checkpoint(path: Path, ctx: RunContext) -> dict | None:
    """The checkpoint at ``path`` (tensors and plain data only), or None when there is none.

    A file that cannot be read as such (truncated, damaged, or holding code) is moved aside to
    ``<name>.corrupt`` with a warning, and the caller starts over. Tensors are loaded onto the CPU
    whatever device saved them (``load_state_dict`` moves them to the modules' and optimizer's
    device), so a checkpoint saved on a GPU resumes on a GPU, and on a CPU.
    """
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
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


def check_learned(ctx: RunContext, losses: list[float], chance_loss: float | None, stage: str) -> None:
    """Stop the run when training diverged or did not learn, judged by the epochs' mean losses.

    Diverged: the last epoch's loss is far above the loss of a chance-level model (``DIVERGED_SHARE``
    times it), or it rose well above the lowest epoch loss to near chance. Did not learn: it is still
    near chance. Only from the second epoch on: the mean over a single epoch includes the untrained start.
    """
    if chance_loss is None or len(losses) < 2:
        return
    final, lowest = losses[-1], min(losses)
    lowest_epoch = losses.index(lowest) + 1
    grew = final > CHANCE_LOSS_SHARE * chance_loss and final > 1.5 * lowest
    if final > DIVERGED_SHARE * chance_loss or grew:
        ctx.unhealthy(UntrainedModel(
            f"{stage}: training diverged: the final training loss {final:.4f} is {final / chance_loss:.1f}x the "
            f"chance level {chance_loss:.4f} (lowest {lowest:.4f}, epoch {lowest_epoch}); no record written. Likely "
            "cause: a learning rate too high for this batch size, or too few warm-up steps (--set lr=... warmup=...)"))
    elif final > CHANCE_LOSS_SHARE * chance_loss:
        ctx.unhealthy(UntrainedModel(
            f"{stage}: the model did not learn: the final training loss {final:.4f} is still near the chance level "
            f"{chance_loss:.4f}; no record written. Likely cause: too few epochs or optimiser steps, or a learning "
            "rate far too low (--set epochs=... lr=...)"))


def _resume(state: dict, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer, scheduler: Any | None,
            extra_state: dict[str, Any] | None, path: Path) -> tuple[int, list[float]]:
    """Load a checkpoint's state into the training objects; returns the epoch to continue from and the
    mean loss of each epoch so far."""
    try:
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if extra_state is not None:
            extra_state.update(state.get("extra", {}))
        set_rng_state(state["rng"])
        epoch = int(state["epoch"])
        losses = [float(x) for x in state.get("losses", [])]
        return epoch, losses if len(losses) == epoch else [math.nan] * (epoch - 1) + [float(state.get("loss", math.nan))]
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
    checkpoint_seconds: float = 10.0,
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
    start_epoch, losses = 0, []
    state = load_checkpoint(path, ctx)
    if state is not None:
        start_epoch, losses = _resume(state, modules, optimizer, scheduler, extra_state, path)
        ctx.progress.log(f"resuming {stage} from epoch {start_epoch} ({escape(str(path))})")

    def training_state(epoch: int) -> dict[str, Any]:
        return {
            "modules": {n: m.state_dict() for n, m in modules.items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "extra": extra_state or {}, "rng": rng_state(), "epoch": epoch,
            "loss": losses[-1] if losses else math.nan, "losses": list(losses),
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
                losses.append(mean_loss)
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
    check_learned(ctx, [x for x in losses if not math.isnan(x)], chance_loss, stage)
    return {"train_seconds": time.perf_counter() - began, "final_loss": losses[-1] if losses else math.nan}
