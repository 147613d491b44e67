"""Equivariant layers on multivector features ``[..., channels, 2^n]``: CGENN and GLGENN.

CGENN (Ruhe, Brandstetter & Forré 2023) gives every grade its own weights: a grade-wise linear map,
a weighted geometric product with one weight per (left grade, right grade, output grade) path, a
normalisation by the extended quadratic form of each grade and a gate on grade invariants. GLGENN
(Filimoshina & Shirokov 2025) ties the weights of grades k with the same k mod 4: the four
subspaces on which the grade involution and reversion have fixed signs (their "quaternion types").
Both are built here from the same layers with ``sharing="grade"`` (CGENN) or
``sharing="quaternion"`` (GLGENN); tying weights across blocks of whole grades keeps every map
equivariant to O(p, q) (grade projections and the geometric product commute with the action) and
cuts the per-block weight count from n + 1 to min(4, n + 1).
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from .algebra import CliffordAlgebra

Sharing = Literal["grade", "quaternion"]
EPS = 1e-6


def blade_blocks(algebra: CliffordAlgebra, sharing: Sharing) -> tuple[torch.Tensor, int]:
    """``(block index of each blade [2^n], number of blocks)`` for a weight-sharing scheme."""
    if sharing == "grade":
        return algebra.grades.clone(), algebra.dim + 1
    if sharing == "quaternion":
        return algebra.grades % 4, min(4, algebra.dim + 1)
    raise ValueError(f"sharing must be 'grade' (CGENN) or 'quaternion' (GLGENN), got {sharing!r}")


class _BlockModule(torch.nn.Module):
    """Holds the algebra and the blade -> block map as a buffer (so it follows ``.to(device)``)."""

    def __init__(self, algebra: CliffordAlgebra, sharing: Sharing):
        super().__init__()
        self.algebra, self.sharing = algebra, sharing
        block, self.num_blocks = blade_blocks(algebra, sharing)
        self.register_buffer("block", block, persistent=False)
        self.register_buffer("blade_squares", algebra.blade_squares, persistent=False)

    def _check(self, x: torch.Tensor, channels: int) -> None:
        if x.dim() < 2 or x.shape[-2:] != (channels, self.algebra.num_blades):
            raise ValueError(f"{type(self).__name__} expects [..., {channels}, {self.algebra.num_blades}] "
                             f"multivector features, got shape {list(x.shape)}")

    def block_forms(self, x: torch.Tensor, skip_scalar: bool = False) -> torch.Tensor:
        """``[..., channels, num_blocks]``: the extended quadratic form of each block (invariant),
        without the grade-0 term when ``skip_scalar``."""
        terms = x * x * self.blade_squares.to(x.dtype)
        if skip_scalar:
            terms = torch.cat([torch.zeros_like(terms[..., :1]), terms[..., 1:]], dim=-1)
        out = x.new_zeros(*x.shape[:-1], self.num_blocks)
        return out.index_add_(-1, self.block, terms)


class MultivectorLinear(_BlockModule):
    """``y_o = sum_i w[o, i, block] x_i`` block by block, plus a learned scalar (grade-0) bias.

    ``[..., channels_in, 2^n] -> [..., channels_out, 2^n]``.
    """

    def __init__(self, algebra: CliffordAlgebra, channels_in: int, channels_out: int, sharing: Sharing = "grade",
                 bias: bool = True):
        super().__init__(algebra, sharing)
        if channels_in < 1 or channels_out < 1:
            raise ValueError(f"channel counts must be positive, got {channels_in} -> {channels_out}")
        self.channels_in, self.channels_out = channels_in, channels_out
        self.weight = torch.nn.Parameter(torch.randn(channels_out, channels_in, self.num_blocks) / math.sqrt(channels_in))
        self.bias = torch.nn.Parameter(torch.zeros(channels_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x, self.channels_in)
        y = torch.einsum("...id,oid->...od", x, self.weight[:, :, self.block])
        if self.bias is not None:
            y = torch.cat([y[..., :1] + self.bias[:, None], y[..., 1:]], dim=-1)
        return y


class MultivectorNormalization(_BlockModule):
    """``x_b / (sigmoid(a_b) (|x_b| - 1) + 1)`` per channel and block, ``|x_b| = |q(x_b)|^(1/2)`` (smoothed).

    Learns how far to normalise each block, from not at all (a -> -inf) to unit norm (a -> inf).
    """

    def __init__(self, algebra: CliffordAlgebra, channels: int, sharing: Sharing = "grade"):
        super().__init__(algebra, sharing)
        self.channels = channels
        self.a = torch.nn.Parameter(torch.zeros(channels, self.num_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x, self.channels)
        norms = (self.block_forms(x) ** 2 + EPS**2) ** 0.25  # smooth |q|^(1/2): finite gradient at 0
        scale = torch.sigmoid(self.a) * (norms - 1) + 1
        return x / (scale[..., self.block] + EPS)


class MultivectorGate(_BlockModule):
    """``x_b * sigmoid(a_b s_b + c_b)``: the block containing grade 0 is gated by its scalar part plus the
    quadratic forms of its other grades, every other block by its quadratic form (CGENN's MVSiLU)."""

    def __init__(self, algebra: CliffordAlgebra, channels: int, sharing: Sharing = "grade"):
        super().__init__(algebra, sharing)
        self.channels = channels
        self.a = torch.nn.Parameter(torch.ones(channels, self.num_blocks))
        self.c = torch.nn.Parameter(torch.zeros(channels, self.num_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x, self.channels)
        forms = self.block_forms(x, skip_scalar=True)
        # grade 0 enters through its signed value (a SiLU on scalars), not its square
        invariants = torch.cat([forms[..., :1] + x[..., :1], forms[..., 1:]], dim=-1)
        gates = torch.sigmoid(self.a * invariants + self.c)
        return x * gates[..., self.block]


class GeometricProductLayer(_BlockModule):
    """``[L(x) + P(x, N(R(x)))] / sqrt(2)`` per channel, with the weighted geometric product

    ``P(x, y)_c = sum_{i, j, k} w[c, b(i), b(j), b(k)] <<x_c>_i <y_c>_j>_k`` (b the block of a grade),
    R a linear map without bias, N a `MultivectorNormalization` and L a linear map with bias; with
    ``include_linear=False`` the layer is ``P(x, N(R(x)))`` (GLGENN's form).
    """

    def __init__(self, algebra: CliffordAlgebra, channels: int, sharing: Sharing = "grade",
                 include_linear: bool = True, normalization: bool = True):
        super().__init__(algebra, sharing)
        self.channels = channels
        self.linear_right = MultivectorLinear(algebra, channels, channels, sharing, bias=False)
        self.normalization = MultivectorNormalization(algebra, channels, sharing) if normalization else None
        self.linear_left = MultivectorLinear(algebra, channels, channels, sharing, bias=True) if include_linear else None
        left, right, out, coeff = algebra.product_entries("geometric")
        nb = self.num_blocks
        path_key = (self.block[left] * nb + self.block[right]) * nb + self.block[out]
        keys, path = torch.unique(path_key, return_inverse=True)  # only the paths some entry uses
        self.num_paths = len(keys)
        for name, value in (("left", left), ("right", right), ("out", out), ("coeff", coeff), ("path", path)):
            self.register_buffer(name, value, persistent=False)
        self.weight = torch.nn.Parameter(torch.randn(channels, self.num_paths) / math.sqrt(algebra.dim + 1))

    def product(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The weighted geometric product ``P(x, y)`` of ``[..., channels, 2^n]`` features."""
        weights = self.coeff.to(x.dtype) * self.weight[:, self.path]  # [channels, entries]
        terms = x[..., self.left] * y[..., self.right] * weights
        return torch.zeros_like(x).index_add_(-1, self.out, terms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x, self.channels)
        y = self.linear_right(x)
        if self.normalization is not None:
            y = self.normalization(y)
        out = self.product(x, y)
        if self.linear_left is None:
            return out
        return (self.linear_left(x) + out) / math.sqrt(2)
