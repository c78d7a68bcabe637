"""The record claim: one holder at a time, stale claims of dead processes taken over, live ones waited for."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from osrbench.api import OsrbenchError
from osrbench.claims import ClaimHeld, claim_record, lock_path


def _write_claim(record, **holder):
    lock = lock_path(record)
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"token": "theirs", "since": "2026-01-01T00:00:00+00:00", **holder}))
    return lock


def test_a_claim_is_exclusive_names_its_holder_and_goes_with_its_holder(tmp_path):
    record = tmp_path / "digits" / "msp" / "split0-seed0.json"
    with claim_record(record) as claim:
        holder = json.loads(claim.lock.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(ClaimHeld, match=f"claimed by pid {os.getpid()} on {socket.gethostname()}"):
            with claim_record(record, wait=False):
                pass
    assert not lock_path(record).exists()
    with claim_record(record, wait=False) as again:
        assert not again.waited


def test_the_claim_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = tmp_path / "r.json"
    _write_claim(record, pid=int(dead.stdout), host=socket.gethostname())
    messages = []
    with claim_record(record, wait=False, log=messages.append) as claim:
        assert json.loads(claim.lock.read_text())["pid"] == os.getpid()
    assert "stale claim of pid" in messages[0]


def test_a_claim_from_another_host_is_live_until_its_heartbeat_stops(tmp_path):
    record = tmp_path / "r.json"
    lock = _write_claim(record, pid=1, host="some-other-node")
    with pytest.raises(ClaimHeld, match="pid 1 on some-other-node"):
        with claim_record(record, wait=False, stale_after=60):
            pass
    old = time.time() - 120
    os.utime(lock, (old, old))
    with claim_record(record, wait=False, stale_after=60) as claim:
        assert json.loads(claim.lock.read_text())["host"] == socket.gethostname()


def test_a_waiting_claim_gets_the_record_once_the_holder_is_done(tmp_path):
    record = tmp_path / "r.json"
    holding, release = threading.Event(), threading.Event()

    def holder():
        with claim_record(record):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait(10)
    threading.Timer(0.3, release.set).start()
    messages = []
    with claim_record(record, log=messages.append) as claim:
        assert claim.waited and "waiting for it" in messages[0]
    thread.join()


def test_a_bad_stale_timeout_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("OSRBENCH_CLAIM_STALE_SECONDS", "soon")
    with pytest.raises(OsrbenchError, match="OSRBENCH_CLAIM_STALE_SECONDS"):
        with claim_record(tmp_path / "r.json"):
            pass
