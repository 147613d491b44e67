"""``IrrepsCalculator``: an ASE calculator for any registered irreps model or model file.

It predicts ``energy`` / ``free_energy`` (eV), ``forces`` (eV/Å), ``stress`` (eV/Å^3, ASE sign,
Voigt order, cells periodic in all three directions), per-atom ``energies`` (the model's
``node_energy``) and the ``hessian`` (3N x 3N, eV/Å^2, index ``3*atom + xyz``), either predicted
directly by a model with a Hessian head or by differentiating the forces with autograd.

A *committee* (``IrrepsCalculator([a.pt, b.pt, ...])``, models trained alike from different seeds
or data) predicts the members' mean and adds their spread as the uncertainty users ask for:
``energy_std`` (eV, standard deviation over members) and ``forces_std`` ([N] eV/Å, each atom's
root-mean-square deviation of the members' force vectors from their mean).

A model file that records its training domain (the shortest distance per element pair,
:mod:`irreps.models.domain`) makes the calculator report, with every evaluation,
``domain_distance_ratio`` (the smallest ratio of a pair's distance to the training minimum for
its elements: below 1 the geometry is outside what the model was trained on) and
``unseen_pairs`` (neighbour pairs of elements that never met in training).

Every evaluation is checked against :class:`~irreps.calculators.limits.StructureLimits`
(``limits``; by default non-finite values, atoms closer than half the shortest distance of
their element pair in the training data, or of their covalent radii, and force components
beyond 50 eV/Å): a failing structure raises
:class:`~irreps.calculators.limits.UnphysicalStructure` instead of returning numbers nobody
should use. The simulation workflows check their own, tunable guards (:mod:`irreps.sim.guards`).

The neighbour list is built with radius ``cutoff + skin`` and reused while no atom has moved by
more than ``skin / 2`` since it was built (and cell, periodicity and atomic numbers are
unchanged): no pair can then have come from beyond ``cutoff + skin`` to inside ``cutoff``.
The extra edges between ``cutoff`` and ``cutoff + skin`` contribute exactly zero because every
model multiplies its edge terms by a cutoff function that vanishes there.

``compile=True`` evaluates energy, forces and stress with one compiled program per model
(:class:`~irreps.nn.compiled_potential.CompiledPotential`: the same weights, equal to the eager
model to rounding); the first evaluation records and compiles it (a minute or more, less with a
warm cache, see docs/simulations.md). Calculators of the same model object share its program
(NEB's images, say). A model that cannot be compiled runs eagerly, with a warning that says
why. Hessians always come from the eager model.
"""

from __future__ import annotations

import os
import warnings
import weakref
from dataclasses import replace
from typing import Literal

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from irreps.calculators.limits import StructureLimits, UnphysicalStructure
from irreps.data.conversion import atoms_to_graph
from irreps.data.graph import AtomicGraph
from irreps.models.domain import domain_distance_ratio, shortest_distances
from irreps.models.file import load_model
from irreps.nn.compiled_potential import CompiledPotential, NotCompilable
from irreps.nn.derivatives import hessian_blocks

HessianMode = Literal["auto", "autograd", "direct"]
ForceMode = Literal["conservative", "direct"]
_DTYPES = {"float32": torch.float32, "float64": torch.float64}
# One compiled program per model object, whichever calculator of it asks first.
_COMPILED: weakref.WeakKeyDictionary[torch.nn.Module, CompiledPotential] = weakref.WeakKeyDictionary()


def compiled_potential(model: torch.nn.Module) -> CompiledPotential:
    """The :class:`CompiledPotential` of ``model``, shared by every calculator of that object."""
    if model not in _COMPILED:
        _COMPILED[model] = CompiledPotential(model)
    return _COMPILED[model]


