"""Atomic-energy readout: per-element reference energies plus a global scale and shift.

``E_i = scale * e_i + shift w_i + E0[Z_i]`` where ``e_i`` is the network's raw per-atom output
and ``w_i`` is 1, or the atom's :func:`neighbour_occupancy` (0 without neighbours, ~1 in a
molecule or solid) so that a lone atom gets exactly its E0 while the shift still takes the
mean interaction energy off the network. The E0s, scale and shift come from the model
config, so a model file alone reproduces the energies it was trained on.

The sum is float64 whatever the model's dtype: E0s of ~1e3 eV per atom put total energies
where float32 resolves only ~1 meV (~2 meV at -17660 eV), the size of the errors that matter.
The network runs in float32; only this affine map and the per-structure sums are float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.nn.elements import check_elements
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
        self.e0s = tuple(float(e) for e in e0s) if e0s else (0.0,) * num_elements
        self.scale = float(scale)
        self.shift = float(shift)
        # The numbers also live in a float64 buffer, so a captured training step takes them as
        # inputs, not as constants baked into its graph: one compiled program then serves every
        # split and dataset of a model (issue 32). The Python floats stay their source: after a
        # cast (``model.float()`` then ``.double()``) the buffer is rebuilt from them, unrounded.
        self.register_buffer("affine", self._affine_table(torch.device("cpu")), persistent=False)

    def _affine_table(self, device: torch.device) -> Tensor:
        """``[E0 of each element..., scale, shift]`` in float64."""
        return torch.tensor([*self.e0s, self.scale, self.shift], dtype=torch.float64, device=device)

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        self.affine = self._affine_table(self.affine.device)
        return self

    def forward(self, raw: Tensor, species: Tensor, occupancy: Tensor | None = None) -> Tensor:
        """``raw [N]`` (any float dtype), ``species [N]`` (element rows) -> atomic energies
        ``[N]`` in eV, float64; ``occupancy [N]`` (:func:`neighbour_occupancy`), when given,
        weights the shift of each atom."""
        e0s, scale, shift = self.affine[:-2], self.affine[-2], self.affine[-1]
        shift = shift if occupancy is None else shift * occupancy.double()
        return raw.double() * scale + shift + e0s[species]


def neighbour_occupancy(cutoff_values: Tensor, receivers: Tensor, num_atoms: int) -> Tensor:
    """How surrounded each atom is: ``w_i = 1 - prod_j (1 - f_c(r_ij))``, [N] in [0, 1].

    Zero for an atom without neighbours inside the cutoff, close to one with a neighbour well
    inside it (0.89 for one neighbour at 1.1 Å under a 5 Å cosine cutoff, > 0.98 for the
    atoms of acetylacetone), and as smooth as ``f_c``: every factor goes to 1 at the cutoff.

    Parameters
    ----------
    cutoff_values : Tensor [E]
        The cutoff function ``f_c(r_ij)`` in [0, 1] of every directed edge.
    receivers : Tensor [E]
        ``edge_index[0]``: the atom ``i`` each edge belongs to.
    num_atoms : int
    """
    # f_c = 1 only at r = 0, which no neighbour list holds; the clamp keeps log finite anyway.
    log_empty = scatter_sum(torch.log1p(-cutoff_values.clamp(max=1.0 - 1e-6)), receivers, num_atoms)
    return 1.0 - torch.exp(log_empty)


def sum_per_structure(node_values: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Sum per-atom values ``[N, ...]`` over the atoms of each structure: ``[num_graphs, ...]``."""
    return scatter_sum(node_values, batch, num_graphs)


def normalise_readout_fields(config) -> None:
    """In a frozen model config's ``__post_init__``: ``elements`` and ``e0s`` as tuples, checked.

    Every energy model's config carries these two fields; the checks (known elements, one E0 per
    element or none) are the same for all of them.
    """
    object.__setattr__(config, "elements", tuple(config.elements))
    object.__setattr__(config, "e0s", tuple(float(e) for e in config.e0s))
    check_elements(config.elements)
    if config.e0s and len(config.e0s) != len(config.elements):
        raise ValueError(f"e0s has {len(config.e0s)} values for {len(config.elements)} elements")
