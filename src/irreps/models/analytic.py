"""Analytic reference potentials with exactly known energies, forces, Hessians and saddles.

They are :class:`~irreps.nn.potential.EnergyModel` subclasses like the learned models
(registered, frozen config, ``energy`` / ``node_energy`` / ``forces`` / ``stress`` /
``hessian`` from the shared forward; the pair models can also predict their Hessian directly,
standing in for a model with a Hessian head), so calculator and simulation tests run against
real model files whose answers are known in closed form, without training:

- ``harmonic_pair``: springs ``k/2 (r - r0)^2`` between every pair closer than the cutoff
  (vibrational frequencies of a spring network are textbook results).
- ``morse_pair``: ``D [(1 - exp(-a (r - r0)))^2 - 1]``, a bound solid or cluster with stress.
- ``double_well_surface``: an external field on each atom with minima and one first-order
  saddle at known coordinates, the test surface for transition-state and NEB searches.

Pair terms are multiplied by a C2 switching function that goes from 1 at
``cutoff - switch_width`` to exactly 0 (value, slope and curvature) at ``cutoff``, so edges
beyond the cutoff contribute exactly zero and energies are smooth as atoms cross it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from irreps.data.graph import AtomicGraph
from irreps.models.registry import register_model
from irreps.nn.elements import ElementIndex, check_elements
from irreps.nn.potential import EnergyModel
from irreps.nn.readout import AtomicEnergyReadout


def switching(r: Tensor, cutoff: float, width: float) -> Tensor:
    """C2 switch: 1 for ``r <= cutoff - width``, ``1 - 10t^3 + 15t^4 - 6t^5`` inside, 0 beyond."""
    t = ((r - (cutoff - width)) / width).clamp(0.0, 1.0)
    return 1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t**2)


@dataclass(frozen=True)
class HarmonicPairConfig:
    """Springs ``k/2 (r - r0)^2`` (k in eV/Å^2, lengths in Å) between all pairs within ``cutoff``.

    ``e0`` are per-element energies (eV, ``elements`` order; empty = zeros). ``predict_hessian``
    adds the analytic Hessian to every forward, as a model with a Hessian head would.
    """

    elements: tuple[int, ...]
    k: float = 20.0
    r0: float = 1.0
    cutoff: float = 2.0
    switch_width: float = 0.5
    e0: tuple[float, ...] = ()
    predict_hessian: bool = False


@dataclass(frozen=True)
class MorsePairConfig:
    """Morse pairs ``D [(1 - exp(-a (r - r0)))^2 - 1]`` (D in eV, a in 1/Å, r0 and cutoff in Å)."""

    elements: tuple[int, ...]
    depth: float = 0.4
    alpha: float = 1.4
    r0: float = 2.6
    cutoff: float = 5.0
    switch_width: float = 1.0
    e0: tuple[float, ...] = ()
    predict_hessian: bool = False


class _PairPotential(EnergyModel):
    """Sum of a radial pair term over the (full, i->j and j->i) neighbour list, plus E0s.

    Subclasses define :meth:`pair_energy` φ(r) for r < cutoff; half of each edge's φ goes to
    its receiving atom, so per-atom energies sum to the total.
    """

    def __init__(self, config: HarmonicPairConfig | MorsePairConfig):
        super().__init__()
        check_elements(config.elements)
        if config.e0 and len(config.e0) != len(config.elements):
            raise ValueError(f"e0 has {len(config.e0)} entries for {len(config.elements)} elements")
        if not 0.0 < config.switch_width <= config.cutoff:
            raise ValueError(f"switch_width must be in (0, cutoff], got {config.switch_width} for cutoff {config.cutoff}")
        self.config = config
        self.elements = tuple(config.elements)
        self.cutoff = float(config.cutoff)
        self.interaction_hops = 1
        self.element_index = ElementIndex(self.elements)
        self.readout = AtomicEnergyReadout(len(self.elements), config.e0)

    def pair_energy(self, r: Tensor) -> Tensor:
        raise NotImplementedError

    def switched_pair_energy(self, r: Tensor) -> Tensor:
        """φ(r) s(r) [num_edges]; exactly zero for r >= cutoff."""
        width = self.config.switch_width
        inside = r < self.cutoff
        # Evaluate φ only where it is used so that far edges give exact zeros (no 0 * inf).
        safe_r = torch.where(inside, r, torch.full_like(r, self.cutoff - width))
        return torch.where(inside, self.pair_energy(safe_r) * switching(safe_r, self.cutoff, width), 0.0)

    def atomic_outputs(self, graph: AtomicGraph, positions: Tensor, shifts: Tensor, return_features: bool) -> dict[str, Tensor]:
        i, j = graph.edge_index
        r = (positions[j] - positions[i] + shifts).norm(dim=-1)
        pair = positions.new_zeros(positions.shape[0]).index_add(0, i, 0.5 * self.switched_pair_energy(r))
        out = {"node_energy": self.readout(pair, self.element_index(graph.atomic_numbers))}
        if self.config.predict_hessian:
            out["hessian"] = self.pair_hessian(graph)
        return out

    def pair_hessian(self, graph: AtomicGraph) -> Tensor:
        """Analytic Hessian from φ' and φ'' of each pair, flattened per structure [sum (3N_b)^2].

        For a pair term φ(|r_j - r_i|) the (i, j) block is ``-(φ'' u u^T + φ'/r (I - u u^T))``
        with ``u = r_ij / r``; diagonal blocks collect minus the off-diagonal ones. Blocks are
        laid out as ``AtomicGraph`` stores Hessians (row-major, index ``3*atom + xyz``).
        """
        r_vec = graph.edge_vectors().detach()
        with torch.enable_grad():
            r = r_vec.norm(dim=-1).requires_grad_(True)
            (d1,) = torch.autograd.grad(self.switched_pair_energy(r).sum(), r, create_graph=True)
            (d2,) = torch.autograd.grad(d1.sum(), r)
        r, d1 = r.detach(), d1.detach()
        u = r_vec / r.clamp_min(1e-12)[:, None]
        uu = u[:, :, None] * u[:, None, :]
        eye = torch.eye(3, dtype=r_vec.dtype, device=r_vec.device)
        # Each pair appears as i->j and j->i: each directed edge carries half of the pair's block.
        block = -0.5 * (d2[:, None, None] * uu + (d1 / r)[:, None, None] * (eye - uu))
        counts = graph.atoms_per_graph().tolist()
        i_all, j_all = graph.edge_index
        flats, start = [], 0
        for g, n in enumerate(counts):
            mask = graph.batch[i_all] == g
            i, j, b = i_all[mask] - start, j_all[mask] - start, block[mask]
            hessian = torch.zeros(n * n, 3, 3, dtype=r_vec.dtype, device=r_vec.device)
            for a, c, sign in ((i, j, 1.0), (j, i, 1.0), (i, i, -1.0), (j, j, -1.0)):
                hessian = hessian.index_add(0, a * n + c, sign * b)
            flats.append(hessian.reshape(n, n, 3, 3).permute(0, 2, 1, 3).reshape(-1))
            start += n
        return torch.cat(flats)


@register_model("harmonic_pair", HarmonicPairConfig)
class HarmonicPair(_PairPotential):
    def pair_energy(self, r: Tensor) -> Tensor:
        return 0.5 * self.config.k * (r - self.config.r0) ** 2


@register_model("morse_pair", MorsePairConfig)
class MorsePair(_PairPotential):
    def pair_energy(self, r: Tensor) -> Tensor:
        c = self.config
        return c.depth * ((1.0 - torch.exp(-c.alpha * (r - c.r0))) ** 2 - 1.0)


@dataclass(frozen=True)
class DoubleWellSurfaceConfig:
    """External field on every atom, in Cartesian coordinates (x, y, z) in Å and eV:

    ``V = h ((x^2 - w^2) / w^2)^2 + k_y y^2 / 2 + k_z z^2 / 2 + c x y``.

    The saddle is at the origin with Hessian ``[[-4h/w^2, c, 0], [c, k_y, 0], [0, 0, k_z]]``
    (first order while ``c^2 < 4 h k_y / w^2``); the two minima are at
    ``x = ±sqrt(w^2 + c^2 w^4 / (4 h k_y))``, ``y = -c x / k_y``, ``z = 0``.
    """

    elements: tuple[int, ...]
    barrier: float = 1.0
    half_width: float = 1.0
    k_y: float = 4.0
    k_z: float = 4.0
    coupling: float = 1.0


@register_model("double_well_surface", DoubleWellSurfaceConfig)
class DoubleWellSurface(EnergyModel):
    def __init__(self, config: DoubleWellSurfaceConfig):
        super().__init__()
        check_elements(config.elements)
        if config.half_width <= 0 or config.barrier <= 0:
            raise ValueError("barrier and half_width must be positive")
        self.config = config
        self.elements = tuple(config.elements)
        # The field needs no neighbours; a short cutoff keeps the neighbour lists small.
        self.cutoff = 0.5
        self.interaction_hops = 0

    def atomic_outputs(self, graph: AtomicGraph, positions: Tensor, shifts: Tensor, return_features: bool) -> dict[str, Tensor]:
        c = self.config
        x, y, z = positions.unbind(-1)
        w2 = c.half_width**2
        energy = c.barrier * ((x**2 - w2) / w2) ** 2 + 0.5 * c.k_y * y**2 + 0.5 * c.k_z * z**2 + c.coupling * x * y
        return {"node_energy": energy}

    def forward(self, graph: AtomicGraph, compute_forces: bool = True, compute_stress: bool = False, **kwargs) -> dict[str, Tensor]:
        if compute_stress:
            raise ValueError("double_well_surface is an external field: it has no stress")
        return super().forward(graph, compute_forces, False, **kwargs)