class IrrepsCalculator(Calculator):
    """ASE calculator running an irreps model.

    Parameters
    ----------
    model : str, os.PathLike, torch.nn.Module, or a list of them
        A model file written by :func:`irreps.models.save_model` (loaded safely, no pickled code
        runs) or an already built model (moved to ``device``/``dtype`` in place); a list makes a
        committee (see the module docstring).
    device : str or torch.device
    dtype : {"float32", "float64"} or torch.dtype
        Precision of the model and of the structures it sees; float64 for MD that must
        conserve energy tightly and for finite-difference checks.
    skin : float
        Extra neighbour-list radius in Å that allows reuse of the list between steps
        (0 rebuilds it at every call).
    hessian : {"auto", "autograd", "direct"}
        How the ``hessian`` property is obtained: ``direct`` uses the model's ``hessian``
        output (an error if it has none), ``autograd`` differentiates the forces, ``auto`` uses
        the model's output when present and autograd otherwise.
    forces : {"conservative", "direct"}
        ``conservative`` (default): ``-dE/dx``. ``direct``: the model's direct force head, faster
        but not the gradient of any energy, so NVE dynamics drift (fairchem's eSEN paper showed it
        for direct-force EquiformerV2); an error for a model without that head.
    limits : StructureLimits, "auto" or None
        What every prediction is checked against (:class:`UnphysicalStructure` when it fails):
        ``"auto"`` (default) the default limits with the distance floor referred to the model
        file's training distances; ``None`` checks nothing.
    model_options : dict, optional
        Evaluation options for the model files among ``model`` (``load_model``'s ``options``,
        e.g. ``{"grid_resolution": 18}`` for eSCN/EquiformerV2); built models are used as they
        are (an error when there is no file).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies", "hessian"]

    def __init__(
        self,
        model: str | os.PathLike | torch.nn.Module | list | tuple,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        skin: float = 0.5,
        hessian: HessianMode = "auto",
        forces: ForceMode = "conservative",
        limits: StructureLimits | Literal["auto"] | None = "auto",
        compile: bool = False,
        model_options: dict | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got '{dtype}'")
            dtype = _DTYPES[dtype]
        if not skin >= 0:
            raise ValueError(f"skin must be >= 0 Å, got {skin}")
        if hessian not in ("auto", "autograd", "direct"):
            raise ValueError(f"hessian must be 'auto', 'autograd' or 'direct', got '{hessian}'")
        if forces not in ("conservative", "direct"):
            raise ValueError(f"forces must be 'conservative' or 'direct', got '{forces}'")
        if compile and forces == "direct":
            raise ValueError("compile=True compiles conservative forces only; use forces='conservative' or compile=False")
        members = list(model) if isinstance(model, (list, tuple)) else [model]
        if not members:
            raise ValueError("a committee needs at least one model")
        if model_options and all(isinstance(m, torch.nn.Module) for m in members):
            raise ValueError("model_options apply to model files; build the model with those options instead")
        self.models = [
            m.to(device=device, dtype=dtype).eval() if isinstance(m, torch.nn.Module)
            else load_model(m, device=device, dtype=dtype, options=model_options)
            for m in members
        ]
        self.model = self.models[0]
        self._domain = shortest_distances(self.model)
        if limits == "auto":
            limits = StructureLimits(training_distances=self._domain)
        elif limits is not None and not isinstance(limits, StructureLimits):
            raise ValueError(f"limits must be a StructureLimits, 'auto' or None, got {limits!r}")
        self.limits = limits
        for member in self.models:
            for name in ("cutoff", "elements"):
                if not hasattr(member, name):
                    raise ValueError(f"model '{type(member).__name__}' has no '{name}' attribute")
        self.device = torch.device(device)
        self.dtype = dtype
        self.skin = float(skin)
        self.hessian_mode = hessian
        self.force_mode = forces
        for member in self.models:
            if forces == "direct" and getattr(member, "direct_force_head", None) is None:
                raise ValueError(f"model '{type(member).__name__}' has no direct force head; use forces='conservative'")
        self.compiled = [compiled_potential(m) for m in self.models] if compile else None
        self.num_neighbor_builds = 0
        self._graph: AtomicGraph | None = None
        self._reference: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def check_state(self, atoms: Atoms, tol: float = 1e-15) -> list[str]:
        """The properties of ``all_changes`` that differ from the last calculation's atoms.

        ASE's check compares each with ``np.allclose`` at ``tol`` (~0.2 ms a call for 15 atoms);
        an MD step asks it several times (forces, energy, the log, the guards), a few percent
        of a compiled step. Exact comparison gives the same answer except that a change below
        ``tol`` also counts as a change (a recomputation, never a stale result).
        """
        if self.atoms is None:
            return list(all_changes)
        old, changes, ignored = self.atoms, [], set(self.ignored_changes)
        for name, a, b in (("cell", old.cell.array, atoms.cell.array), ("pbc", old.pbc, atoms.pbc)):
            if name not in ignored and not _same(a, b):
                changes.append(name)
        for name in all_changes:
            if name in ("cell", "pbc") or name in ignored:
                continue
            a, b = old.arrays.get(name), atoms.arrays.get(name)
            if (a is None) != (b is None) or (a is not None and not _same(a, b)):
                changes.append(name)
        return changes

    def calculate(self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        self._validate(atoms)
        want_stress = "stress" in properties
        if want_stress and not atoms.pbc.all():
            raise ValueError(f"stress needs a cell periodic in all three directions, got pbc={atoms.pbc.tolist()}")
        graph = self._current_graph(atoms)
        direct = self.force_mode == "direct"
        if self.compiled is not None:
            outs = self._compiled_outputs(graph, want_stress)
        else:
            outs = [m(graph, compute_forces=not direct, compute_stress=want_stress, direct_forces=direct) for m in self.models]
        energies = np.array([float(out["energy"].detach().sum()) for out in outs])
        forces = np.stack([_numpy(out["direct_forces" if direct else "forces"]) for out in outs])
        if self.limits is not None:
            problem = self.limits.problem(atoms, float(energies.mean()), forces.mean(0))
            if problem is not None:
                raise UnphysicalStructure(f"{problem}; pass limits=None (or looser StructureLimits) to evaluate it anyway")
        self.results["energy"] = self.results["free_energy"] = float(energies.mean())
        self.results["forces"] = forces.mean(0)
        if len(outs) > 1:
            self.results["energy_std"] = float(energies.std())
            self.results["forces_std"] = np.sqrt(np.square(forces - forces.mean(0)).sum(-1).mean(0))
        if all("node_energy" in out for out in outs):
            self.results["energies"] = np.mean([_numpy(out["node_energy"]) for out in outs], axis=0)
        elif "energies" in properties:
            raise PropertyNotImplementedError(f"model '{type(self.model).__name__}' does not return per-atom energies")
        if want_stress:
            stress = np.mean([_numpy(out["stress"])[0] for out in outs], axis=0)
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)
        if self._domain is not None:
            self.results["domain_distance_ratio"], self.results["unseen_pairs"] = self._domain_check(graph)
        if "hessian" in properties:
            if self.compiled is not None:  # a Hessian head's prediction comes from the eager forward
                outs = [m(graph, compute_forces=False) for m in self.models]
            self.results["hessian"] = np.mean([self._hessian(m, graph, out) for m, out in zip(self.models, outs)], axis=0)

    def _compiled_outputs(self, graph: AtomicGraph, want_stress: bool) -> list[dict[str, torch.Tensor]]:
        """Every member's outputs from its compiled program; eager from here on, with a warning,
        when a member cannot be compiled."""
        try:
            return [c(graph, compute_stress=want_stress) for c in self.compiled]
        except NotCompilable as err:
            warnings.warn(f"{err}; running the model eagerly", RuntimeWarning, stacklevel=3)
            self.compiled = None
            return [m(graph, compute_stress=want_stress) for m in self.models]

    def _domain_check(self, graph: AtomicGraph) -> tuple[float, int]:
        """(domain_distance_ratio, unseen_pairs) over the pairs within the model's cutoff."""
        i, j = graph.edge_index
        lengths = (graph.positions[j] - graph.positions[i] + graph.shifts).norm(dim=1)
        inside = lengths < float(self.model.cutoff)
        return domain_distance_ratio(self._domain, graph.atomic_numbers, graph.edge_index[:, inside], lengths[inside])

    def _validate(self, atoms: Atoms) -> None:
        known = set.intersection(*(set(int(z) for z in m.elements) for m in self.models))
        unknown = sorted(set(atoms.numbers.tolist()) - known)
        if unknown:
            from ase.data import chemical_symbols

            raise ValueError(
                f"the model was not trained on element(s) {[chemical_symbols[z] for z in unknown]}; "
                f"it knows {[chemical_symbols[z] for z in sorted(known)]}"
            )
        bad = ~np.isfinite(atoms.positions).all(axis=1)
        if bad.any():
            raise ValueError(f"non-finite (NaN/inf) positions for atoms {np.flatnonzero(bad).tolist()}")
        if atoms.pbc.any():
            periodic = atoms.cell.array[atoms.pbc]
            if np.linalg.matrix_rank(periodic, tol=1e-10) < len(periodic):
                raise ValueError(
                    f"the cell has zero volume along its periodic directions (pbc={atoms.pbc.tolist()}, "
                    f"cell={atoms.cell.array.tolist()})"
                )

    def _current_graph(self, atoms: Atoms) -> AtomicGraph:
        """The stored neighbour graph with current positions, rebuilt when it may be stale."""
        positions = np.asarray(atoms.positions, dtype=np.float64)
        if self._needs_rebuild(atoms):
            cutoff = max(float(m.cutoff) for m in self.models) + self.skin
            self._graph = atoms_to_graph(atoms, cutoff, keys=None, dtype=self.dtype).to(device=self.device)
            self._reference = (positions.copy(), atoms.cell.array.copy(), atoms.pbc.copy(), atoms.numbers.copy())
            self.num_neighbor_builds += 1
        return replace(self._graph, positions=torch.as_tensor(positions, dtype=self.dtype, device=self.device))

    def _needs_rebuild(self, atoms: Atoms) -> bool:
        if self._reference is None or self.skin == 0:
            return True
        positions, cell, pbc, numbers = self._reference
        if len(numbers) != len(atoms) or not np.array_equal(numbers, atoms.numbers):
            return True
        if not (np.array_equal(cell, atoms.cell.array) and np.array_equal(pbc, atoms.pbc)):
            return True
        moved = np.linalg.norm(atoms.positions - positions, axis=1).max(initial=0.0)
        return bool(moved > 0.5 * self.skin)

    def _hessian(self, model: torch.nn.Module, graph: AtomicGraph, out: dict[str, torch.Tensor]) -> np.ndarray:
        size = 3 * graph.num_atoms
        if self.hessian_mode != "autograd" and "hessian" in out:
            return _numpy(out["hessian"]).reshape(size, size)
        if self.hessian_mode == "direct":
            raise ValueError(f"model '{type(model).__name__}' does not predict a Hessian; use hessian='autograd'")
        # Differentiate the energy twice here rather than asking the model for compute_hessian,
        # which returns a Hessian head's prediction when the model has one.
        positions = graph.positions.detach().clone().requires_grad_(True)
        graph = replace(graph, positions=positions)
        energy = model(graph, compute_forces=False)["energy"].sum()
        (gradient,) = torch.autograd.grad(energy, positions, create_graph=True)
        hessian = _numpy(hessian_blocks(-gradient, positions, graph.batch, graph.num_graphs)).reshape(size, size)
        # Autograd rows agree with the columns only to rounding; symmetrise.
        return 0.5 * (hessian + hessian.T)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool((a == b).all())


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy()
