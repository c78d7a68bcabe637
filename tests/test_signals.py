"""SIGTERM stops a run like Ctrl-C, once: a second SIGTERM during the clean-up does not interrupt it."""

from __future__ import annotations

import os
import signal

import pytest

from osrbench.signals import Terminated, terminate_like_interrupt


@pytest.fixture
def sigterm_handler_restored():
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


def test_a_second_sigterm_does_not_interrupt_the_stop_of_the_first(sigterm_handler_restored):
    terminate_like_interrupt()
    cleaned_up = False
    with pytest.raises(Terminated):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0.01)  # let the handler run
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # timeout(1) sends it to the process and to its group
            signal.sigtimedwait([], 0.01)
            cleaned_up = True
    assert cleaned_up and Terminated.exit_status == 143
