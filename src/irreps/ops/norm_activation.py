"""Norm nonlinearities: each irrep copy rescaled by an activation of its (invariant) norm.

Two published forms, both exactly equivariant because a copy's norm is invariant and the copy is
only multiplied by a function of it:

* Tensor Field Networks (Thomas et al. 2018): ``eta(||x|| + b) x`` for every copy with ``l > 0``
  (and ``0o``), ``eta(x + b)`` for the ``0e`` scalars;
* SE(3)-Transformer (Fuchs et al. 2020, ``normalize=True, layer_norm=True``):
  ``eta(LayerNorm(||x||)) x / ||x||`` for every copy, the layer norm taken over the channels of
  one irrep entry.

``||x||`` is smoothed to ``sqrt(|x|^2 + eps^2)`` so that features that vanish (an atom without
neighbours has no ``l > 0`` features) keep finite first and second derivatives.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from irreps.o3 import Irreps

Activation = Callable[[Tensor], Tensor]


class NormActivation(torch.nn.Module):
    """``x [..., irreps.dim] -> [..., irreps.dim]`` (see the module docstring).

    Parameters
    ----------
    irreps : Irreps or str
    act : callable
        Pointwise activation ``eta`` of the (shifted or normalised) norms (default SiLU).
    normalize : bool
        Multiply ``act(...)`` by the unit copy ``x / ||x||`` (SE(3)-Transformer) instead of ``x``
        (TFN); then ``0e`` scalars are treated like every other copy (``eta`` of ``|x|`` times the sign).
    layer_norm : bool
        Replace the learned bias by a layer norm (with affine weights) of the norms over the
        channels of each irrep entry (SE(3)-Transformer).
    eps : float
        Smoothing of the norm (> 0).
    """

    def __init__(
        self, irreps: Irreps | str, act: Activation = torch.nn.functional.silu, normalize: bool = False,
        layer_norm: bool = False, eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.irreps_in = self.irreps_out = Irreps(irreps)
        if not eps > 0:
            raise ValueError(f"NormActivation: eps must be > 0, got {eps}")
        self.act, self.normalize, self.eps = act, normalize, eps
        self.norms = (
            torch.nn.ModuleList(torch.nn.LayerNorm(mul) for mul, _ in self.irreps_in) if layer_norm else None
        )
        self.bias = None if layer_norm else torch.nn.Parameter(torch.zeros(self.irreps_in.num_irreps))

    def forward(self, x: Tensor) -> Tensor:
        """``x [..., irreps.dim] -> [..., irreps.dim]``."""
        if x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"NormActivation: expected last size {self.irreps_in.dim} ({self.irreps_in}), got {x.shape[-1]}")
        muls = [mul for mul, _ in self.irreps_in]
        biases = self.bias.split(muls) if self.bias is not None else [None] * len(muls)
        out = []
        for k, (part, (mul, ir), bias) in enumerate(zip(x.split([m.dim for m in self.irreps_in], -1), self.irreps_in, biases)):
            part = part.unflatten(-1, (mul, ir.dim))
            if ir.is_scalar() and not self.normalize:
                out.append(self.act(part[..., 0] + bias))
                continue
            norm = torch.sqrt(part.square().sum(-1) + self.eps**2)  # [..., mul]
            scale = self.act(self.norms[k](norm) if self.norms is not None else norm + bias)
            if self.normalize:
                scale = scale / norm
            out.append((part * scale[..., None]).flatten(-2))
        return torch.cat(out, dim=-1)

    def extra_repr(self) -> str:
        return f"{self.irreps_in}, normalize={self.normalize}, layer_norm={self.norms is not None}"
