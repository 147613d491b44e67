"""Deterministic train/validation/test splits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def split_indices(num_items: int, sizes: Sequence[int | float], seed: int = 0) -> list[np.ndarray]:
    """Disjoint random subsets of ``range(num_items)``, the same for the same ``seed``.

    Parameters
    ----------
    num_items : int
    sizes : sequence of int or sequence of float
        Either counts (all ints, e.g. ``(450, 50)``) or fractions (all floats in [0, 1], e.g.
        ``(0.8, 0.1, 0.1)``). Fractions are rounded to counts; when they sum to 1 the last part
        takes the remainder so every item is used. Parts need not cover all items.
    seed : int
        Seed of the permutation (``numpy.random.default_rng``).

    Returns
    -------
    list of np.ndarray (int64)
        One sorted index array per entry of ``sizes``.

    Raises
    ------
    ValueError
        For negative sizes, mixed ints and floats, fractions outside [0, 1] or summing past 1,
        or counts exceeding ``num_items``.
    """
    counts = _counts(num_items, sizes)
    order = np.random.default_rng(seed).permutation(num_items)
    bounds = np.cumsum([0, *counts])
    return [np.sort(order[a:b]).astype(np.int64) for a, b in zip(bounds[:-1], bounds[1:])]


def _counts(num_items: int, sizes: Sequence[int | float]) -> list[int]:
    if len(sizes) == 0:
        raise ValueError("sizes must name at least one part")
    if any(isinstance(s, bool) for s in sizes):
        raise ValueError(f"sizes must be counts or fractions, got {list(sizes)}")
    if all(isinstance(s, (int, np.integer)) for s in sizes):
        counts = [int(s) for s in sizes]
        if min(counts) < 0:
            raise ValueError(f"split counts must be non-negative, got {counts}")
        if sum(counts) > num_items:
            raise ValueError(f"split counts {counts} add up to {sum(counts)} > {num_items} items")
        return counts
    if all(isinstance(s, (float, np.floating)) for s in sizes):
        fractions = [float(s) for s in sizes]
        if min(fractions) < 0 or max(fractions) > 1:
            raise ValueError(f"split fractions must lie in [0, 1], got {fractions}")
        total = sum(fractions)
        if total > 1 + 1e-9:
            raise ValueError(f"split fractions {fractions} add up to {total} > 1")
        counts = [int(round(f * num_items)) for f in fractions]
        if abs(total - 1) <= 1e-9:
            counts[-1] = max(0, num_items - sum(counts[:-1]))
        while sum(counts) > num_items:  # rounding up several parts can overshoot by a few items
            counts[int(np.argmax(counts))] -= 1
        return counts
    raise ValueError(f"sizes must be all counts (int) or all fractions (float), got {list(sizes)}")
