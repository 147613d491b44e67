"""EquiformerV2 (Liao, Wood, Das & Smidt, ICLR 2024): equivariant graph attention on eSCN convolutions.

Atoms carry sphere features ``[N, (L+1)^2, C]`` (:mod:`irreps.ops.sphere`). The ``l = 0`` channels
start from an element embedding, every degree from the edge-degree embedding
(:class:`~irreps.nn.edge_degree.EdgeDegreeEmbedding`); then ``num_layers`` blocks of
``x += DropPath(Attention(Norm(x)))``, ``x += DropPath(FFN(Norm(x)))``
(:mod:`~irreps.models.equiformer.attention`, :mod:`~irreps.models.equiformer.feed_forward`), a final
norm, and a feed-forward energy head whose ``l = 0`` output is each atom's energy. Edges are
rotated into their frames once per forward (``m <= m_max`` kept) and the rotations shared.

Differences from fairchem's implementation, each deliberate: forces are ``-dE/dx`` by default (the
paper's attention force head is ``direct_forces``, for pre-training only: such forces do not
conserve energy); an optional polynomial ``envelope`` makes energies smooth at the cutoff (the
paper's model is discontinuous there); elements are the configured list, not 90 fixed rows;
energies go through the library's per-element E0, scale and shift (``1 / avg_num_nodes`` is a
``scale``); ``equivariance="O(3)"`` drops the SO(2) convolutions' mirror-odd weights for exact
reflection symmetry. The grid activations are equivariant up to their aliasing error, which
falls with ``grid_resolution``; gates (``use_gate_act``, no grid MLP) are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from irreps.data.graph import AtomicGraph
from irreps.models.equiformer.attention import GraphAttention
from irreps.models.equiformer.feed_forward import FeedForward
from irreps.models.equiformer.edges import EdgeContext, edge_context, with_isolated_atoms
from irreps.models.heads import DipoleHead, PolarizabilityHead
from irreps.models.hessian_head import HessianHead, HessianHeadConfig
from irreps.models.registry import register_model
from irreps.nn.drop_path import GraphDropPath
from irreps.nn.edge_degree import EdgeDegreeEmbedding
from irreps.nn.elements import ElementIndex, ElementRowIndices
from irreps.nn.mlp import activation_module
from irreps.nn.potential import EnergyModel
from irreps.nn.readout import AtomicEnergyReadout, neighbour_occupancy, normalise_readout_fields
from irreps.ops.cartesian import components_to_matrix
from irreps.ops.radial import GaussianBasis
from irreps.ops.sphere import EdgeRotation, SphereLayerNorm, SphereRMSNorm, to_rank2_components

_NORMS = {"layer_norm_sh": SphereLayerNorm, "rms_norm_sh": SphereRMSNorm}


@dataclass(frozen=True)
class EquiformerV2Config:
    """Hyperparameters of EquiformerV2; defaults are fairchem's (OC20), lengths in Å, energies in eV.

    Attributes
    ----------
    elements : tuple of int
    lmax, mmax : int
        Largest degree of the features; largest order kept in edge frames (``mmax <= lmax``).
    sphere_channels : int
        Channels ``C`` per degree.
    num_layers : int
    attn_hidden_channels, num_heads, attn_alpha_channels, attn_value_channels : int
        Attention widths: hidden SO(2) channels, heads, logit features per head, values per head.
    ffn_hidden_channels : int
    norm_type : "rms_norm_sh" or "layer_norm_sh"
    grid_resolution : int or None
        Points per angle of the S2 grids (None: ``2 (L+1)`` latitudes, EquiformerV2's default).
        The grids are not weights: a trained model may be evaluated on finer ones
        (``load_model(path, options={"grid_resolution": 18})``, ``irreps md --model-option``),
        which removes their aliasing error (docs/models.md, Equivariance).
    edge_channels : int
        Width of the radial MLPs and the element embeddings of edges.
    use_atom_edge_embedding : bool
        Feed learned sender/receiver element embeddings to every radial MLP.
    num_distance_basis : int
        Gaussians on ``[0, cutoff]`` (fairchem: 600), of width ``distance_basis_width`` times their spacing.
    cutoff : float
    attn_activation, ffn_activation : str
        fairchem's config names ``scaled_silu`` but its code applies SiLU; SiLU is the default here.
    use_attn_renorm : bool
        Layer norm of the attention logits' features (the paper's re-normalisation).
    use_gate_act, use_grid_mlp, use_sep_s2_act : bool
        Activation variants (see :mod:`~irreps.models.equiformer.feed_forward`).
    alpha_drop, drop_path_rate : float
        Dropout of attention weights; per-structure stochastic depth (training only).
    avg_degree : float
        Divides the edge-degree embedding (fairchem's OC20 value by default).
    envelope : bool
        Polynomial (p = 6) envelope on attention and edge-degree terms: smooth at the cutoff.
    equivariance : "SO(3)" or "O(3)"
    e0s, scale, shift, shift_with_neighbours
        Energy readout, as for TensorNet (:class:`~irreps.nn.readout.AtomicEnergyReadout`).
    dipole, polarizability : bool
        Response heads as for TensorNet (outputs ``dipole`` [G, 3] and ``charges`` [N] from the
        ``l = 0`` and ``l = 1`` features; ``polarizability`` [G, 3, 3] from ``l = 0`` and ``l = 2``).
    direct_forces : bool
        Add the paper's attention force head (``direct_forces`` output; not energy-conserving).
    hessian_head, hessian
        The HIP direct Hessian head on the ``l <= 2`` features (needs ``lmax >= 2``).
    """

    elements: tuple[int, ...]
    lmax: int = 6
    mmax: int = 2
    sphere_channels: int = 128
    num_layers: int = 12
    attn_hidden_channels: int = 128
    num_heads: int = 8
    attn_alpha_channels: int = 32
    attn_value_channels: int = 16
    ffn_hidden_channels: int = 512
    norm_type: Literal["rms_norm_sh", "layer_norm_sh"] = "rms_norm_sh"
    grid_resolution: int | None = None
    edge_channels: int = 128
    use_atom_edge_embedding: bool = True
    num_distance_basis: int = 600
    distance_basis_width: float = 2.0
    cutoff: float = 5.0
    attn_activation: str = "silu"
    ffn_activation: str = "silu"
    use_attn_renorm: bool = True
    use_gate_act: bool = False
    use_grid_mlp: bool = False
    use_sep_s2_act: bool = True
    alpha_drop: float = 0.1
    drop_path_rate: float = 0.05
    avg_degree: float = 23.395238876342773
    envelope: bool = True
    equivariance: Literal["SO(3)", "O(3)"] = "SO(3)"
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
        for name in ("sphere_channels", "attn_hidden_channels", "num_heads", "attn_alpha_channels",
                     "attn_value_channels", "ffn_hidden_channels", "edge_channels", "num_distance_basis"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {self.num_layers}")
        if not 0 <= self.mmax <= self.lmax:
            raise ValueError(f"need 0 <= mmax <= lmax, got lmax={self.lmax}, mmax={self.mmax}")
        if self.norm_type not in _NORMS:
            raise ValueError(f"norm_type must be one of {', '.join(_NORMS)}, got {self.norm_type!r}")
        if self.equivariance not in ("SO(3)", "O(3)"):
            raise ValueError(f"equivariance must be 'SO(3)' or 'O(3)', got {self.equivariance!r}")
        if not self.cutoff > 0:
            raise ValueError(f"cutoff must be > 0 Å, got {self.cutoff}")
        for name in ("alpha_drop", "drop_path_rate"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for head, lmin in (("hessian_head", 2), ("polarizability", 2), ("dipole", 1)):
            if getattr(self, head) and self.lmax < lmin:
                raise ValueError(f"{head} reads l <= {lmin} features: needs lmax >= {lmin}")
        activation_module(self.attn_activation)
        activation_module(self.ffn_activation)


class TransformerBlock(torch.nn.Module):
    """``x += DropPath(Attention(Norm(x)))``, then ``x += DropPath(FFN(Norm(x)))``."""

    def __init__(self, cfg: EquiformerV2Config, radial_dims: list[int], num_elements: int) -> None:
        super().__init__()
        lmax, c = cfg.lmax, cfg.sphere_channels
        self.norm_1 = _NORMS[cfg.norm_type](lmax, c)
        self.ga = GraphAttention(
            lmax, cfg.mmax, c, cfg.attn_hidden_channels, cfg.num_heads, cfg.attn_alpha_channels,
            cfg.attn_value_channels, c, radial_dims, num_elements, cfg.attn_activation, cfg.use_gate_act,
            cfg.use_attn_renorm, cfg.alpha_drop, cfg.grid_resolution, cfg.equivariance,
        )
        self.norm_2 = _NORMS[cfg.norm_type](lmax, c)
        self.ffn = FeedForward(lmax, c, cfg.ffn_hidden_channels, c, cfg.ffn_activation, cfg.use_gate_act,
                               cfg.use_grid_mlp, cfg.use_sep_s2_act, cfg.grid_resolution)
        self.drop_path = GraphDropPath(cfg.drop_path_rate)

    def forward(self, x: Tensor, edges: EdgeContext, batch: Tensor, num_graphs: int) -> Tensor:
        x = x + self.drop_path(self.ga(self.norm_1(x), edges), batch, num_graphs)
        return x + self.drop_path(self.ffn(self.norm_2(x)), batch, num_graphs)


@register_model("equiformer_v2", EquiformerV2Config, evaluation_options=("grid_resolution",))
class EquiformerV2(ElementRowIndices, EnergyModel):
    """EquiformerV2 potential; see the module docstring. ``model(graph)`` as in :class:`EnergyModel`.

    With ``return_features=True`` the output also holds ``node_scalars`` [N, C] (the final ``l = 0``
    channels) and ``node_sphere`` [N, (L+1)^2, C] (all final features).
    """

    def __init__(self, config: EquiformerV2Config):
        super().__init__()
        cfg = self.config = config
        self.cutoff, self.elements = float(cfg.cutoff), tuple(cfg.elements)
        self.interaction_hops = cfg.num_layers + 1  # the edge-degree embedding sums over neighbours
        n_el, c = len(cfg.elements), cfg.sphere_channels
        edge_elements = n_el if cfg.use_atom_edge_embedding else 0
        radial_dims = [cfg.num_distance_basis, cfg.edge_channels, cfg.edge_channels]
        self.element_index = ElementIndex(cfg.elements)
        self.sphere_embedding = torch.nn.Embedding(n_el, c)
        self.distance_basis = GaussianBasis(cfg.num_distance_basis, cfg.cutoff, width=cfg.distance_basis_width)
        self.rotation = EdgeRotation(cfg.lmax, cfg.mmax)
        self.edge_degree_embedding = EdgeDegreeEmbedding(cfg.lmax, cfg.mmax, c, radial_dims, edge_elements, cfg.avg_degree)
        self.blocks = torch.nn.ModuleList(TransformerBlock(cfg, radial_dims, edge_elements) for _ in range(cfg.num_layers))
        self.norm = _NORMS[cfg.norm_type](cfg.lmax, c)
        self.energy_block = FeedForward(cfg.lmax, c, cfg.ffn_hidden_channels, 1, cfg.ffn_activation, cfg.use_gate_act,
                                        cfg.use_grid_mlp, cfg.use_sep_s2_act, cfg.grid_resolution)
        self.direct_force_head = None
        if cfg.direct_forces:
            self.direct_force_head = GraphAttention(
                cfg.lmax, cfg.mmax, c, cfg.attn_hidden_channels, cfg.num_heads, cfg.attn_alpha_channels,
                cfg.attn_value_channels, 1, radial_dims, edge_elements, cfg.attn_activation, cfg.use_gate_act,
                cfg.use_attn_renorm, 0.0, cfg.grid_resolution, cfg.equivariance,
            )
        self.readout = AtomicEnergyReadout(n_el, cfg.e0s, cfg.scale, cfg.shift)
        self.hessian_head = HessianHead(c, c, cfg.hessian) if cfg.hessian_head else None
        self.dipole_head = DipoleHead(c, c) if cfg.dipole else None
        self.polarizability_head = PolarizabilityHead(c) if cfg.polarizability else None

    def atomic_outputs(
        self, graph: AtomicGraph, positions: Tensor, shifts: Tensor, return_features: bool,
        direct_forces: bool = False, indices: dict[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """Per-atom outputs; ``indices`` are :meth:`graph_indices` (computed here when None)."""
        cfg = self.config
        n, n_el = positions.shape[0], len(self.elements)
        species = self.element_rows(graph, indices)
        with_isolated = with_isolated_atoms(species, n_el)
        batch = torch.cat((graph.batch, graph.num_graphs + torch.arange(n_el, device=species.device)))
        num_graphs = graph.num_graphs + n_el
        edges = edge_context(graph.edge_index, positions, shifts, with_isolated, self.cutoff, self.rotation,
                             self.distance_basis, cfg.envelope)
        x = torch.cat((self.sphere_embedding(with_isolated).unsqueeze(1),
                       positions.new_zeros(n + n_el, (cfg.lmax + 1) ** 2 - 1, cfg.sphere_channels)), 1)
        x = x + self.edge_degree_embedding(edges.D, edges.basis, edges.senders, edges.receivers, with_isolated,
                                           edges.envelope)
        for block in self.blocks:
            x = block(x, edges, batch, num_graphs)
        x = self.norm(x)
        values = self.energy_block(x)[:, 0, 0]
        raw = values[:n] - values[n:].index_select(0, species)
        occupancy = neighbour_occupancy(edges.smooth, edges.receivers, n) if cfg.shift_with_neighbours else None
        out = {"node_energy": self.readout(raw, species, occupancy)}
        if direct_forces:
            out["direct_forces"] = cfg.scale * self.direct_force_head(x, edges)[:n, 1:4, 0]
        if self.dipole_head is not None:  # l = 1 coefficients are Cartesian (D^1 = R)
            out.update(self.dipole_head(x[:n, 0], x[:n, 1:4], positions, graph.batch, graph.num_graphs))
        if self.polarizability_head is not None:
            traceless = to_rank2_components(x[:n])
            traceless = torch.cat((torch.zeros_like(traceless[:, :4]), traceless[:, 4:]), 1)  # the l = 2 part only
            out["polarizability"] = self.polarizability_head(x[:n, 0], components_to_matrix(traceless), graph.batch,
                                                             graph.num_graphs)
        if self.hessian_head is not None:
            if bool(graph.pbc.any()):
                raise ValueError("the Hessian head handles molecules only; the graph has periodic boundaries")
            out["hessian"] = self.hessian_head(x[:n, 0], to_rank2_components(x[:n]), positions, graph.batch,
                                               graph.num_graphs).dense()
        if return_features:
            out["node_scalars"] = x[:n, 0]
            out["node_sphere"] = x[:n]
        return out
