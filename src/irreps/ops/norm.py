"""Equivariant layer norms: invariant rescaling per irrep (and EquiformerV2's separable variant).

Only ``0e`` features may be centred and shifted; every other feature is divided by a
root-mean-square over channels and components, which is invariant, so the layers are equivariant.
"""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.o3 import Irreps


class _Norm(torch.nn.Module):
    def __init__(self, irreps: Irreps | str, eps: float, affine: bool) -> None:
        super().__init__()
        self.irreps_in = self.irreps_out = Irreps(irreps)
        if eps <= 0:
            raise ValueError(f"layer norm: eps must be > 0, got {eps}")
        self.eps = eps
        self.affine = affine
        # one scale per irrep copy, one bias per 0e channel
        self.weight = torch.nn.Parameter(torch.ones(self.irreps_in.num_irreps)) if affine else None
        num_bias = sum(mul for mul, ir in self.irreps_in if ir.is_scalar())
        self.bias = torch.nn.Parameter(torch.zeros(num_bias)) if affine else None
        self._scalar = [ir.is_scalar() for _, ir in self.irreps_in]

    def _check(self, x: Tensor) -> None:
        if x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"layer norm: expected last size {self.irreps_in.dim} ({self.irreps_in}), got {x.shape[-1]}")

    def _affine(self, parts: list[Tensor]) -> Tensor:
        """Scale each copy and shift the 0e channels of ``parts[k] [..., mul, d]``."""
        if self.affine:
            weights = self.weight.split([mul for mul, _ in self.irreps_in])
            biases = iter(self.bias.split([mul for mul, ir in self.irreps_in if ir.is_scalar()]))
            parts = [
                p * w[:, None] + (next(biases)[:, None] if scalar else 0)
                for p, w, scalar in zip(parts, weights, self._scalar)
            ]
        return torch.cat([p.flatten(-2) for p in parts], dim=-1)

    def _split(self, x: Tensor) -> list[Tensor]:
        return [p.unflatten(-1, (mul, ir.dim)) for p, (mul, ir) in zip(x.split([m.dim for m in self.irreps_in], -1), self.irreps_in)]


def _centre(p: Tensor, eps: float, dims) -> Tensor:
    p = p - p.mean(dim=dims, keepdim=True)
    return p * torch.rsqrt(p.square().mean(dim=dims, keepdim=True) + eps)


class EquivariantLayerNorm(_Norm):
    """Each irrep entry normalised on its own: ``0e`` standardised over its channels, others divided
    by their RMS over channels and components; then a learned scale per copy (bias on ``0e``).

    ``x [..., irreps.dim] -> [..., irreps.dim]``.
    """

    def __init__(self, irreps: Irreps | str, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__(irreps, eps, affine)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        parts = [
            _centre(p, self.eps, (-2, -1)) if scalar else p * torch.rsqrt(p.square().mean(dim=(-2, -1), keepdim=True) + self.eps)
            for p, scalar in zip(self._split(x), self._scalar)
        ]
        return self._affine(parts)


class SeparableLayerNorm(_Norm):
    """EquiformerV2's separable layer norm: all ``0e`` channels standardised together (a plain layer
    norm); all other irreps divided by one shared RMS over their channels and components, each
    degree weighted equally; then a learned scale per copy (bias on ``0e``).

    ``x [..., irreps.dim] -> [..., irreps.dim]``.
    """

    def __init__(self, irreps: Irreps | str, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__(irreps, eps, affine)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        parts = self._split(x)
        scalars = [p for p, s in zip(parts, self._scalar) if s]
        others = [p for p, s in zip(parts, self._scalar) if not s]
        if scalars:
            joined = _centre(torch.cat([p[..., 0] for p in scalars], dim=-1), self.eps, -1)
            scalars = [c[..., None] for c in joined.split([p.shape[-2] for p in scalars], dim=-1)]
        if others:
            ms = torch.stack([p.square().mean(dim=(-2, -1)) for p in others], dim=-1).mean(dim=-1)
            inv = torch.rsqrt(ms + self.eps)[..., None, None]
            others = [p * inv for p in others]
        it_s, it_o = iter(scalars), iter(others)
        return self._affine([next(it_s) if s else next(it_o) for s in self._scalar])
