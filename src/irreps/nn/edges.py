"""Pairing each edge i->j with its reverse j->i, to evaluate symmetric edge functions once.

A full neighbour list holds every pair twice. Anything that depends only on the distance
(radial bases, radial MLPs, cutoffs) is the same on both edges, so a model can evaluate it on
one edge of each pair and gather: ``values_full = values_half[pairing.expand]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class EdgePairing:
    """Edges of a symmetric list split into canonical halves.

    Attributes
    ----------
    canonical : Tensor [E_half]
        One edge of every reverse pair (the one with the smaller index).
    expand : Tensor [E]
        For every edge, the row in ``canonical`` of its pair.
    """

    canonical: Tensor
    expand: Tensor


def pair_reverse_edges(edge_index: Tensor, shifts: Tensor) -> EdgePairing | None:
    """Match every edge ``(i, j, shift)`` with ``(j, i, -shift)``.

    Parameters
    ----------
    edge_index : Tensor [2, E]
    shifts : Tensor [E, 3]
        Cartesian image offsets (Å); matched after rounding to 1/1024 Å.

    Returns
    -------
    EdgePairing, or None when some edge has no reverse (a half or truncated neighbour list),
    in which case callers evaluate every edge.
    """
    num_edges = edge_index.shape[1]
    if num_edges == 0:
        return None
    q = torch.round(shifts.detach() * 1024.0).long()
    base = 2 * int(q.abs().max()) + 1
    code = torch.cat((q, -q)) + base // 2  # one integer per shift, so a 1-D unique suffices
    code = (code[:, 0] * base + code[:, 1]) * base + code[:, 2]
    unique, inverse = torch.unique(code, return_inverse=True)
    shift_id, reverse_shift_id = inverse[:num_edges], inverse[num_edges:]
    i, j = edge_index
    n = int(edge_index.max()) + 1
    forward_key = (i * n + j) * len(unique) + shift_id
    reverse_key = (j * n + i) * len(unique) + reverse_shift_id
    sorted_forward, order_forward = torch.sort(forward_key)
    sorted_reverse, order_reverse = torch.sort(reverse_key)
    if not torch.equal(sorted_forward, sorted_reverse):
        return None
    partner = torch.empty_like(order_forward)
    partner[order_reverse] = order_forward
    edges = torch.arange(num_edges, device=edge_index.device)
    first = torch.minimum(edges, partner)
    canonical = torch.nonzero(edges <= partner).squeeze(1)
    row = torch.empty_like(edges)
    row[canonical] = torch.arange(len(canonical), device=edge_index.device)
    return EdgePairing(canonical=canonical, expand=row[first])
