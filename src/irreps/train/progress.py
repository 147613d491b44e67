"""A per-epoch progress bar (tqdm) shown only on an interactive terminal."""

from __future__ import annotations

from tqdm import tqdm


class ProgressBar:
    """Counts the batches of an epoch; invisible when disabled or when stderr is not a terminal.

    Logs and test output therefore get one summary line per epoch, not bar redraws.
    """

    def __init__(self, total: int, description: str, enabled: bool = True):
        # disable=None lets tqdm hide itself when stderr is not a TTY
        self._bar = tqdm(total=total, desc=description, leave=False, disable=None if enabled else True, unit="batch")

    def update(self, postfix: str = "") -> None:
        self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


def progress_bar(total: int, description: str, enabled: bool = True) -> ProgressBar:
    """A :class:`ProgressBar` over ``total`` steps."""
    return ProgressBar(total, description, enabled)
