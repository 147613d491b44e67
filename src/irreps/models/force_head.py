"""A direct (non-conservative) force head: forces predicted as vectors, not as ``-dE/dx``.

``F_i = sum_j w_ij u_ij`` with ``u_ij`` the unit vector from atom i to neighbour j and an
invariant pair weight ``w_ij = v . act(a_i * a_j * g(r_ij)) fcut(r_ij)`` (``a = act(W s)``
from the atoms' invariant features ``s``, ``g`` a linear map of the radial basis). The weight
is symmetric in i and j while ``u_ji = -u_ij``, so the forces of a structure sum to zero, and
they rotate and reflect as vectors.

Its use is training speed: fitting forces through this head needs no second derivative,
so a training step costs about as much as an energy-only one (2.2x less than a conservative
step for TensorNet on acetylacetone). The trainer can fit forces through it for the first
epochs and then switch to conservative forces (``loss.direct_forces_epochs``), the
pre-train/fine-tune scheme of Bigi, Langer and Ceriotti, "The dark side of the forces:
assessing non-conservative force models for atomistic machine learning" (ICML 2025).
Simulations always use the conservative forces.
"""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.nn.mlp import activation_module
from irreps.ops.scatter import scatter_sum


class DirectForceHead(torch.nn.Module):
    """Per-atom force vectors from invariant atom features and the edges.

    Parameters
    ----------
    scalar_dim : int
        Width of the invariant per-atom features.
    num_rbf : int
        Number of radial basis functions per edge.
    hidden_dim : int
        Width of the pair features.
    activation : str
    """

    def __init__(self, scalar_dim: int, num_rbf: int, hidden_dim: int, activation: str = "silu"):
        super().__init__()
        self.atom = torch.nn.Linear(scalar_dim, hidden_dim)
        self.radial = torch.nn.Linear(num_rbf, hidden_dim)
        self.act = activation_module(activation)
        self.out = torch.nn.Linear(hidden_dim, 1, bias=False)

    def forward(self, scalars: Tensor, edge_index: Tensor, unit: Tensor, rbf: Tensor, fcut: Tensor) -> Tensor:
        """``scalars [N, F]``, ``edge_index [2, E]``, ``unit [E, 3]`` (i to j), ``rbf [E, R]``, ``fcut [E]`` -> ``[N, 3]`` (eV/Å)."""
        i, j = edge_index
        a = self.act(self.atom(scalars))
        pair = self.act(a.index_select(0, i) * a.index_select(0, j) * self.radial(rbf))
        weight = self.out(pair).squeeze(-1) * fcut
        return scatter_sum(weight[:, None] * unit, i, len(scalars))
