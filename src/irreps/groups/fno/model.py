"""G-FNO and FNO: lift, Fourier blocks, projection (Li et al., 2021; Helwig et al., ICML 2023).

``v_0 = P(a)`` (pointwise lift), ``v_{l+1} = gelu(K_l v_l + W_l v_l)`` (spectral + pointwise group
convolutions; no activation after the last block), ``u = Q(v_L)`` with ``Q`` a pointwise
group convolution, gelu, and a pointwise projection to the output fields. With
``group="trivial"`` every group convolution is an ordinary one and this is the FNO of Li et al.
(without appended grid coordinates: on a periodic domain they would only break the translation
symmetry both models share); with p4 / p4m it is G-FNO, equivariant to the 90° rotations (and
reflections) of the grid and to its circular shifts.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .planar import FieldType, GroupName, PlanarGroup
from .pointwise import GroupPointwiseConv
from .spectral import GroupSpectralConv


class GFNO(torch.nn.Module):
    """Group-equivariant Fourier neural operator on a square periodic grid, 2D or 2D+time.

    Parameters
    ----------
    group : {"trivial", "p4", "p4m"}
        "trivial" gives the plain FNO.
    in_channels, out_channels : int
    width : int
        Channels per group element of the hidden regular features (G-FNO's papers reduce it by
        about sqrt(|H|) against FNO for a similar parameter count).
    modes : int
        Spatial modes m (``|k| <= m - 1`` kept); ``time_modes`` m_t for 2D+time, else None.
    num_layers : int
        Fourier blocks.
    projection_width : int
        Hidden channels (per group element) of the projection Q.
    in_fields, out_fields :
        "scalar" or "pseudoscalar", one for all channels or one per channel; reflections change
        the sign of pseudoscalars (e.g. vorticity). Only p4m tells them apart.

    Shapes: ``[batch, in_channels, X, X]`` -> ``[batch, out_channels, X, X]`` (2D) or with a time
    axis ``[batch, c, T, X, X]`` (2D+time; the output keeps T).
    """

    def __init__(self, group: GroupName = "p4", in_channels: int = 1, out_channels: int = 1, width: int = 16,
                 modes: int = 8, time_modes: int | None = None, num_layers: int = 4, projection_width: int = 64,
                 in_fields: FieldType | Sequence[FieldType] = "scalar",
                 out_fields: FieldType | Sequence[FieldType] = "scalar", dtype: torch.dtype | None = None):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.group = PlanarGroup(group)
        self.grid_axes = 2 if time_modes is None else 3
        out_bias = isinstance(out_fields, str) and out_fields == "scalar" or \
            not isinstance(out_fields, str) and all(f == "scalar" for f in out_fields)
        self.lift = GroupPointwiseConv(self.group, "lift", in_channels, width, in_fields=in_fields, dtype=dtype)
        self.spectral = torch.nn.ModuleList(
            GroupSpectralConv(self.group, "group", width, width, modes, time_modes, dtype=dtype) for _ in range(num_layers))
        self.pointwise = torch.nn.ModuleList(
            GroupPointwiseConv(self.group, "group", width, width, dtype=dtype) for _ in range(num_layers))
        self.hidden = GroupPointwiseConv(self.group, "group", width, projection_width, dtype=dtype)
        self.project = GroupPointwiseConv(self.group, "project", projection_width, out_channels, bias=out_bias,
                                          out_fields=out_fields, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 + self.grid_axes:
            axes = "X, X" if self.grid_axes == 2 else "T, X, X"
            raise ValueError(f"GFNO expects [batch, channels, {axes}], got {list(x.shape)}")
        v = self.lift(x)
        for i, (spectral, pointwise) in enumerate(zip(self.spectral, self.pointwise)):
            v = spectral(v) + pointwise(v)
            if i < len(self.spectral) - 1:
                v = torch.nn.functional.gelu(v)
        return self.project(torch.nn.functional.gelu(self.hidden(v)))
