"""Equivariant linear layer: channel mixing within each irrep type (e3nn's ``o3.Linear``, 'element' normalised)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from irreps.o3 import Irrep, Irreps


class Linear(torch.nn.Module):
    """``y[out entry of irrep ir] = sum over input entries of irrep ir of W x / sqrt(fan_in)``.

    Parameters
    ----------
    irreps_in, irreps_out : Irreps or str
        Output entries whose irrep is absent from the input are zero (plus their bias for ``0e``).
    biases : bool
        Learned bias on the ``0e`` outputs (the only entries where a constant is equivariant).

    The weights are one flat parameter: for each irrep type (in order of first appearance in
    ``irreps_out``) a ``[fan_in, fan_out]`` matrix, ``N(0, 1)`` initialised, so unit-variance inputs
    give unit-variance outputs.
    """

    def __init__(self, irreps_in: Irreps | str, irreps_out: Irreps | str, biases: bool = False) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        self._groups: list[tuple[Irrep, list[int], list[int], int]] = []  # (ir, in entries, out entries, offset)
        offset = 0
        for ir in dict.fromkeys(ir for _, ir in self.irreps_out):
            ins = [i for i, (mul, i_ir) in enumerate(self.irreps_in) if i_ir == ir and mul > 0]
            outs = [o for o, (_, o_ir) in enumerate(self.irreps_out) if o_ir == ir]
            if ins:
                self._groups.append((ir, ins, outs, offset))
                offset += sum(self.irreps_in[i].mul for i in ins) * sum(self.irreps_out[o].mul for o in outs)
        self.weight_numel = offset
        self.weight = torch.nn.Parameter(torch.randn(offset))
        self._bias_entries = [o for o, (_, ir) in enumerate(self.irreps_out) if ir.is_scalar()] if biases else []
        self.bias = torch.nn.Parameter(torch.zeros(sum(self.irreps_out[o].mul for o in self._bias_entries))) if biases else None

    def forward(self, x: Tensor) -> Tensor:
        """``x [..., irreps_in.dim] -> [..., irreps_out.dim]``."""
        if x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"Linear: expected last size {self.irreps_in.dim} ({self.irreps_in}), got {x.shape[-1]}")
        batch = x.shape[:-1]
        x = x.reshape(-1, self.irreps_in.dim)
        n = x.shape[0]
        parts_in = x.split([m.dim for m in self.irreps_in], dim=1)
        out: list[Tensor | None] = [None] * len(self.irreps_out)
        for ir, ins, outs, offset in self._groups:
            fan_in = sum(self.irreps_in[i].mul for i in ins)
            fan_out = sum(self.irreps_out[o].mul for o in outs)
            xi = torch.cat([parts_in[i].reshape(n, self.irreps_in[i].mul, ir.dim) for i in ins], dim=1)  # [n, fan_in, d]
            w = self.weight[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out) / math.sqrt(fan_in)
            y = (xi.transpose(1, 2) @ w).transpose(1, 2)  # [n, fan_out, d]
            for o, yo in zip(outs, y.split([self.irreps_out[o].mul for o in outs], dim=1)):
                out[o] = yo.reshape(n, self.irreps_out[o].dim)
        if self.bias is not None:
            for o, b in zip(self._bias_entries, self.bias.split([self.irreps_out[o].mul for o in self._bias_entries])):
                out[o] = b.expand(n, -1) if out[o] is None else out[o] + b
        parts = [x.new_zeros(n, m.dim) if o is None else o for o, m in zip(out, self.irreps_out)]
        return torch.cat(parts, dim=1).reshape(*batch, self.irreps_out.dim)

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {self.irreps_out}, weight_numel={self.weight_numel}"
