"""SIGTERM (what ``kill``, schedulers and ``sweep`` send) is handled like Ctrl-C: training checkpoints
its last whole epoch, claims and temporary files go, and the process ends with status 143."""

from __future__ import annotations

import signal
import threading
from typing import Any


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""

    exit_status = 128 + signal.SIGTERM


def _raise_terminated(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, _already_terminating)
    raise Terminated()


def _already_terminating(signum: int, frame: Any) -> None:
    """A second SIGTERM changes nothing: ``timeout`` sends one to the process and one to its process group,
    and the second, raised inside the clean-up of the first (a lock's release in ``threading``), turned a
    clean stop into "release unlocked lock". SIGKILL still ends a process that will not stop."""


def terminate_like_interrupt() -> None:
    """From now on, SIGTERM raises ``Terminated`` (a KeyboardInterrupt) in the main thread."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
