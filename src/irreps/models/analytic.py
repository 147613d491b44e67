"""Analytic reference potentials with exactly known energies, forces, Hessians and saddles.

They implement the same interface as the learned models (registered, frozen config, a forward
mapping an :class:`~irreps.data.graph.AtomicGraph` to ``energy`` [num_graphs], ``forces``
[num_atoms, 3], ``stress`` [num_graphs, 3, 3], per-atom ``energies`` [num_atoms] and, when
asked for in the config, a directly predicted ``hessian``), so calculator and simulation tests
run against real model files whose answers are known in closed form, without training:

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


def switching(r: Tensor, cutoff: float, width: float) -> Tensor:
    """C2 switch: 1 for ``r <= cutoff - width``, ``1 - 10t^3 + 15t^4 - 6t^5`` inside, 0 beyond."""
    t = ((r - (cutoff - width)) / width).clamp(0.0, 1.0)
    return 1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t**2)


def _check_elements(elements: tuple[int, ...], e0: tuple[float, ...]) -> None:
    if not elements or any(z < 1 or z > 118 for z in elements):
        raise ValueError(f"elements must be atomic numbers 1..118, got {elements}")
    if e0 and len(e0) != len(elements):
        raise ValueError(f"e0 has {len(e0)} entries for {len(elements)} elements")


class _PairPotential(torch.nn.Module):
    """Sum of a radial pair term over the (full, i->j and j->i) neighbour list, plus E0s.

    Subclasses define :meth:`pair_energy` φ(r) for r < cutoff; half of each edge's φ goes to
    its receiving atom, so per-atom energies sum to the total.
    """

    def __init__(self, config: HarmonicPairConfig | MorsePairConfig):
        super().__init__()
        elements, e0, cutoff, width = config.elements, config.e0, config.cutoff, config.switch_width
        _check_elements(elements, e0)
        if not 0.0 < width <= cutoff:
            raise ValueError(f"switch_width must be in (0, cutoff], got {width} for cutoff {cutoff}")
        self.config = config
        self.elements = tuple(elements)
        self.cutoff = float(cutoff)
        self.switch_width = float(width)
        table = torch.zeros(max(elements) + 1, dtype=torch.float64)
        table[list(elements)] = torch.tensor(e0 or [0.0] * len(elements), dtype=torch.float64)
        self.register_buffer("e0_table", table)

    def pair_energy(self, r: Tensor) -> Tensor:
        raise NotImplementedError

    def switched_pair_energy(self, r: Tensor) -> Tensor:
        """φ(r) s(r) [num_edges]; exactly zero for r >= cutoff."""
        inside = r < self.cutoff
        # Evaluate φ only where it is used so that far edges give exact zeros (no 0 * inf).
        safe_r = torch.where(inside, r, torch.full_like(r, self.cutoff - self.switch_width))
        return torch.where(inside, self.pair_energy(safe_r) * switching(safe_r, self.cutoff, self.switch_width), 0.0)

    def forward(self, graph: AtomicGraph, compute_forces: bool = True, compute_stress: bool = False) -> dict[str, Tensor]:
        leaf, positions, shifts, strain = _strained(graph, compute_forces, compute_stress)
        i, j = graph.edge_index
        r = (positions[j] - positions[i] + shifts).norm(dim=-1)
        atom_energy = self.e0_table.to(positions.dtype)[graph.atomic_numbers]
        atom_energy = atom_energy.index_add(0, i, 0.5 * self.switched_pair_energy(r))
        out = _finish(graph, atom_energy, leaf, strain, compute_forces)
        if self.config.predict_hessian:
            out["hessian"] = self.pair_hessian(graph)
        return out

    def pair_hessian(self, graph: AtomicGraph) -> Tensor:
        """Analytic Hessian from φ' and φ'' of each pair, flattened per structure [sum (3N_b)^2].

        For a pair term φ(|r_j - r_i|) the (i, j) block is ``-(φ'' u u^T + φ'/r (I - u u^T))``
        with ``u = r_ij / r``; diagonal blocks collect minus the off-diagonal ones. Only valid
        for one structure or a batch (blocks are placed structure by structure).
        """
        r_vec = graph.edge_vectors().detach()
        r = r_vec.norm(dim=-1).requires_grad_(True)
        phi = self.switched_pair_energy(r)
        (d1,) = torch.autograd.grad(phi.sum(), r, create_graph=True)
        (d2,) = torch.autograd.grad(d1.sum(), r)
        u = r_vec / r.detach().clamp_min(1e-12)[:, None]
        uu = u[:, :, None] * u[:, None, :]
        eye = torch.eye(3, dtype=r_vec.dtype, device=r_vec.device)
        # Each pair appears as i->j and j->i; half of each directed edge's block per direction.
        block = -(d2[:, None, None] * uu + (d1 / r.detach())[:, None, None] * (eye - uu)) * 0.5
        counts = graph.atoms_per_graph().tolist()
        first = [sum(counts[:g]) for g in range(len(counts))]
        i_all, j_all = graph.edge_index
        flats = []
        for g, (start, n) in enumerate(zip(first, counts)):
            mask = graph.batch[i_all] == g
            i, j, b = i_all[mask] - start, j_all[mask] - start, block[mask]
            hess = torch.zeros(n * n, 3, 3, dtype=r_vec.dtype, device=r_vec.device)
            for a, c, sign in ((i, j, 1.0), (j, i, 1.0), (i, i, -1.0), (j, j, -1.0)):
                hess = hess.index_add(0, a * n + c, sign * b)
            flats.append(hess.reshape(n, n, 3, 3).permute(0, 2, 1, 3).reshape(-1))
        return torch.cat(flats)


def _strained(graph: AtomicGraph, forces: bool, stress: bool) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Grad-tracked positions, and the positions/shifts under a zero strain ε [num_graphs, 3, 3].

    Energies are computed from ``(1 + ε) r``, so ``dE/dε / V`` is the stress. Positions that
    already require grad (a caller differentiating twice) are used as they are.
    """
    positions = graph.positions
    if (forces or stress) and not positions.requires_grad:
        positions = positions.detach().requires_grad_(True)
    if not stress:
        return positions, positions, graph.shifts, None
    strain = torch.zeros(graph.num_graphs, 3, 3, dtype=positions.dtype, device=positions.device, requires_grad=True)
    edge_graph = graph.batch[graph.edge_index[0]]
    strained_pos = positions + torch.einsum("na,nab->nb", positions, strain[graph.batch])
    strained_shifts = graph.shifts + torch.einsum("ea,eab->eb", graph.shifts, strain[edge_graph])
    return positions, strained_pos, strained_shifts, strain


def _finish(
    graph: AtomicGraph, atom_energy: Tensor, positions: Tensor, strain: Tensor | None, forces: bool
) -> dict[str, Tensor]:
    """Total energies, and forces / stress by autograd of the total energy."""
    energy = torch.zeros(graph.num_graphs, dtype=atom_energy.dtype, device=atom_energy.device)
    energy = energy.index_add(0, graph.batch, atom_energy)
    out = {"energy": energy, "energies": atom_energy}
    inputs = ([positions] if forces else []) + ([strain] if strain is not None else [])
    if not inputs:
        return out
    # Keep the graph when the caller differentiates the forces again (autograd Hessians).
    grads = torch.autograd.grad(energy.sum(), inputs, create_graph=graph.positions.requires_grad)
    if forces:
        out["forces"] = -grads[0]
    if strain is not None:
        volume = torch.linalg.det(graph.cell).abs()
        if bool((volume <= 0).any()):
            raise ValueError("stress needs a periodic cell with non-zero volume")
        out["stress"] = grads[-1] / volume[:, None, None]
    return out


@dataclass(frozen=True)
class HarmonicPairConfig:
    """Springs ``k/2 (r - r0)^2`` between all pairs within ``cutoff`` (eV, Å).

    ``predict_hessian`` adds the analytic Hessian to the outputs, standing in for a model with a
    Hessian head.
    """

    elements: tuple[int, ...]
    k: float = 20.0
    r0: float = 1.0
    cutoff: float = 2.0
    switch_width: float = 0.5
    e0: tuple[float, ...] = ()
    predict_hessian: bool = False


@register_model("harmonic_pair", HarmonicPairConfig)
class HarmonicPair(_PairPotential):
    def pair_energy(self, r: Tensor) -> Tensor:
        return 0.5 * self.config.k * (r - self.config.r0) ** 2


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
class DoubleWellSurface(torch.nn.Module):
    # The field needs no neighbours; the small cutoff keeps neighbour lists short.
    cutoff = 0.5

    def __init__(self, config: DoubleWellSurfaceConfig):
        super().__init__()
        _check_elements(config.elements, ())
        if config.half_width <= 0 or config.barrier <= 0:
            raise ValueError("barrier and half_width must be positive")
        self.config = config
        self.elements = tuple(config.elements)

    def forward(self, graph: AtomicGraph, compute_forces: bool = True, compute_stress: bool = False) -> dict[str, Tensor]:
        if compute_stress:
            raise ValueError("double_well_surface is an external field: it has no stress")
        positions, _, _, _ = _strained(graph, compute_forces, False)
        c = self.config
        x, y, z = positions.unbind(-1)
        w2 = c.half_width**2
        atom_energy = c.barrier * ((x**2 - w2) / w2) ** 2 + 0.5 * c.k_y * y**2 + 0.5 * c.k_z * z**2 + c.coupling * x * y
        return _finish(graph, atom_energy, positions, None, compute_forces)
