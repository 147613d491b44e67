"""A one-line progress display for long workflows (stderr, redrawn in place on a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Show ``label done/total``, rate, remaining time and a few live values.

    On a terminal the line is redrawn at most every ``interval`` seconds; otherwise (logs, pipes)
    a line is printed at every tenth of the run so log files stay short.

    Parameters
    ----------
    total : int
        Number of units of work (steps).
    label : str
    stream : file-like, optional
        Defaults to ``sys.stderr``; ``enabled=False`` prints nothing.
    """

    def __init__(self, total: int, label: str, stream: TextIO | None = None, enabled: bool = True, interval: float = 0.2):
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.interval = interval
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_tenth = -1

    def update(self, done: int, **values: float) -> None:
        """Report ``done`` units finished, with named values (e.g. ``fmax=0.03``)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        tenth = min(10, 10 * done // self.total)
        if self.tty and now - self._last_draw < self.interval and done < self.total:
            return
        if not self.tty and tenth == self._last_tenth:
            return
        self._last_draw, self._last_tenth = now, tenth
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = f"{(self.total - done) / rate:.0f}s" if rate > 0 else "-"
        extra = "  ".join(f"{k}={v:.4g}" for k, v in values.items())
        line = f"{self.label} {done}/{self.total} ({100 * done / self.total:3.0f}%)  {rate:.1f}/s  eta {eta}  {extra}"
        self.stream.write(("\r" + line + "\033[K") if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line on a terminal."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
