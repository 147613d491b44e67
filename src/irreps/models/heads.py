"""Output heads for response properties, built from dimensions (never from a backbone object).

- ``DipoleHead``: ``mu = sum_i q_i r_i + sum_i mu_i`` with per-atom charges ``q_i`` from
  invariant features (made neutral per structure, so the result is translation invariant)
  and atomic dipoles ``mu_i`` mixed from Cartesian vector (l = 1) features. e·Å.
- ``PolarizabilityHead``: ``alpha = sum_i (a_i 1 + sum_c w_c S_ic)`` from the isotropic
  (l = 0) and symmetric-traceless (l = 2) parts of rank-2 features. Å^3 (or whatever unit the
  training targets use).
"""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.nn.mlp import MLP
from irreps.nn.readout import sum_per_structure


class DipoleHead(torch.nn.Module):
    """Molecular dipole from charges and atomic vector features.

    Parameters
    ----------
    scalar_dim : int
        Width of the invariant per-atom features that predict the charges.
    vector_channels : int
        Number of channels of the per-atom vector features.
    activation : str
        Activation of the charge MLP.
    """

    def __init__(self, scalar_dim: int, vector_channels: int, activation: str = "silu"):
        super().__init__()
        self.charge_mlp = MLP((scalar_dim, max(scalar_dim // 2, 1), 1), activation)
        self.vector_mix = torch.nn.Linear(vector_channels, 1, bias=False)

    def forward(
        self, scalars: Tensor, vectors: Tensor, positions: Tensor, batch: Tensor, num_graphs: int
    ) -> dict[str, Tensor]:
        """``scalars [N, F]``, ``vectors [N, 3, C]``, ``positions [N, 3]`` -> ``dipole [G, 3]``, ``charges [N]``."""
        charges = self.charge_mlp(scalars).squeeze(-1)
        counts = torch.bincount(batch, minlength=num_graphs).clamp_min(1).to(charges.dtype)
        mean = sum_per_structure(charges, batch, num_graphs) / counts
        charges = charges - mean[batch]
        atomic = charges[:, None] * positions + self.vector_mix(vectors).squeeze(-1)
        return {"dipole": sum_per_structure(atomic, batch, num_graphs), "charges": charges}


class PolarizabilityHead(torch.nn.Module):
    """Symmetric polarisability tensor from l = 0 and l = 2 rank-2 features.

    Parameters
    ----------
    tensor_channels : int
        Number of channels of the rank-2 features.
    """

    def __init__(self, tensor_channels: int):
        super().__init__()
        self.isotropic_mix = torch.nn.Linear(tensor_channels, 1)
        self.anisotropic_mix = torch.nn.Linear(tensor_channels, 1, bias=False)

    def forward(self, isotropic: Tensor, anisotropic: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        """``isotropic [N, C]`` (invariants), ``anisotropic [N, 3, 3, C]`` (symmetric traceless) -> ``[G, 3, 3]``."""
        eye = torch.eye(3, dtype=anisotropic.dtype, device=anisotropic.device)
        atomic = self.isotropic_mix(isotropic)[:, :, None] * eye + self.anisotropic_mix(anisotropic).squeeze(-1)
        return sum_per_structure(atomic, batch, num_graphs)
