"""A Ctrl-C or SIGTERM whose exception is swallowed where it lands still stops the run at the
next node boundary."""

from __future__ import annotations

import os
import signal

import pytest

from hyperforget.interrupts import InterruptHook, Terminated, raising_interrupts, received


def _swallowed(sig: int) -> None:
    """The signal lands in code that drops every exception (a finaliser, a broad except)."""
    try:
        os.kill(os.getpid(), sig)
    except BaseException:  # noqa: BLE001, S110 - what the code under test must survive
        pass


@pytest.mark.parametrize(
    ("sig", "raised", "name"),
    [(signal.SIGINT, KeyboardInterrupt, "Ctrl-C"), (signal.SIGTERM, Terminated, "SIGTERM")],
)
def test_a_swallowed_interrupt_is_raised_again_at_the_next_node(sig, raised, name):
    hook = InterruptHook()
    with raising_interrupts():
        hook.before_node_run()  # nothing received yet: the run goes on
        _swallowed(sig)
        assert received() == name
        with pytest.raises(raised):
            hook.before_node_run()
        with pytest.raises(raised):
            hook.after_node_run()


def test_the_handlers_are_restored_and_each_run_starts_clean():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with raising_interrupts():
        _swallowed(signal.SIGTERM)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    InterruptHook().before_node_run()  # a recorded signal outside a CLI run raises nothing
    with raising_interrupts():
        assert received() is None
        InterruptHook().before_node_run()
