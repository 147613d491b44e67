"""The point groups of the square grid (trivial, C4 = p4's rotations, D4 = p4m's) and their actions.

An element is the integer matrix ``F^m R^r`` (``R`` the 90° rotation, ``F`` the reflection
``y -> -y``), indexed ``4 m + r``; the multiplication table, inverses and determinants are computed
from the matrices, not typed. Arrays are transformed about their centre ``(n - 1) / 2``, the
convention of ``torch.rot90`` / ``torch.flip``: for a grid, ``(g . f)(x) = f(g^{-1} x)``; for a
centred frequency window of size ``2 m - 1`` the same rule is the rotation of frequencies about 0.

Feature types (what `act` applies):

- ``"scalar"``: ``f(x) -> f(g^{-1} x)``;
- ``"pseudoscalar"``: ``f(x) -> det(g) f(g^{-1} x)`` (the vorticity of a 2D flow, for instance);
- regular features ``F(x, s)`` (group axis of size ``|H|`` before the grid axes):
  ``F(x, s) -> F(g^{-1} x, g^{-1} s)``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

import torch

GroupName = Literal["trivial", "p4", "p4m"]
FieldType = Literal["scalar", "pseudoscalar"]
_ROTATION = torch.tensor([[0, -1], [1, 0]])
_REFLECTION = torch.tensor([[1, 0], [0, -1]])


class PlanarGroup:
    """The stabiliser ``H`` of the wallpaper group ``p4`` or ``p4m`` (or the trivial group, for FNO).

    Attributes
    ----------
    matrices : Tensor
        ``[order, 2, 2]`` integer matrices acting on (row, column) coordinates of the grid.
    mul : Tensor
        ``[order, order]``: ``mul[g, h]`` is the index of ``g h``.
    inverse : Tensor
        ``[order]``.
    det : Tensor
        ``[order]`` of ±1, the character of pseudoscalars.
    """

    def __init__(self, name: GroupName):
        if name not in ("trivial", "p4", "p4m"):
            raise ValueError(f"unknown planar group {name!r}: expected 'trivial', 'p4' or 'p4m'")
        self.name = name
        rotations = 1 if name == "trivial" else 4
        mats = []
        for m in range(2 if name == "p4m" else 1):
            for r in range(rotations):
                mats.append(torch.linalg.matrix_power(_REFLECTION, m) @ torch.linalg.matrix_power(_ROTATION, r))
        self.matrices = torch.stack(mats)
        self.order = len(mats)
        flat = self.matrices.reshape(self.order, 4)
        prod = torch.einsum("gij,hjk->ghik", self.matrices, self.matrices).reshape(self.order, self.order, 1, 4)
        self.mul = (prod == flat).all(-1).float().argmax(-1)
        self.inverse = (self.mul == 0).float().argmax(-1)
        self.det = torch.linalg.det(self.matrices.double()).round().long()
        self._index_cache: dict[tuple[int, int], torch.Tensor] = {}

    def __repr__(self) -> str:
        return f"PlanarGroup({self.name!r})"

    @cached_property
    def regular_permutations(self) -> torch.Tensor:
        """``[order, order]``: row g lists ``g^{-1} s`` over s (how g moves the group axis)."""
        return self.mul[self.inverse]

    def signs(self, field: FieldType) -> torch.Tensor:
        """``[order]`` float64: the character of a scalar (all ones) or pseudoscalar (det) field."""
        if field not in ("scalar", "pseudoscalar"):
            raise ValueError(f"unknown field type {field!r}: expected 'scalar' or 'pseudoscalar'")
        return torch.ones(self.order, dtype=torch.float64) if field == "scalar" else self.det.double()

    def source_index(self, g: int, n: int) -> torch.Tensor:
        """``[n * n]`` flat indices: entry x of ``g . A`` is entry ``g^{-1} x`` of ``A`` (centre (n-1)/2)."""
        if (g, n) not in self._index_cache:
            self._index_cache[g, n] = self._source_index(g, n)
        return self._index_cache[g, n]

    def _source_index(self, g: int, n: int) -> torch.Tensor:
        centre = (n - 1) / 2
        coords = torch.stack(torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij"), -1).reshape(-1, 2)
        inv = self.matrices[self.inverse[g]].double()
        src = ((coords.double() - centre) @ inv.T + centre).round().long()
        return src[:, 0] * n + src[:, 1]

    def transform_grid(self, x: torch.Tensor, g: int) -> torch.Tensor:
        """Move a square array on its last two axes by element g: ``out(x) = x(g^{-1} x)``."""
        n = x.shape[-1]
        if x.dim() < 2 or x.shape[-2] != n:
            raise ValueError(f"group elements act on square grids in the last two axes, got shape {list(x.shape)}")
        index = self.source_index(g, n).to(x.device)
        return x.flatten(-2)[..., index].reshape(x.shape)

    def act(self, x: torch.Tensor, g: int, field: FieldType | Literal["regular"] = "scalar", group_axis: int = 2) -> torch.Tensor:
        """Apply element g to a field: see the module docstring for the three types.

        ``x`` is ``[..., X, Y]`` (or ``[..., T, X, Y]``: time is not moved); for ``"regular"`` the
        group axis (size ``order``) is ``group_axis``.
        """
        if not 0 <= g < self.order:
            raise ValueError(f"{self} has {self.order} elements, got element {g}")
        moved = self.transform_grid(x, g)
        if field == "regular":
            if moved.shape[group_axis] != self.order:
                raise ValueError(f"regular features need a group axis {group_axis} of size {self.order}, "
                                 f"got shape {list(x.shape)}")
            return moved.index_select(group_axis, self.regular_permutations[g].to(x.device))
        return moved * self.signs(field)[g].to(x.dtype)
