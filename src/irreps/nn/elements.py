"""Mapping atomic numbers to the row of a model's per-element tables."""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.ops.scatter import recording

MAX_ATOMIC_NUMBER = 118


def check_elements(elements: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless ``elements`` is a non-empty tuple of distinct atomic numbers."""
    if len(elements) == 0:
        raise ValueError("elements must list at least one atomic number")
    bad = [z for z in elements if isinstance(z, bool) or not isinstance(z, int) or not 1 <= z <= MAX_ATOMIC_NUMBER]
    if bad:
        raise ValueError(f"elements must be atomic numbers in 1..{MAX_ATOMIC_NUMBER}, got {bad}")
    if len(set(elements)) != len(elements):
        raise ValueError(f"elements contains duplicates: {list(elements)}")


class ElementIndex(torch.nn.Module):
    """``atomic_numbers [N] -> species [N]``: position of each atom's element in ``elements``.

    Unknown elements raise a ``ValueError`` that names them, so a model never silently reads
    another element's embedding; except while a graph is recorded with symbolic sizes
    (:func:`irreps.ops.scatter.capturing`), where the check cannot run and the recorder checks
    the atomic numbers before each call.
    """

    def __init__(self, elements: tuple[int, ...]):
        super().__init__()
        check_elements(elements)
        self.elements = tuple(elements)
        lookup = torch.full((MAX_ATOMIC_NUMBER + 1,), -1, dtype=torch.long)
        lookup[list(elements)] = torch.arange(len(elements))
        self.register_buffer("lookup", lookup, persistent=False)

    @property
    def num_elements(self) -> int:
        return len(self.elements)

    def forward(self, atomic_numbers: Tensor) -> Tensor:
        in_range = (atomic_numbers >= 0) & (atomic_numbers <= MAX_ATOMIC_NUMBER)
        species = self.lookup[atomic_numbers.clamp(0, MAX_ATOMIC_NUMBER)]
        unknown = ~in_range | (species < 0)
        if not recording() and bool(unknown.any()):
            found = sorted(set(atomic_numbers[unknown].tolist()))
            raise ValueError(
                f"atomic number(s) {found} not among the model's elements {list(self.elements)}"
            )
        return species
