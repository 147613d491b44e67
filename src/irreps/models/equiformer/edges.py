"""The per-forward edge context shared by every layer of the eSCN-family models."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from irreps.ops.cutoff import polynomial_cutoff
from irreps.ops.sphere import EdgeFrames, EdgeRotation


@dataclass
class EdgeContext:
    """Edges ``j -> i`` within the cutoff and what every layer needs about them.

    Attributes
    ----------
    senders, receivers : Tensor [E]
    D : EdgeFrames
        Edge-frame rotations (:class:`~irreps.ops.sphere.EdgeRotation`).
    basis : Tensor [E, B]
        Distance basis.
    species : Tensor [N]
        Element rows of all atoms (including the isolated ones the models append).
    smooth : Tensor [E]
        Polynomial envelope of each edge (for neighbour occupancy, always computed).
    envelope : Tensor [E] or None
        ``smooth`` where the model uses an envelope, else None.
    """

    senders: Tensor
    receivers: Tensor
    D: EdgeFrames
    basis: Tensor
    species: Tensor
    smooth: Tensor
    envelope: Tensor | None


def edge_context(edge_index: Tensor, positions: Tensor, shifts: Tensor, species: Tensor, cutoff: float,
                 rotation: EdgeRotation, basis: torch.nn.Module, envelope: bool) -> EdgeContext:
    """Edges of ``edge_index`` (rows: receiver ``i``, sender ``j``) shorter than ``cutoff``.

    ``r_ij = pos[j] - pos[i] + shift``; the graph's neighbour list may reach further than the
    model's cutoff, so longer edges are dropped here.
    """
    receivers, senders = edge_index
    vectors = positions[senders] - positions[receivers] + shifts
    length = vectors.square().sum(-1).clamp_min(1e-24).sqrt()
    inside = torch.nonzero(length < cutoff).squeeze(1)
    receivers, senders = receivers.index_select(0, inside), senders.index_select(0, inside)
    vectors, length = vectors.index_select(0, inside), length.index_select(0, inside)
    smooth = polynomial_cutoff(length, cutoff)
    return EdgeContext(senders, receivers, rotation(vectors), basis(length), species, smooth,
                       smooth if envelope else None)


def with_isolated_atoms(species: Tensor, num_elements: int) -> Tensor:
    """``species`` followed by one row of each element: atoms without neighbours whose outputs the
    models subtract, so a lone atom gets exactly its E0 (plus shift)."""
    return torch.cat((species, torch.arange(num_elements, device=species.device)))
