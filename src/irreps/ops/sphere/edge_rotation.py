"""Rotation of sphere features into edge frames, the first step of every eSCN-style convolution.

For edge ``r_ij`` the frame rotation ``R = rotation_to_polar_axis(r_ij)`` takes the edge to +y.
There the edge's own harmonics are non-zero only at ``m = 0``, so an equivariant edge operation
only has to commute with rotations about y; the coefficients with ``|m| > m_max`` are dropped
(eSCN's truncation, still exactly equivariant). Kept coefficients are stored *m-primary*:
``m = 0`` for ``l = 0..L``, then for each ``m = 1..m_max`` the ``+m`` row for ``l = m..L`` followed
by the ``-m`` row, so each ``m`` block is contiguous for :class:`~irreps.ops.sphere.SO2Linear`.

The frame is fixed up to a roll about the edge (a global rotation changes the roll), which the
layers in the edge frame must commute with; the Wigner matrices are computed once per forward
(:class:`EdgeFrames`) and shared by all layers, as in the reference implementation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from irreps.o3 import rotation_to_polar_axis, wigner_D_stack


def m_primary_order(lmax: int, mmax: int) -> list[tuple[int, int]]:
    """``(l, m)`` of each kept edge-frame coefficient, in m-primary order."""
    if not 0 <= mmax <= lmax:
        raise ValueError(f"need 0 <= m_max <= l_max, got l_max={lmax}, m_max={mmax}")
    order = [(l, 0) for l in range(lmax + 1)]
    for m in range(1, mmax + 1):
        order += [(l, m) for l in range(m, lmax + 1)] + [(l, -m) for l in range(m, lmax + 1)]
    return order


class EdgeFrames:
    """The per-edge rotations of one forward pass: ``D [E, K, (L+1)^2]``, the rows ``|m| <= m_max`` of the
    block-diagonal Wigner matrix, in m-primary order (see :class:`EdgeRotation`).

    One dense batched matmul per rotation: per-degree products skip the zero blocks (4-6x fewer
    multiply-adds at ``m_max = 2``, ``L = 4..6``) but the reordering and concatenation they need
    cost more on a CPU than the zeros do (measured 1.4-2x slower forward passes at ``L`` = 2..6).
    ``rescale [(L+1)^2]`` (EquiformerV2's :meth:`EdgeRotation.truncation_rescale`) is folded into the
    inverse rotation once, on first use, and shared by every layer that asks for it.
    """

    def __init__(self, D: Tensor, rescale: Tensor | None = None) -> None:
        self.D, self._rescale = D, rescale
        self._back_rescaled: Tensor | None = None

    def narrow(self, start: int, stop: int) -> EdgeFrames:
        """The frames of edges ``start:stop`` (views; a folded rescale already computed is shared)."""
        part = EdgeFrames(self.D[start:stop], self._rescale)
        if self._back_rescaled is not None:
            part._back_rescaled = self._back_rescaled[start:stop]
        return part

    def rescaled(self) -> EdgeFrames:
        """These frames with the folded rescale computed now (so that :meth:`narrow` parts share it)."""
        if self._rescale is None:
            raise ValueError("EdgeFrames: the rescaled inverse rotation needs frames built with a rescale")
        if self._back_rescaled is None:
            back = self.D.transpose(1, 2)
            self._back_rescaled = back * self._rescale.to(back.dtype)[:, None]
        return self

    def to_edge(self, x: Tensor) -> Tensor:
        """Node-frame features of each edge ``[E, (L+1)^2, C]`` -> edge frame, m-primary ``[E, K, C]``."""
        return torch.bmm(self.D, x)

    def from_edge(self, y: Tensor, rescaled: bool = False) -> Tensor:
        """Edge-frame features ``[E, K', C]`` (m-primary) -> node frame ``[E, (L+1)^2, C]`` (the inverse rotation).

        ``K' <= K``: ``y`` holds the first ``K'`` edge-frame coefficients, the others are zero (the
        ``m = 0`` block alone is ``K' = L + 1``). With ``rescaled``, degrees above ``m_max`` are then
        multiplied by the frames' ``rescale``.
        """
        back = self.rescaled()._back_rescaled if rescaled else self.D.transpose(1, 2)
        k = y.shape[1]
        if k > back.shape[2]:
            raise ValueError(f"EdgeFrames.from_edge: {k} edge-frame coefficients, the frames keep {back.shape[2]}")
        return torch.bmm(back if k == back.shape[2] else back[:, :, :k], y)


class EdgeRotation(torch.nn.Module):
    """Rotations between node frames (all ``(L+1)^2`` coefficients) and edge frames (``|m| <= m_max``).

    ``frames = EdgeRotation(lmax, mmax)(edge_vec)`` gives an :class:`EdgeFrames`;
    ``frames.to_edge(x)`` and ``frames.from_edge(y)`` apply it (``K = len(m_primary_order(lmax,
    mmax))`` coefficients in the edge frame). A zero edge vector uses the identity frame.
    """

    def __init__(self, lmax: int, mmax: int) -> None:
        super().__init__()
        self.lmax, self.mmax = lmax, mmax
        self.order = m_primary_order(lmax, mmax)
        self.register_buffer("_rows", torch.tensor([l * l + l + m for l, m in self.order]), persistent=False)
        self.register_buffer("_rescale", self.truncation_rescale(), persistent=False)

    def forward(self, edge_vec: Tensor) -> EdgeFrames:
        """Edge vectors ``[E, 3]`` -> the truncated Wigner matrices of their frames."""
        if edge_vec.dim() != 2 or edge_vec.shape[1] != 3:
            raise ValueError(f"EdgeRotation: expected edge vectors [E, 3], got {tuple(edge_vec.shape)}")
        blocks = wigner_D_stack(rotation_to_polar_axis(edge_vec), self.lmax)
        e, n = edge_vec.shape[0], (self.lmax + 1) ** 2
        rows = [
            torch.cat([D.new_zeros(e, 2 * l + 1, l * l), D, D.new_zeros(e, 2 * l + 1, n - (l + 1) ** 2)], 2)
            for l, D in enumerate(blocks)
        ]
        return EdgeFrames(torch.cat(rows, 1).index_select(1, self._rows), self._rescale)

    def truncation_rescale(self) -> Tensor:
        """``sqrt((2l+1) / (2 m_max+1))`` per node-frame coefficient of degree ``l > m_max`` (else 1), ``[(L+1)^2]``.

        EquiformerV2 multiplies rotated-back messages by it: a degree keeps ``2 m_max + 1`` of its
        ``2l+1`` components in the edge frame, and this restores its expected magnitude. A factor
        per degree, so equivariance is unaffected.
        """
        return torch.tensor([math.sqrt((2 * l + 1) / (2 * self.mmax + 1)) if l > self.mmax else 1.0
                             for l in range(self.lmax + 1) for _ in range(2 * l + 1)], dtype=torch.float64)
