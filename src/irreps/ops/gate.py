"""Gated nonlinearity (Weiler et al. 2018; e3nn's ``nn.Gate``): scalars gate the non-scalar irreps."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from irreps.o3 import Irreps

Activation = Callable[[Tensor], Tensor]


def _is_odd(act: Activation) -> bool:
    t = torch.linspace(0.1, 3.0, 17, dtype=torch.float64)
    return bool(torch.allclose(act(-t), -act(t), atol=1e-12))


class Gate(torch.nn.Module):
    """``[scalars, gates, gated] -> [act(scalars), act_gates(gates) * gated]``.

    Parameters
    ----------
    irreps_scalars : Irreps or str
        Scalars passed through ``act``; ``0o`` scalars need an odd ``act`` (e.g. tanh) to keep parity.
    irreps_gated : Irreps or str
        Irreps multiplied by one gate each (any irreps).
    act, act_gates : callable
        Pointwise activations (default SiLU and sigmoid). The gates are ``0e`` scalars, one per
        gated irrep copy, so any ``act_gates`` works.

    ``irreps_in = irreps_scalars + irreps_gates + irreps_gated``, ``irreps_out = irreps_scalars + irreps_gated``.
    """

    def __init__(
        self,
        irreps_scalars: Irreps | str,
        irreps_gated: Irreps | str,
        act: Activation = torch.nn.functional.silu,
        act_gates: Activation = torch.sigmoid,
    ) -> None:
        super().__init__()
        self.irreps_scalars, self.irreps_gated = Irreps(irreps_scalars), Irreps(irreps_gated)
        for _, ir in self.irreps_scalars:
            if ir.l != 0:
                raise ValueError(f"Gate: irreps_scalars must be scalars, got {self.irreps_scalars}")
            if ir.p == -1 and not _is_odd(act):
                raise ValueError("Gate: odd scalars (0o) need an odd activation such as tanh")
        self.irreps_gates = Irreps([(self.irreps_gated.num_irreps, "0e")]) if self.irreps_gated.num_irreps else Irreps()
        self.irreps_in = self.irreps_scalars + self.irreps_gates + self.irreps_gated
        self.irreps_out = self.irreps_scalars + self.irreps_gated
        self.act, self.act_gates = act, act_gates
        # each gate multiplies the 2l+1 components of its copy
        copy_dims = [ir.dim for mul, ir in self.irreps_gated for _ in range(mul)]
        self.register_buffer("_expand", torch.repeat_interleave(torch.arange(len(copy_dims)), torch.tensor(copy_dims, dtype=torch.long)), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """``x [..., irreps_in.dim] -> [..., irreps_out.dim]``."""
        if x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"Gate: expected last size {self.irreps_in.dim} ({self.irreps_in}), got {x.shape[-1]}")
        scalars, gates, gated = x.split([self.irreps_scalars.dim, self.irreps_gates.dim, self.irreps_gated.dim], dim=-1)
        gated = gated * self.act_gates(gates).index_select(-1, self._expand)
        return torch.cat([self.act(scalars), gated], dim=-1)
