"""eSCN (Passaro & Zitnick, ICML 2023): SO(3) convolutions reduced to SO(2) in edge frames.

Atoms carry sphere features ``[N, (L+1)^2, C]`` (:mod:`irreps.ops.sphere`), ``l = 0`` initialised
from an element embedding. Each of ``num_layers`` :class:`~irreps.models.equiformer.escn_layers.LayerBlock`
computes SO(2) messages and a pointwise sphere convolution; its output replaces the features after
the first layer and is added to them after the others. The energy of an atom is the sphere average
of a pointwise MLP (``C -> C -> C -> 1``) of its final features; the paper's force head (the same
MLP shape, weighted by the sample directions) is the ``direct_forces`` option.

Differences from fairchem's implementation: forces are ``-dE/dx`` by default; the sphere
averages of the heads use a product quadrature grid (``sample_resolution``^2 points with weights)
instead of 128 quasi-uniform points, so they are exact for band-limited integrands; an optional
polynomial ``envelope`` makes the energy smooth at the cutoff; elements are the configured list;
energies go through per-element E0, scale and shift; ``equivariance="O(3)"`` drops the
mirror-odd SO(2) weights. All nonlinearities act on sphere grids, so rotation equivariance holds up
to the grids' aliasing error, which falls quickly with ``grid_resolution`` and ``sample_resolution``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from irreps.data.graph import AtomicGraph
from irreps.models.equiformer.edges import edge_context, with_isolated_atoms
from irreps.models.equiformer.escn_layers import LayerBlock
from irreps.models.registry import register_model
from irreps.nn.elements import ElementIndex, ElementRowIndices
from irreps.nn.mlp import activation_module
from irreps.nn.potential import EnergyModel
from irreps.nn.readout import AtomicEnergyReadout, neighbour_occupancy, normalise_readout_fields
from irreps.ops.radial import GaussianBasis
from irreps.ops.sphere import EdgeRotation, SphereGrid


@dataclass(frozen=True)
class ESCNConfig:
    """Hyperparameters of eSCN; defaults are fairchem's (OC20), lengths in Å, energies in eV.

    Attributes
    ----------
    elements : tuple of int
    lmax, mmax : int
    sphere_channels, hidden_channels, edge_channels : int
        Feature channels per degree; SO(2) bottleneck width; invariant edge features.
    num_layers : int
    cutoff : float
    distance_resolution : float
        Spacing of the Gaussian distance basis (Å): ``int(cutoff / distance_resolution)`` functions,
        each ``basis_width`` spacings wide.
    basis_width : float
    activation : str
    grid_resolution : int or None
        Points per angle of the S2 grids (None: eSCN's default, ``2 (L+1)`` latitudes). Like
        ``sample_resolution``, not a weight: a trained model may be evaluated on finer grids
        (``load_model(path, options=...)``, ``irreps md --model-option``; docs/models.md).
    sample_resolution : int
        Points per angle of the heads' sphere average (12 x 12 = 144, the paper uses 128).
    envelope : bool
    equivariance : "SO(3)" or "O(3)"
    e0s, scale, shift, shift_with_neighbours
        Energy readout, as for TensorNet.
    direct_forces : bool
        Add the paper's force head (``direct_forces`` output; not energy-conserving).
    """

    elements: tuple[int, ...]
    lmax: int = 6
    mmax: int = 2
    sphere_channels: int = 128
    hidden_channels: int = 256
    edge_channels: int = 128
    num_layers: int = 8
    cutoff: float = 8.0
    distance_resolution: float = 0.02
    basis_width: float = 1.0
    activation: str = "silu"
    grid_resolution: int | None = None
    sample_resolution: int = 12
    envelope: bool = True
    equivariance: Literal["SO(3)", "O(3)"] = "SO(3)"
    e0s: tuple[float, ...] = ()
    scale: float = 1.0
    shift: float = 0.0
    shift_with_neighbours: bool = False
    direct_forces: bool = False

    def __post_init__(self) -> None:
        normalise_readout_fields(self)
        for name in ("sphere_channels", "hidden_channels", "edge_channels", "num_layers", "sample_resolution"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.mmax <= self.lmax:
            raise ValueError(f"need 0 <= mmax <= lmax, got lmax={self.lmax}, mmax={self.mmax}")
        if not self.cutoff > 0 or not 0 < self.distance_resolution < self.cutoff:
            raise ValueError(f"need cutoff > distance_resolution > 0, got {self.cutoff} and {self.distance_resolution}")
        if self.equivariance not in ("SO(3)", "O(3)"):
            raise ValueError(f"equivariance must be 'SO(3)' or 'O(3)', got {self.equivariance!r}")
        activation_module(self.activation)

    @property
    def num_distance_basis(self) -> int:
        return int(self.cutoff / self.distance_resolution)


class SphereHead(torch.nn.Module):
    """Sphere average of a pointwise MLP ``C -> C -> C -> 1`` (times the direction, for forces)."""

    def __init__(self, grid: SphereGrid, channels: int, activation: str, vector: bool) -> None:
        super().__init__()
        self.grid, self.vector, self.act = grid, vector, activation_module(activation)
        self.fc1, self.fc2 = torch.nn.Linear(channels, channels), torch.nn.Linear(channels, channels)
        self.fc3 = torch.nn.Linear(channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        values = self.fc3(self.act(self.fc2(self.act(self.fc1(self.grid.to_grid(x))))))  # [N, P, 1]
        weights = self.grid.quadrature_weights.to(x.dtype)[:, None] / (4 * torch.pi)
        if self.vector:  # 3 <u u^T> = 1 on the sphere: the l = 1 part of the values, as a vector
            return 3 * (values * weights * self.grid.points.to(x.dtype)).sum(1)
        return (values * weights).sum(1)[:, 0]


@register_model("escn", ESCNConfig, evaluation_options=("grid_resolution", "sample_resolution"))
class ESCN(ElementRowIndices, EnergyModel):
    """eSCN potential; see the module docstring. ``model(graph)`` as in :class:`EnergyModel`."""

    def __init__(self, config: ESCNConfig):
        super().__init__()
        cfg = self.config = config
        self.cutoff, self.elements = float(cfg.cutoff), tuple(cfg.elements)
        self.interaction_hops = cfg.num_layers  # the embedding is of the element alone
        n_el, c = len(cfg.elements), cfg.sphere_channels
        self.element_index = ElementIndex(cfg.elements)
        self.sphere_embedding = torch.nn.Embedding(n_el, c)
        self.distance_basis = GaussianBasis(cfg.num_distance_basis, cfg.cutoff, width=cfg.basis_width)
        self.rotation = EdgeRotation(cfg.lmax, cfg.mmax)
        self.layer_blocks = torch.nn.ModuleList(
            LayerBlock(cfg.lmax, cfg.mmax, c, cfg.hidden_channels, cfg.edge_channels, cfg.num_distance_basis, n_el,
                       cfg.activation, cfg.grid_resolution, cfg.equivariance)
            for _ in range(cfg.num_layers)
        )
        samples = SphereGrid([(l, m) for l in range(cfg.lmax + 1) for m in range(-l, l + 1)], cfg.sample_resolution)
        self.energy_block = SphereHead(samples, c, cfg.activation, vector=False)
        self.direct_force_head = SphereHead(samples, c, cfg.activation, vector=True) if cfg.direct_forces else None
        self.readout = AtomicEnergyReadout(n_el, cfg.e0s, cfg.scale, cfg.shift)

    def atomic_outputs(
        self, graph: AtomicGraph, positions: Tensor, shifts: Tensor, return_features: bool,
        direct_forces: bool = False, indices: dict[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """Per-atom outputs; ``indices`` are :meth:`graph_indices` (computed here when None)."""
        cfg = self.config
        n, n_el = positions.shape[0], len(self.elements)
        species = self.element_rows(graph, indices)
        with_isolated = with_isolated_atoms(species, n_el)
        edges = edge_context(graph.edge_index, positions, shifts, with_isolated, self.cutoff, self.rotation,
                             self.distance_basis, cfg.envelope)
        x = torch.cat((self.sphere_embedding(with_isolated).unsqueeze(1),
                       positions.new_zeros(n + n_el, (cfg.lmax + 1) ** 2 - 1, cfg.sphere_channels)), 1)
        for k, layer in enumerate(self.layer_blocks):
            x = layer(x, edges) if k == 0 else x + layer(x, edges)
        values = self.energy_block(x)
        raw = values[:n] - values[n:].index_select(0, species)
        occupancy = neighbour_occupancy(edges.smooth, edges.receivers, n) if cfg.shift_with_neighbours else None
        out = {"node_energy": self.readout(raw, species, occupancy)}
        if direct_forces:
            out["direct_forces"] = cfg.scale * self.direct_force_head(x)[:n]
        if return_features:
            out["node_scalars"] = x[:n, 0]
            out["node_sphere"] = x[:n]
        return out
