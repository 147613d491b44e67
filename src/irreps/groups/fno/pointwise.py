"""Pointwise (1x1) group convolution: channel mixing of G-FNO that keeps the symmetry.

A 1x1 kernel does not move under g, so only the group axis matters: lift copies the input to
every fibre (times ``chi_in(g)``), group mixes fibres by ``w(g^{-1} s)`` (a convolution on H), and
project sums the fibres (times ``chi_out(s)``). The bias is one value per output channel, shared by
all fibres; a pseudoscalar output has none (a constant is not odd under reflections).
"""

from __future__ import annotations

from typing import Sequence

import torch

from .kernels import GroupConv, Kind, expand_kernel
from .planar import FieldType, PlanarGroup


class GroupPointwiseConv(GroupConv):
    """1x1 group convolution of one kind; shapes as in `GroupConv`, any number of grid axes."""

    def __init__(self, group: PlanarGroup | str, kind: Kind, in_channels: int, out_channels: int, bias: bool = True,
                 in_fields: FieldType | Sequence[FieldType] = "scalar",
                 out_fields: FieldType | Sequence[FieldType] = "scalar", dtype: torch.dtype | None = None):
        super().__init__(group, kind, in_channels, out_channels, in_fields, out_fields)
        if bias and kind == "project" and bool((self.out_signs != 1).any()):
            raise ValueError("a pseudoscalar output cannot have a bias (it must change sign under reflections); "
                             "use bias=False")
        group_axis = (self.group.order,) if kind == "group" else ()
        bound = (in_channels * self.in_fibre) ** -0.5
        self.weight = torch.nn.Parameter(torch.empty(out_channels, in_channels, *group_axis, dtype=dtype).uniform_(-bound, bound))
        self.bias = torch.nn.Parameter(torch.empty(out_channels, dtype=dtype).uniform_(-bound, bound)) if bias else None

    def extra_repr(self) -> str:
        return f"{self.group.name}, {self.kind}, in={self.in_channels}, out={self.out_channels}, bias={self.bias is not None}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid_axes = x.dim() - (2 if self.kind == "lift" else 3)
        x = self.fibred(x, grid_axes if grid_axes in (2, 3) else 2)
        bank = expand_kernel(self.weight, self.group, self.kind, self.in_signs, self.out_signs, 0)
        y = torch.einsum("ogis,bis...->bog...", bank.to(x.dtype), x)
        if self.bias is not None:
            y = y + self.bias.reshape((1, -1, 1) + (1,) * grid_axes)
        return self.unfibred(y)
