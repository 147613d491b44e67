"""TensorNet (Simeon & De Fabritiis, NeurIPS 2023): rank-2 Cartesian tensor features.

Every atom carries ``C`` channels of 3x3 tensors ``X = I + A + S`` (scalar, antisymmetric
and symmetric-traceless parts, l = 0, 1, 2).

- Embedding: each edge ij contributes ``f_I 1 + f_A [r_ij]_x + f_S (r r^T - 1/3)`` (unit
  vectors), weighted per channel by radial projections of an exp-normal basis, the cosine
  cutoff and a linear map of the concatenated embeddings of ``Z_i`` and ``Z_j``; the sums are
  mixed per part by channel linears and scaled by an MLP of the layer-normed squared norms.
- Interaction: ``X <- X / (||X||^2 + 1)``; channel linears per part give ``Y``; messages
  ``M_i = sum_j (f_I I_j + f_A A_j + f_S S_j)`` with edge weights from an MLP of the radial
  basis; ``M Y + Y M`` (O(3)) or ``2 Y M`` (SO(3)), re-decomposed, normalised and mixed into
  ``dX``; ``X <- X + dX + dX^2``.
- Output: the squared norms of I, A, S -> layer norm -> linear + activation -> MLP -> atomic
  energy, then per-element E0 and scale/shift. The MLP's value for zero features is
  subtracted, so an isolated atom has exactly ``E0 + shift``, or exactly ``E0`` with
  ``shift_with_neighbours`` (the shift weighted by :func:`irreps.nn.neighbour_occupancy`).

Parameters are laid out as in TorchMD-Net 3.1's ``TensorNet`` plus its ``Scalar`` head (the
per-edge radial projections of the embedding are one ``Linear(num_rbf, 3C)``), so the counts
agree. Internally tensors are kept as orthonormal components ``[N, 9, C]``
(:mod:`irreps.ops.cartesian`), which is what makes message passing cheap; "norm" is the
squared Frobenius norm ``tr(X^T X)`` as in the paper and the reference code. The embedding
sums moments of the radial basis per neighbour species instead of per-edge ``[E, C]`` weights
(same result, see ``irreps.models.tensornet.layers.TensorEmbedding._grouped_sums``). Edge vectors follow the library
convention ``r_ij = pos[j] - pos[i] + shift``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from irreps.data.graph import AtomicGraph
from irreps.models.force_head import DirectForceHead
from irreps.models.heads import DipoleHead, PolarizabilityHead
from irreps.models.hessian_head import HessianHead, HessianHeadConfig
from irreps.models.registry import register_model
from irreps.models.tensornet.layers import Interaction, TensorEmbedding
from irreps.nn.edges import EdgePairing, pair_reverse_edges
from irreps.nn.elements import ElementIndex
from irreps.nn.mlp import MLP, Activation, activation_module
from irreps.nn.potential import EnergyModel
from irreps.nn.readout import AtomicEnergyReadout, neighbour_occupancy, normalise_readout_fields
from irreps.ops.cartesian import A_PART, PART_SIZES, PARTS, components_to_matrix
from irreps.ops.cutoff import cosine_cutoff
from irreps.ops.radial import ExpNormalBasis


@dataclass(frozen=True)
class TensorNetConfig:
    """Hyperparameters of TensorNet (defaults: the paper's; energies in eV, lengths in Å).

    Attributes
    ----------
    elements : tuple of int
        Atomic numbers the model knows, in the order of its per-element tables.
    hidden_dim : int
        Channels ``C`` of the tensor features.
    num_layers : int
        Interaction layers (0 keeps only the embedding).
    num_rbf : int
        Exp-normal radial basis functions.
    cutoff : float
        Cosine cutoff radius (Å).
    equivariance : "O(3)" or "SO(3)"
        ``O(3)`` is also invariant under reflections; ``SO(3)`` can tell mirror images apart.
    activation : str
    e0s : tuple of float
        Isolated-atom energy of each element (eV), in ``elements`` order; empty = zeros.
    scale, shift : float
        Atomic energy = ``scale * network + shift + E0``.
    shift_with_neighbours : bool
        Weight each atom's shift by its neighbour occupancy ``1 - prod_j (1 - f_c(r_ij))``
        (:func:`irreps.nn.neighbour_occupancy`): ~1 in a molecule or solid, 0 for an atom
        without neighbours, which then gets exactly its E0. ``irreps train`` turns it on with
        isolated-atom E0s, so the dissociation limit is ``sum E0`` while the shift still
        takes the mean interaction energy (~-4.9 eV/atom on 3BPA) off the network. Off:
        every atom gets the shift (model files written before this option).
    dipole, polarizability : bool
        Enable the response heads (outputs ``dipole`` [G, 3], ``charges`` [N],
        ``polarizability`` [G, 3, 3]).
    direct_forces : bool
        Enable the direct (non-conservative) force head, output ``direct_forces`` [N, 3]
        when the model is called with ``direct_forces=True``; used to pre-train cheaply
        (:mod:`irreps.models.force_head`). Conservative ``forces`` are unaffected.
    hessian_head : bool
        Enable the direct (HIP) Hessian head: output ``hessian``, per-structure 3N x 3N
        blocks flattened row-major and concatenated (eV/Å^2), molecules only.
    hessian : HessianHeadConfig
        Options of that head (pairs, cutoff, scale, ...).
    """

    elements: tuple[int, ...]
    hidden_dim: int = 128
    num_layers: int = 2
    num_rbf: int = 32
    cutoff: float = 5.0
    equivariance: Literal["O(3)", "SO(3)"] = "O(3)"
    activation: Activation = "silu"
    e0s: tuple[float, ...] = ()
    scale: float = 1.0
    shift: float = 0.0
    shift_with_neighbours: bool = False
    dipole: bool = False
    polarizability: bool = False
    direct_forces: bool = False
    hessian_head: bool = False
    hessian: HessianHeadConfig = HessianHeadConfig()

    def __post_init__(self) -> None:
        normalise_readout_fields(self)
        for name in ("hidden_dim", "num_rbf"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {self.num_layers}")
        if not self.cutoff > 0:
            raise ValueError(f"cutoff must be > 0 Å, got {self.cutoff}")
        if self.equivariance not in ("O(3)", "SO(3)"):
            raise ValueError(f"equivariance must be 'O(3)' or 'SO(3)', got {self.equivariance!r}")
        activation_module(self.activation)


@register_model("tensornet", TensorNetConfig, version=2)
class TensorNet(EnergyModel):
    """TensorNet potential; see the module docstring. ``model(graph)`` as in :class:`EnergyModel`.

    With ``return_features=True`` the output also holds ``node_scalars`` [N, C] (the
    invariants fed to the energy MLP) and the final rank-2 features split into ``node_I``,
    ``node_A``, ``node_S``, each ``[N, C, 3, 3]``.
    """

    def __init__(self, config: TensorNetConfig):
        super().__init__()
        self.config = config
        self.cutoff = float(config.cutoff)
        self.elements = tuple(config.elements)
        self.interaction_hops = config.num_layers + 1  # the embedding sums over neighbours too
        c = config.hidden_dim
        self.element_index = ElementIndex(config.elements)
        self.radial = ExpNormalBasis(config.num_rbf, config.cutoff)
        self.embedding = TensorEmbedding(len(config.elements), c, config.num_rbf, config.activation)
        self.layers = torch.nn.ModuleList(
            Interaction(c, config.num_rbf, config.activation, config.equivariance) for _ in range(config.num_layers)
        )
        self.out_norm = torch.nn.LayerNorm(3 * c)
        self.linear = torch.nn.Linear(3 * c, c)
        self.act = activation_module(config.activation)
        self.energy_mlp = MLP((c, c // 2, 1), config.activation)
        self.readout = AtomicEnergyReadout(len(config.elements), config.e0s, config.scale, config.shift)
        self.dipole_head = DipoleHead(c, c, config.activation) if config.dipole else None
        self.polarizability_head = PolarizabilityHead(c) if config.polarizability else None
        self.hessian_head = HessianHead(c, c, config.hessian) if config.hessian_head else None
        self.direct_force_head = (
            DirectForceHead(c, config.num_rbf, c, config.activation) if config.direct_forces else None
        )

    def _scalars(self, x: Tensor) -> Tensor:
        """Rank-2 features ``[N, 9, C]`` -> invariant atom features ``[N, C]`` (from the I, A, S norms)."""
        invariants = torch.cat([part.square().sum(1) for part in x.split(PART_SIZES, dim=1)], dim=-1)
        return self.act(self.linear(self.out_norm(invariants)))

    def graph_indices(self, graph: AtomicGraph) -> dict[str, Tensor]:
        """The integer indices the forward pass needs that depend on the graph only.

        ``species`` (element rows, with one extra isolated atom per element appended, see
        :meth:`atomic_outputs`), the species present with each atom's row among them, and
        the reverse-edge pairing. Computing them involves data-dependent shapes, so a
        captured training step (:mod:`irreps.train.compiled_step`) computes them outside the
        captured graph and passes them in. Raises ``ValueError`` for unknown elements.
        """
        out = self.species_indices(self.element_index(graph.atomic_numbers))
        pairing = pair_reverse_edges(graph.edge_index, graph.shifts)
        if pairing is not None:
            out.update(pair_canonical=pairing.canonical, pair_expand=pairing.expand)
        return out

    def species_indices(self, species: Tensor) -> dict[str, Tensor]:
        """The indices of :meth:`graph_indices` that come from the element rows ``species`` [N].

        One extra atom per element, without neighbours, rides along in the same pass: the
        network's value for it is subtracted, so an isolated atom gets exactly its E0 (plus
        shift), the right dissociation limit. (Edges never touch these rows.) With one such
        atom per element every element is present, so the species present are all rows and
        each atom's row among them is its own: no data-dependent ``unique``, which keeps this
        recordable with symbolic sizes (:mod:`irreps.export`).
        """
        every = torch.arange(len(self.elements), device=species.device)
        with_isolated = torch.cat((species, every))
        return {"species": with_isolated, "present": every, "local": with_isolated}

    def atomic_outputs(
        self, graph: AtomicGraph, positions: Tensor, shifts: Tensor, return_features: bool,
        direct_forces: bool = False, indices: dict[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """Per-atom outputs; ``indices`` are :meth:`graph_indices` (computed here when None)."""
        if indices is None:
            indices = self.graph_indices(graph)
        with_isolated = indices["species"]
        n = positions.shape[0]
        species = with_isolated[:n]
        i, j = graph.edge_index
        vectors = positions[j] - positions[i] + shifts
        # Guarded length: zero-length edges (never produced by a neighbour list) stay finite.
        length = vectors.square().sum(-1).clamp_min(1e-24).sqrt()
        unit = vectors / length[:, None]
        # Radial functions are the same on i->j and j->i: evaluate them once per pair.
        pairing = None
        if "pair_canonical" in indices:
            pairing = EdgePairing(canonical=indices["pair_canonical"], expand=indices["pair_expand"])
        half = length if pairing is None else length.index_select(0, pairing.canonical)
        rbf_self = self.radial(length.new_zeros(1))
        rbf = self.radial(half)
        fcut, fcut_half = cosine_cutoff(length, self.cutoff), cosine_cutoff(half, self.cutoff)
        x = self.embedding(with_isolated, graph.edge_index, unit, rbf, fcut, pairing, rbf_self,
                           indices["present"], indices["local"])
        for layer in self.layers:
            x = layer(x, graph.edge_index, rbf, fcut_half, pairing, rbf_self)
        scalars = self._scalars(x)
        values = self.energy_mlp(scalars).squeeze(-1)
        raw = values[:n] - values[n:].index_select(0, species)
        x, scalars = x[:n], scalars[:n]
        occupancy = neighbour_occupancy(fcut, i, n) if self.config.shift_with_neighbours else None
        out = {"node_energy": self.readout(raw, species, occupancy)}
        if direct_forces:
            edge_rbf = rbf if pairing is None else rbf.index_select(0, pairing.expand)
            forces = self.direct_force_head(scalars, graph.edge_index, unit, edge_rbf, fcut)
            out["direct_forces"] = self.config.scale * forces
        needs_matrices = return_features or self.polarizability_head is not None
        if needs_matrices:
            parts = {name: torch.zeros_like(x) for name in "IAS"}
            for name, part in zip("IAS", PARTS):
                parts[name][:, part] = x[:, part]
            matrices = {name: components_to_matrix(value) for name, value in parts.items()}
        if self.dipole_head is not None:
            out.update(self.dipole_head(scalars, x[:, A_PART], positions, graph.batch, graph.num_graphs))
        if self.polarizability_head is not None:
            out["polarizability"] = self.polarizability_head(
                x[:, 0], matrices["S"], graph.batch, graph.num_graphs
            )
        if self.hessian_head is not None:
            if bool(graph.pbc.any()):
                raise ValueError("the Hessian head handles molecules only; the graph has periodic boundaries")
            out["hessian"] = self.hessian_head(scalars, x, positions, graph.batch, graph.num_graphs).dense()
        if return_features:
            out["node_scalars"] = scalars
            out.update({f"node_{name}": m.permute(0, 3, 1, 2) for name, m in matrices.items()})
        return out
