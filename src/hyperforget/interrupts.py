"""Ctrl-C and SIGTERM during a ``kedro run``: raised where the run is, and never lost.

Python runs a signal handler between two bytecodes of the main thread. When those bytecodes
belong to a finaliser (``__del__``, a weakref callback) the raised exception is printed as
"Exception ignored" and dropped, and a library may catch ``BaseException`` too: the run would go
on to the end as if nothing had happened. So the handler also records the signal, and
:class:`InterruptHook` raises it again at the next node boundary.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kedro.framework.hooks import hook_impl


class Terminated(BaseException):
    """SIGTERM, raised where the run is, so it unwinds like Ctrl-C (not an ``Exception``: no
    node or hook may swallow it)."""


# the signals that interrupted the current run, in order ("Ctrl-C", "SIGTERM"), and whether a
# run is under raising_interrupts (a run started in-process, e.g. in a notebook, is not)
_RECEIVED: list[str] = []
_ACTIVE: list[bool] = [False]


def received() -> str | None:
    """The first signal that interrupted the current run, or None."""
    return _RECEIVED[0] if _RECEIVED else None


def _raise(by: str) -> None:
    raise Terminated if by == "SIGTERM" else KeyboardInterrupt


def _on_sigterm(signum: int, frame: Any) -> None:
    _RECEIVED.append("SIGTERM")
    _raise("SIGTERM")


def _on_sigint(signum: int, frame: Any) -> None:
    _RECEIVED.append("Ctrl-C")
    _raise("Ctrl-C")


@contextmanager
def raising_interrupts() -> Iterator[None]:
    """Within: SIGTERM raises :class:`Terminated`, Ctrl-C ``KeyboardInterrupt`` (even where the
    process was started with SIGINT ignored, as a background job of a non-interactive shell
    is), and both are recorded for :func:`received`."""
    _RECEIVED.clear()
    previous_term = signal.signal(signal.SIGTERM, _on_sigterm)
    previous_int = signal.signal(signal.SIGINT, _on_sigint)
    _ACTIVE[0] = True
    try:
        yield
    finally:
        _ACTIVE[0] = False
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


class InterruptHook:
    """Raises a recorded interrupt again before and after every node of a run under
    :func:`raising_interrupts`, in case the handler's exception was swallowed where it was
    first raised."""

    @hook_impl(tryfirst=True)
    def before_node_run(self) -> None:
        _raise_pending()

    @hook_impl(tryfirst=True)
    def after_node_run(self) -> None:
        _raise_pending()


def _raise_pending() -> None:
    if _ACTIVE[0] and _RECEIVED:
        _raise(_RECEIVED[0])
