"""Mapping atomic numbers to the row of a model's per-element tables."""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.capture import composed

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
    another element's embedding; inside a recorded graph (:func:`irreps.capture.capturing`,
    ``torch.compile``) the check is a runtime assertion instead, which needs no data-dependent branch.
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
        if composed():  # a recorded graph cannot branch on data: it asserts when it runs
            torch._assert_async(~unknown.any(), "atomic numbers not among the model's elements")
        elif bool(unknown.any()):
            found = sorted(set(atomic_numbers[unknown].tolist()))
            raise ValueError(
                f"atomic number(s) {found} not among the model's elements {list(self.elements)}"
            )
        return species


class ElementRowIndices:
    """Mixin giving an energy model ``graph_indices`` when its only data-dependent index is the element rows.

    A captured training step (:mod:`irreps.train.compiled_step`) calls ``graph_indices`` eagerly and
    passes the result to ``atomic_outputs(..., indices=)``, so an unknown element raises
    :class:`ElementIndex`'s ``ValueError`` before recording rather than an assertion inside it.
    The model needs an ``element_index`` (:class:`ElementIndex`).
    """

    element_index: ElementIndex

    def graph_indices(self, graph) -> dict[str, Tensor]:
        """``species``: the element row of every atom of ``graph`` [N]."""
        return {"species": self.element_index(graph.atomic_numbers)}

    def element_rows(self, graph, indices: dict[str, Tensor] | None) -> Tensor:
        """``indices["species"]`` when given (a captured step), else the rows computed from ``graph``."""
        return self.element_index(graph.atomic_numbers) if indices is None else indices["species"]
