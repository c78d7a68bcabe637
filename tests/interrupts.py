"""Ctrl-C in the middle of a training, for the tests of resuming."""

from __future__ import annotations

from contextlib import contextmanager

from osrbench import training


@contextmanager
def ctrl_c_after_epoch(monkeypatch, epoch: int):
    """Within the block, training raises KeyboardInterrupt where it checks the loss of ``epoch`` (0-based), as a
    Ctrl-C there would; the epochs before it are whole and checkpointed."""
    original = training.check_finite

    def interrupt(mean_loss, stage, at_epoch, *rest):
        if at_epoch == epoch:
            raise KeyboardInterrupt
        return original(mean_loss, stage, at_epoch, *rest)

    monkeypatch.setattr(training, "check_finite", interrupt)
    try:
        yield
    finally:
        monkeypatch.setattr(training, "check_finite", original)
