"""Shared by the tests of commands that draw: catch the figures they save and read back the PNG."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import numpy as np
from matplotlib.figure import Figure
from matplotlib.image import imread


@contextmanager
def saved_figures() -> Iterator[list[Figure]]:
    """Every matplotlib figure saved inside the block, in order (each is still saved)."""
    figures: list[Figure] = []
    original = Figure.savefig

    def record(figure: Figure, *args, **kwargs):
        figures.append(figure)
        return original(figure, *args, **kwargs)

    with mock.patch.object(Figure, "savefig", record):
        yield figures


def png_pixels(path: str | os.PathLike, figure: Figure) -> np.ndarray:
    """The pixels of the PNG at ``path``, checked to be ``figure`` drawn (its shape) and not blank."""
    pixels = imread(path, format="png")
    width, height = figure.get_size_inches()
    assert pixels.ndim == 3 and abs(pixels.shape[0] / pixels.shape[1] - height / width) < 0.01, pixels.shape
    assert pixels[..., :3].std() > 0.05, "a blank image"
    return pixels


def lines(axes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``label -> (x, y)`` of each labelled line of ``axes`` (matplotlib's own ``_child`` labels skipped)."""
    return {
        line.get_label(): (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
        for line in axes.get_lines()
        if not line.get_label().startswith("_")
    }
