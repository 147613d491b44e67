"""Radial basis functions: expansions of an interatomic distance into ``num_basis`` features.

Each basis is a ``torch.nn.Module`` mapping distances ``[...]`` (Å) to ``[..., num_basis]``.
Centres and widths are buffers (fixed) unless ``trainable=True``, so they travel with the
model's state dict either way.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from irreps.ops.cutoff import cosine_cutoff


def _check(num_basis: int, cutoff: float) -> None:
    if num_basis < 1:
        raise ValueError(f"num_basis must be >= 1, got {num_basis}")
    if not cutoff > 0:
        raise ValueError(f"cutoff must be > 0 Å, got {cutoff}")


def flush_underflow(values: Tensor) -> Tensor:
    """``values`` with entries below ``sqrt(tiny)`` in magnitude set to 0 (``tiny``: the dtype's
    smallest normal number; ~1.1e-19 in float32, ~1.5e-154 in float64).

    Gaussian-like bases underflow far from their centres: in float32 about 5% of TensorNet's
    exp-normal features on acac are subnormal (1e-45..1e-38), and products of small ones
    (cutoff x basis x geometry) make more. Arithmetic on subnormal operands takes a slow path in
    the CPU: a matrix product of an ``[E, 32]`` basis holding them ran 400x slower (30 ms against
    0.08 ms for 1000 edges). Above ``sqrt(tiny)`` a product of two such values stays normal.
    The change (< 1e-19 against features of order 1) is far below float32 rounding;
    gradients of flushed entries are 0.
    """
    return values.masked_fill(values.abs() < math.sqrt(torch.finfo(values.dtype).tiny), 0.0)


class _Basis(torch.nn.Module):
    def __init__(self, num_basis: int, cutoff: float, trainable: bool, **params: Tensor):
        super().__init__()
        _check(num_basis, cutoff)
        self.num_basis = num_basis
        self.cutoff = float(cutoff)
        for name, value in params.items():
            if trainable:
                self.register_parameter(name, torch.nn.Parameter(value))
            else:
                self.register_buffer(name, value)


class ExpNormalBasis(_Basis):
    """PhysNet's exponential-normal basis with a cosine cutoff, as used by TensorNet.

    ``phi_k(r) = f_cos(r) * exp(-beta_k (exp(-alpha r) - mu_k)^2)`` with ``alpha = 5 / r_c``,
    centres ``mu_k`` evenly spaced in ``[exp(-r_c), 1]`` and
    ``beta_k = (2 (1 - exp(-r_c)) / num_basis)^-2``.
    The exponential map puts more resolution at short distances.
    """

    def __init__(self, num_basis: int, cutoff: float, trainable: bool = False):
        start = math.exp(-cutoff)
        means = torch.linspace(start, 1.0, num_basis, dtype=torch.float64)
        betas = torch.full((num_basis,), (2.0 / num_basis * (1.0 - start)) ** -2, dtype=torch.float64)
        super().__init__(
            num_basis, cutoff, trainable,
            means=means.to(torch.get_default_dtype()), betas=betas.to(torch.get_default_dtype()),
        )
        self.alpha = 5.0 / cutoff

    def forward(self, r: Tensor) -> Tensor:
        r = r.unsqueeze(-1)
        return flush_underflow(
            cosine_cutoff(r, self.cutoff) * torch.exp(-self.betas * (torch.exp(-self.alpha * r) - self.means) ** 2)
        )


class GaussianBasis(_Basis):
    """Gaussians ``exp(-(r - mu_k)^2 / (2 sigma^2))`` with centres evenly spaced on ``[0, r_c]``.

    The width ``sigma`` is ``width`` times the centre spacing: 1 (the default) is SchNet's choice,
    so neighbouring functions overlap smoothly; fairchem's eSCN/EquiformerV2 use 2.
    """

    def __init__(self, num_basis: int, cutoff: float, trainable: bool = False, width: float = 1.0):
        if not width > 0:
            raise ValueError(f"GaussianBasis: width must be > 0, got {width}")
        means = torch.linspace(0.0, cutoff, num_basis)
        spacing = cutoff / max(num_basis - 1, 1)
        super().__init__(num_basis, cutoff, trainable, means=means, widths=torch.full((num_basis,), width * spacing))

    def forward(self, r: Tensor) -> Tensor:
        return flush_underflow(torch.exp(-0.5 * ((r.unsqueeze(-1) - self.means) / self.widths) ** 2))


class BesselBasis(_Basis):
    """DimeNet / NequIP Bessel basis ``sqrt(2 / r_c) sin(k pi r / r_c) / r`` for k = 1..num_basis.

    These are the radial eigenfunctions of a spherical well of radius ``r_c``; at ``r -> 0``
    the value tends to ``sqrt(2 / r_c) k pi / r_c`` (taken exactly so zero-length inputs stay finite).
    """

    def __init__(self, num_basis: int, cutoff: float, trainable: bool = False):
        frequencies = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) * (math.pi / cutoff)
        super().__init__(num_basis, cutoff, trainable, frequencies=frequencies)
        self.prefactor = math.sqrt(2.0 / cutoff)

    def forward(self, r: Tensor) -> Tensor:
        r = r.unsqueeze(-1)
        small = r.abs() < 1e-9
        safe_r = torch.where(small, torch.ones_like(r), r)
        value = torch.sin(self.frequencies * safe_r) / safe_r
        return self.prefactor * torch.where(small, self.frequencies.expand_as(value), value)
