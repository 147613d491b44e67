"""Kernel banks of group convolutions on the square grid: one learned kernel, its |H| moved copies.

With ``kappa_{g,s}`` the kernel from input fibre s to output fibre g, the three kinds are

- lift (fields on the grid -> regular features): ``kappa_g(z) = chi_in(g) psi(g^{-1} z)``;
- group (regular -> regular): ``kappa_{g,s}(z) = psi(g^{-1} z, g^{-1} s)``;
- project (regular -> fields): ``kappa_s(z) = chi_out(s) psi(s^{-1} z)``;

``chi`` is 1 for scalar and ``det`` for pseudoscalar fields. Each makes the convolution
``out(x, g) = sum_s sum_y kappa_{g,s}(x - y) in(y, s)`` equivariant. Because g is orthogonal, the
Fourier transform of ``psi(g^{-1} .)`` is ``psi_hat(g^{-1} k)``: the same rule moves a kernel given by
its Fourier coefficients on a centred frequency window, which is how the spectral layers use it.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch

from .planar import FieldType, PlanarGroup

Kind = Literal["lift", "group", "project"]
KINDS = ("lift", "group", "project")


def field_signs(group: PlanarGroup, fields: FieldType | Sequence[FieldType], channels: int) -> torch.Tensor:
    """``[channels, order]`` float64 characters of the channels' field types (one type or one per channel)."""
    if isinstance(fields, str):
        fields = [fields] * channels
    fields = list(fields)
    if len(fields) != channels:
        raise ValueError(f"got {len(fields)} field types for {channels} channels")
    return torch.stack([group.signs(f) for f in fields]) if channels else torch.zeros(0, group.order, dtype=torch.float64)


def _move(kernel: torch.Tensor, group: PlanarGroup, g: int, freq_axes: int) -> torch.Tensor:
    """``psi(g^{-1} .)`` on the last two axes; a pointwise kernel (no frequency axes) does not move."""
    return group.transform_grid(kernel, g) if freq_axes else kernel


def expand_kernel(weight: torch.Tensor, group: PlanarGroup, kind: Kind, in_signs: torch.Tensor,
                  out_signs: torch.Tensor, freq_axes: int) -> torch.Tensor:
    """The bank ``[out, |H_out|, in, |H_in|, *freq]`` from one kernel.

    Parameters
    ----------
    weight : Tensor
        ``[out, in, *freq]`` for lift and project, ``[out, in, order, *freq]`` for group.
    in_signs, out_signs : Tensor
        ``[in, order]`` and ``[out, order]`` characters (see `field_signs`); lift reads the first,
        project the second.
    freq_axes : int
        Trailing kernel axes; the last two (space) move with g, a third one (time) does not.
    """
    real = weight.real if weight.is_complex() else weight
    shape = (1, -1) + (1,) * freq_axes
    if kind == "lift":
        copies = [in_signs[:, g].to(real.dtype).reshape(shape) * _move(weight, group, g, freq_axes)
                  for g in range(group.order)]
        return torch.stack(copies, 1).unsqueeze(3)
    if kind == "group":
        perm = group.regular_permutations
        copies = [_move(weight[:, :, perm[g].to(weight.device)], group, g, freq_axes) for g in range(group.order)]
        return torch.stack(copies, 1)
    if kind == "project":
        shape = (-1, 1) + (1,) * freq_axes
        copies = [out_signs[:, s].to(real.dtype).reshape(shape) * _move(weight, group, s, freq_axes)
                  for s in range(group.order)]
        return torch.stack(copies, 2).unsqueeze(1)
    raise ValueError(f"unknown group-convolution kind {kind!r}: expected one of {KINDS}")


def fibres(group: PlanarGroup, kind: Kind) -> tuple[int, int]:
    """Sizes of the (input, output) group axes of a layer of this kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown group-convolution kind {kind!r}: expected one of {KINDS}")
    return (1 if kind == "lift" else group.order), (1 if kind == "project" else group.order)


class GroupConv(torch.nn.Module):
    """What the spectral and pointwise group convolutions share: group, kind, field types, shapes.

    Inputs are ``[batch, in, *grid]`` for lift and ``[batch, in, order, *grid]`` otherwise; outputs
    ``[batch, out, order, *grid]``, or ``[batch, out, *grid]`` for project. ``*grid`` is
    ``(X, Y)`` or ``(T, X, Y)``; the group moves the last two axes.
    """

    def __init__(self, group: PlanarGroup | str, kind: Kind, in_channels: int, out_channels: int,
                 in_fields: FieldType | Sequence[FieldType] = "scalar",
                 out_fields: FieldType | Sequence[FieldType] = "scalar"):
        super().__init__()
        self.group = group if isinstance(group, PlanarGroup) else PlanarGroup(group)
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"channel counts must be positive, got in={in_channels}, out={out_channels}")
        self.kind, self.in_channels, self.out_channels = kind, in_channels, out_channels
        self.in_fibre, self.out_fibre = fibres(self.group, kind)
        if kind != "lift" and in_fields != "scalar":
            raise ValueError(f"a {kind} layer reads regular features; in_fields applies to lift layers only")
        if kind != "project" and out_fields != "scalar":
            raise ValueError(f"a {kind} layer writes regular features; out_fields applies to project layers only")
        self.register_buffer("in_signs", field_signs(self.group, in_fields, in_channels), persistent=False)
        self.register_buffer("out_signs", field_signs(self.group, out_fields, out_channels), persistent=False)

    def fibred(self, x: torch.Tensor, grid_axes: int) -> torch.Tensor:
        """Check ``x`` and return it as ``[batch, in, in_fibre, *grid]``."""
        lead = 2 if self.kind == "lift" else 3
        if x.dim() != lead + grid_axes or x.shape[1] != self.in_channels or \
                (self.kind != "lift" and x.shape[2] != self.group.order):
            want = "[batch, in, *grid]" if self.kind == "lift" else f"[batch, in, {self.group.order}, *grid]"
            raise ValueError(f"{type(self).__name__} ({self.kind}, in={self.in_channels}, {grid_axes} grid axes) "
                             f"expects {want}, got {list(x.shape)}")
        return x.unsqueeze(2) if self.kind == "lift" else x

    def unfibred(self, y: torch.Tensor) -> torch.Tensor:
        return y.squeeze(2) if self.kind == "project" else y
