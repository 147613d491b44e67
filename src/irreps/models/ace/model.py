"""A MACE-style many-body potential (Batatia et al., NeurIPS 2022) on Gaunt products (Luo et al., ICLR 2024).

Atoms start from an element embedding (``C`` scalars). Each of ``num_layers``
:class:`~irreps.models.ace.interaction.Interaction` blocks builds the atomic basis ``A`` (degree
``lmax``) by one edge convolution, forms the symmetric many-body product of body order up to
``correlation + 1`` (:class:`~irreps.ops.many_body.SymmetricProduct`, element-dependent weights)
and updates the features to degree ``hidden_lmax`` (the last layer to scalars only, as MACE). Each
layer's scalars give an energy: a linear map after the inner layers, an MLP after the last; their
sum goes through E0 / scale / shift (:class:`~irreps.nn.readout.AtomicEnergyReadout`).

Differences from mace-torch: the product's path weights are factorised per degree (one weight per
factor, degree and channel, per element) instead of one weight per generalised-CG path; that is
what lets ``engine="gaunt"`` compute it as products of sphere functions in ``O(L^3)``.
``engine="cg"`` computes the same model by Clebsch-Gordan couplings (equal outputs for equal
weights), and ``odd_paths=True`` adds the odd couplings Gaunt products cannot make. The
self-connection is one linear map for all elements (MACE's depends on the element); the radial
basis is Bessel functions times a polynomial envelope as in MACE.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from irreps.capture import composed
from irreps.data.graph import AtomicGraph
from irreps.models.ace.interaction import Interaction, natural_irreps
from irreps.models.registry import register_model
from irreps.nn.elements import ElementIndex, ElementRowIndices
from irreps.nn.mlp import MLP, Activation, activation_module
from irreps.nn.potential import EnergyModel
from irreps.nn.readout import AtomicEnergyReadout, neighbour_occupancy, normalise_readout_fields
from irreps.ops.cutoff import polynomial_cutoff
from irreps.ops.many_body import MANY_BODY_ENGINES, MAX_CORRELATION, ManyBodyEngine
from irreps.ops.radial import BesselBasis


@dataclass(frozen=True)
class GauntACEConfig:
    """Hyperparameters; defaults follow MACE's small-molecule recipe except the width (CPU-sized).

    Attributes
    ----------
    elements : tuple of int
    channels : int
        Channels ``C`` of every feature (MACE's recipe: 256; 32 trains on a CPU).
    lmax : int
        Degree of the filter and of the atomic basis ``A`` (MACE's ``max_ell``, 3).
    hidden_lmax : int
        Degree of the features passed between layers (MACE's hidden irreps ``0e + 1o``: 1).
    correlation : int
        Largest number of basis factors in the product (body order ``correlation + 1``), 1..4.
    num_layers : int
    cutoff : float
        Å.
    num_bessel : int
        Bessel radial functions (MACE: 8).
    envelope_exponent : int
        ``p`` of the polynomial envelope (MACE: 5).
    radial_hidden : tuple of int
        Hidden widths of the radial MLP (MACE: 64, 64, 64; here with layer norms, as EquiformerV2's).
    readout_hidden : int
        Hidden width of the last layer's energy MLP (MACE: 16).
    activation : str
        Of the energy MLP.
    engine : {'gaunt', 'cg'}
        Tensor-product engine of the convolutions and the many-body products.
    odd_paths : bool
        'cg' only: also the odd (antisymmetric) couplings in the products.
    avg_degree : float
        Mean neighbours per atom (``irreps train`` sets it from the data); divides the neighbour sums.
    e0s, scale, shift, shift_with_neighbours
        Energy readout, as for TensorNet.
    """

    elements: tuple[int, ...]
    channels: int = 32
    lmax: int = 3
    hidden_lmax: int = 1
    correlation: int = 3
    num_layers: int = 2
    cutoff: float = 5.0
    num_bessel: int = 8
    envelope_exponent: int = 5
    radial_hidden: tuple[int, ...] = (64, 64, 64)
    readout_hidden: int = 16
    activation: Activation = "silu"
    engine: ManyBodyEngine = "gaunt"
    odd_paths: bool = False
    avg_degree: float = 1.0
    e0s: tuple[float, ...] = ()
    scale: float = 1.0
    shift: float = 0.0
    shift_with_neighbours: bool = False

    def __post_init__(self) -> None:
        normalise_readout_fields(self)
        object.__setattr__(self, "radial_hidden", tuple(int(w) for w in self.radial_hidden))
        for name in ("channels", "num_layers", "num_bessel", "envelope_exponent", "readout_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.hidden_lmax <= self.lmax:
            raise ValueError(f"need 0 <= hidden_lmax <= lmax, got hidden_lmax={self.hidden_lmax}, lmax={self.lmax}")
        if not 1 <= self.correlation <= MAX_CORRELATION:
            raise ValueError(f"correlation must be in 1..{MAX_CORRELATION}, got {self.correlation}")
        if any(w < 1 for w in self.radial_hidden):
            raise ValueError(f"radial_hidden widths must be >= 1, got {self.radial_hidden}")
        if not self.cutoff > 0 or not self.avg_degree > 0:
            raise ValueError(f"cutoff and avg_degree must be > 0, got {self.cutoff} and {self.avg_degree}")
        if self.engine not in MANY_BODY_ENGINES:
            raise ValueError(f"engine must be one of {MANY_BODY_ENGINES}, got {self.engine!r}")
        if self.odd_paths and self.engine != "cg":
            raise ValueError("odd_paths needs engine='cg': Gaunt products make even paths only")
        activation_module(self.activation)


@register_model("gaunt_ace", GauntACEConfig)
class GauntACE(ElementRowIndices, EnergyModel):
    """MACE-style potential; see the module docstring. ``model(graph)`` as in :class:`EnergyModel`.

    With ``return_features=True`` the output also holds ``node_scalars`` [N, C], the last layer's features.
    """

    def __init__(self, config: GauntACEConfig):
        super().__init__()
        cfg = self.config = config
        self.cutoff, self.elements = float(cfg.cutoff), tuple(cfg.elements)
        self.interaction_hops = cfg.num_layers  # the embedding is of the element alone
        n_el, c = len(cfg.elements), cfg.channels
        self.element_index = ElementIndex(cfg.elements)
        self.embedding = torch.nn.Embedding(n_el, c)
        self.radial_basis = BesselBasis(cfg.num_bessel, cfg.cutoff)
        irreps = natural_irreps(c, 0)
        self.layers = torch.nn.ModuleList()
        for k in range(cfg.num_layers):
            last = k == cfg.num_layers - 1
            layer = Interaction(irreps, c, cfg.lmax, 0 if last else cfg.hidden_lmax, cfg.correlation, n_el,
                                (cfg.num_bessel, *cfg.radial_hidden), cfg.engine, cfg.odd_paths, cfg.avg_degree,
                                residual=k > 0)
            self.layers.append(layer)
            irreps = layer.irreps_out
        self.linear_readouts = torch.nn.ModuleList(torch.nn.Linear(c, 1, bias=False) for _ in range(cfg.num_layers - 1))
        self.mlp_readout = MLP((c, cfg.readout_hidden, 1), cfg.activation)
        self.readout = AtomicEnergyReadout(n_el, cfg.e0s, cfg.scale, cfg.shift)

    def atomic_outputs(
        self, graph: AtomicGraph, positions: Tensor, shifts: Tensor, return_features: bool,
        indices: dict[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """Per-atom outputs; ``indices`` are :meth:`graph_indices` (computed here when None)."""
        cfg, n = self.config, positions.shape[0]
        species = self.element_rows(graph, indices)
        receivers, senders = graph.edge_index
        vectors = positions[senders] - positions[receivers] + shifts
        length = vectors.square().sum(-1).clamp_min(1e-24).sqrt()
        if not composed():
            # the neighbour list may reach beyond the model's cutoff: those edges carry nothing (their
            # envelope, hence their radial weights, are 0), so an eager call drops them; a recorded
            # graph keeps them, as its edge count cannot depend on the positions
            inside = torch.nonzero(length < self.cutoff).squeeze(1)
            receivers, senders = receivers.index_select(0, inside), senders.index_select(0, inside)
            vectors, length = vectors.index_select(0, inside), length.index_select(0, inside)
        envelope = polynomial_cutoff(length, self.cutoff, cfg.envelope_exponent)
        radial = self.radial_basis(length)
        h = self.embedding(species)
        energies = []
        for k, layer in enumerate(self.layers):
            h = layer(h, species, senders, receivers, vectors, radial, envelope)
            if k < len(self.linear_readouts):
                energies.append(self.linear_readouts[k](h[:, : cfg.channels]).squeeze(-1))
        # without neighbours every feature is zero (no self-connection in the first layer): subtracting
        # the MLP's value at zero gives a lone atom exactly its E0 (plus shift)
        zero = h.new_zeros(1, cfg.channels)
        energies.append((self.mlp_readout(h) - self.mlp_readout(zero)).squeeze(-1))
        raw = torch.stack(energies).sum(0)
        occupancy = neighbour_occupancy(envelope, receivers, n) if cfg.shift_with_neighbours else None
        out = {"node_energy": self.readout(raw, species, occupancy)}
        if return_features:
            out["node_scalars"] = h
        return out
