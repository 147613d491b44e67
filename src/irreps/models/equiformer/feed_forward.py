"""EquiformerV2's feed-forward network on sphere features (per atom; also its energy head).

``DegreeLinear(C -> H)``, an activation, ``DegreeLinear(H -> C_out)``. The activation is one of the
paper's variants: a pointwise MLP on the sphere grid (``use_grid_mlp``; its ``l = 0`` output
replaced by ``act(Linear(x_0))`` when separable), a gate, or a (separable) S2 activation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.nn.mlp import activation_module
from irreps.ops.sphere import DegreeLinear, GateAct, S2Act, SeparableS2Act, SphereGrid


class FeedForward(torch.nn.Module):
    """``[N, (L+1)^2, C] -> [N, (L+1)^2, C_out]``."""

    def __init__(self, lmax: int, channels: int, hidden_channels: int, out_channels: int, activation: str,
                 use_gate_act: bool, use_grid_mlp: bool, use_sep_s2_act: bool, grid_resolution: int | None) -> None:
        super().__init__()
        self.use_grid_mlp, self.use_gate_act, self.use_sep_s2_act = use_grid_mlp, use_gate_act, use_sep_s2_act
        order = [(l, m) for l in range(lmax + 1) for m in range(-l, l + 1)]
        self.so3_linear_1 = DegreeLinear(lmax, channels, hidden_channels)
        self.scalar_mlp = self.gating_linear = None
        if use_grid_mlp:
            self.grid = SphereGrid(order, grid_resolution)
            if use_sep_s2_act:
                self.scalar_mlp = torch.nn.Sequential(torch.nn.Linear(channels, hidden_channels), activation_module(activation))
            h = hidden_channels
            self.grid_mlp = torch.nn.Sequential(
                torch.nn.Linear(h, h, bias=False), activation_module(activation),
                torch.nn.Linear(h, h, bias=False), activation_module(activation),
                torch.nn.Linear(h, h, bias=False),
            )
        elif use_gate_act:
            self.gating_linear = torch.nn.Linear(channels, lmax * hidden_channels)
            self.act = GateAct([l for l, _ in order], hidden_channels, activation_module(activation))
        elif use_sep_s2_act:
            self.gating_linear = torch.nn.Linear(channels, hidden_channels)
            self.act = SeparableS2Act(SphereGrid(order, grid_resolution), activation_module(activation))
        else:
            self.act = S2Act(SphereGrid(order, grid_resolution), activation_module(activation))
        self.so3_linear_2 = DegreeLinear(lmax, hidden_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        h = self.so3_linear_1(x)
        if self.use_grid_mlp:
            h = self.grid.from_grid(self.grid_mlp(self.grid.to_grid(h)))
            if self.scalar_mlp is not None:
                h = torch.cat((self.scalar_mlp(x[:, 0]).unsqueeze(1), h[:, 1:]), 1)
        elif self.gating_linear is not None:
            h = self.act(self.gating_linear(x[:, 0]), h)
        else:
            h = self.act(h)
        return self.so3_linear_2(h)
