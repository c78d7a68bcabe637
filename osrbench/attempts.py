"""The training attempts behind one record, so a resumed run's cost counts every attempt's seconds.

``attempts.json`` in the run folder lives as long as the folder's checkpoints: each attempt notes
itself when it starts (with its start time) and its training seconds when it ends, also by an error
or Ctrl-C. An attempt killed outright (SIGKILL, power loss) cannot note its end; the next attempt
then counts it up to its newest checkpoint, the last work it left behind.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from osrbench.safe_files import atomic_write_text, loads, read_text

FILE = "attempts.json"


@dataclass
class Attempts:
    """Earlier attempts on this run folder whose checkpoints the current one may resume from."""

    count: int = 0
    train_seconds: float = 0.0

    @property
    def resumed(self) -> bool:
        return self.count > 0


def _checkpoints(work_dir: Path) -> list[Path]:
    return sorted(work_dir.glob("*.ckpt"))


def earlier_attempts(work_dir: Path) -> Attempts:
    """What earlier attempts left; nothing when no checkpoint is left to resume from."""
    checkpoints = _checkpoints(work_dir)
    if not checkpoints:
        return Attempts()
    try:
        data = loads(read_text(work_dir / FILE, limit=2**16))
        count, seconds = int(data["attempts"]), float(data["train_seconds"])
        running_since = data.get("running_since")
        running_since = None if running_since is None else float(running_since)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # missing or damaged: one attempt of unknown length
        return Attempts(count=1)
    if running_since is not None:  # that attempt was killed: count it up to its last checkpoint
        seconds += max(0.0, max(p.stat().st_mtime for p in checkpoints) - running_since)
    return Attempts(count=max(count, 1), train_seconds=seconds)


def _write(work_dir: Path, data: dict) -> None:
    atomic_write_text(work_dir / FILE, json.dumps(data))


def note_start(work_dir: Path, earlier: Attempts) -> None:
    _write(work_dir, {"attempts": earlier.count + 1, "train_seconds": earlier.train_seconds,
                      "running_since": time.time()})


def note_end(work_dir: Path, earlier: Attempts, seconds: float) -> None:
    """After a failed or interrupted attempt: keep its seconds if it left a checkpoint to resume from."""
    if _checkpoints(work_dir):
        _write(work_dir, {"attempts": earlier.count + 1, "train_seconds": earlier.train_seconds + seconds})
    else:
        (work_dir / FILE).unlink(missing_ok=True)


def clear(work_dir: Path) -> None:
    (work_dir / FILE).unlink(missing_ok=True)
