"""Atomic-energy readout: per-element reference energies plus a global scale and shift.

``E_i = scale * e_i + shift + E0[Z_i]`` where ``e_i`` is the network's raw per-atom output.
The E0s, scale and shift come from the model config, so a model file alone reproduces the
energies it was trained on.

The sum is float64 whatever the model's dtype: E0s of ~1e3 eV per atom put total energies
where float32 resolves only ~1 meV (~2 meV at -17660 eV), the size of the errors that matter.
The network runs in float32; only this affine map and the per-structure sums are float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.ops.scatter import scatter_sum


class AtomicEnergyReadout(torch.nn.Module):
    """Affine map of raw atomic outputs to atomic energies (eV).

    Parameters
    ----------
    num_elements : int
        Number of rows of the E0 table.
    e0s : tuple of float
        Reference energy of each element (eV), in the model's element order; empty means zeros.
    scale, shift : float
        Energy scale (eV) and per-atom shift (eV) applied to the raw outputs.
    """

    def __init__(self, num_elements: int, e0s: tuple[float, ...] = (), scale: float = 1.0, shift: float = 0.0):
        super().__init__()
        if e0s and len(e0s) != num_elements:
            raise ValueError(f"e0s has {len(e0s)} entries but the model has {num_elements} elements")
        # Kept as Python floats (not a buffer) so ``model.float()`` followed by ``.double()``
        # never rounds them; the config is their persistent home.
        self.e0s = tuple(float(e) for e in e0s) if e0s else (0.0,) * num_elements
        self.scale = float(scale)
        self.shift = float(shift)

    def forward(self, raw: Tensor, species: Tensor) -> Tensor:
        """``raw [N]`` (any float dtype), ``species [N]`` (element rows) -> atomic energies
        ``[N]`` in eV, float64."""
        e0s = torch.tensor(self.e0s, dtype=torch.float64, device=raw.device)
        return raw.double() * self.scale + self.shift + e0s[species]


def sum_per_structure(node_values: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Sum per-atom values ``[N, ...]`` over the atoms of each structure: ``[num_graphs, ...]``."""
    return scatter_sum(node_values, batch, num_graphs)
