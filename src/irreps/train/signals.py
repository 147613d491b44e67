"""Ctrl-C (SIGINT) and SIGTERM as a request to stop training cleanly.

A scheduler sends SIGTERM at the wall-time limit and a user presses Ctrl-C; either would kill
a run mid-step, leaving no ``model.pt``. Inside :class:`StopSignals` the first of them only
records itself: the trainer finishes the current step, stops and the run writes ``model.pt``
from the best epoch. The previous handlers are back from that moment, so a second Ctrl-C
interrupts at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Context manager that turns the first SIGINT or SIGTERM into :attr:`received`.

    Handlers can only be installed from the main thread; elsewhere the block runs with the
    process's handlers unchanged (and :attr:`received` stays ``None``).
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, object] = {}

    def __enter__(self) -> "StopSignals":
        self.received = None
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum)
        self._restore()

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def __exit__(self, *exc: object) -> None:
        self._restore()


def exit_status(name: str) -> int:
    """The shell's exit status of a process ended by the signal ``name``: 128 + its number
    (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signal.Signals[name])
