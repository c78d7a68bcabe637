"""Record claims: at most one process trains a given record at a time, also across machines.

Before training, a job creates ``<record>.claim`` next to its record with ``O_CREAT | O_EXCL``
(atomic on local disks and on NFSv3+ and the usual cluster file systems, unlike ``flock``, which
many network file systems do not share between hosts). The file holds the holder's pid, host
and start time, and a background thread touches it every ``HEARTBEAT_SECONDS`` while the holder
lives. A claim is *stale*, and is taken over, when

* its host is this host and its pid is no longer alive (a crashed or killed run), or
* it has not been touched for ``stale_after`` seconds (default 300, ``$OSRBENCH_CLAIM_STALE_SECONDS``):
  a process that died on another machine, or a machine that went away. Clocks of the machines
  sharing a results dir must agree to well within that time.

A process that finds a live claim either waits for it to go (``osrbench run``) or gives up with
``ClaimHeld`` naming the holder (``osrbench sweep`` moves on to other jobs).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from osrbench.types import OsrbenchError
from osrbench.safe_files import loads, read_text

HEARTBEAT_SECONDS = 30.0
POLL_SECONDS = 1.0


def stale_after_default() -> float:
    text = os.environ.get("OSRBENCH_CLAIM_STALE_SECONDS", "300")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise OsrbenchError(f"$OSRBENCH_CLAIM_STALE_SECONDS={text!r}: expected a positive number of seconds")
    return value


class ClaimHeld(OsrbenchError):
    """Another live process holds the claim on this record."""


@dataclass
class Claim:
    """A held claim; ``waited`` says whether another process held it first (and may have finished the work)."""

    lock: Path
    token: str
    waited: bool = False


def lock_path(record: Path) -> Path:
    return record.with_name(record.name + ".claim")


def _holder(lock: Path) -> dict | None:
    """The claim file's content; ``{}`` while it is being written or if it is unreadable; None if gone."""
    try:
        holder = loads(read_text(lock, limit=2**16))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def describe(holder: dict) -> str:
    if not holder:
        return "another process (claim being written)"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def is_stale(lock: Path, holder: dict, stale_after: float) -> bool:
    if holder.get("host") == socket.gethostname() and "pid" in holder and not _pid_alive(holder["pid"]):
        return True
    try:
        return time.time() - lock.stat().st_mtime > stale_after
    except FileNotFoundError:
        return False


def _try_create(lock: Path) -> str | None:
    token = uuid.uuid4().hex
    content = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "token": token,
                          "since": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:  # a full disk: an empty claim would block the record for minutes
        lock.unlink(missing_ok=True)
        raise OsrbenchError(f"cannot write the claim {lock} ({exc.strerror or exc}); free some space in "
                            f"{lock.parent} and run again") from None
    return token


def _break(lock: Path, holder: dict) -> None:
    """Remove a stale claim, unless it was replaced by a fresh one since it was read."""
    aside = lock.with_name(f"{lock.name}.stale-{uuid.uuid4().hex}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:  # another process broke it first
        return
    moved = _holder(aside) or {}
    if moved.get("token") != holder.get("token"):  # a live claim slipped in between: put it back
        try:
            os.link(aside, lock)
        except FileExistsError:
            pass
    aside.unlink(missing_ok=True)


def _heartbeat(lock: Path, token: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        if (_holder(lock) or {}).get("token") != token:
            return  # taken over (we were judged dead); nothing left to keep alive
        try:
            os.utime(lock)
        except OSError:
            return


@contextmanager
def claim_record(record: Path, wait: bool = True, log: Callable[[str], None] | None = None,
                 stale_after: float | None = None) -> Iterator[Claim]:
    """Hold the claim on ``record`` for the duration of the block.

    With ``wait`` a live claim is waited for (logging who holds it once); without, ``ClaimHeld`` is raised.
    """
    stale_after = stale_after_default() if stale_after is None else stale_after
    lock = lock_path(Path(record))
    lock.parent.mkdir(parents=True, exist_ok=True)
    waited = False
    while (token := _try_create(lock)) is None:
        holder = _holder(lock)
        if holder is None:  # released between our attempt and the read
            continue
        if is_stale(lock, holder, stale_after):
            if log:
                log(f"{record}: taking over the stale claim of {describe(holder)}")
            _break(lock, holder)
            continue
        if not wait:
            raise ClaimHeld(f"{record} is claimed by {describe(holder)}")
        if not waited and log:
            log(f"{record} is claimed by {describe(holder)}; waiting for it")
        waited = True
        time.sleep(POLL_SECONDS)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(lock, token, stop), daemon=True, name="osrbench-claim")
    beat.start()
    try:
        yield Claim(lock, token, waited)
    finally:
        stop.set()
        beat.join()
        if (_holder(lock) or {}).get("token") == token:
            lock.unlink(missing_ok=True)
