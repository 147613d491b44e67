"""Hessian error metrics: entries, eigenvalues and harmonic frequencies, for direct and autograd Hessians.

For each structure of a test set the predicted Hessian (3N x 3N, eV/Å^2) is compared with the
reference in three ways:

- ``hessian_mae`` / ``hessian_rmse``: over every entry (eV/Å^2);
- ``eigenvalue_mae``: over the sorted eigenvalues of the raw Cartesian Hessians (eV/Å^2);
- ``freq_mae_cm1``: over the sorted harmonic frequencies (cm^-1) of the mass-weighted Hessians
  after projecting out the rigid translations and rotations (Eckart conditions, so 3N - 6
  vibrations, 3N - 5 for a linear molecule). Off-equilibrium geometries have negative
  curvature modes; they are reported as negative ("imaginary") frequencies, so sign errors count.

:func:`evaluate_hessians` does this for the model's direct Hessian (a Hessian head's
``hessian`` output) and for the Hessian of the same model's energy by automatic
differentiation (:func:`autograd_hessian`), the comparison HIP makes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

import torch
from ase.data import atomic_masses
from torch import Tensor

from irreps.data.batch import split_hessian
from irreps.data.graph import AtomicGraph

# sqrt(eV / (Å^2 amu)) in rad/s, divided by 2 pi c (cm/s): CODATA 2018 values
_E_CHARGE, _AMU, _C_CM = 1.602176634e-19, 1.66053906660e-27, 2.99792458e10
CM1_PER_SQRT_EV_A2_AMU = math.sqrt(_E_CHARGE / (1e-20 * _AMU)) / (2.0 * math.pi * _C_CM)


def rigid_body_basis(positions: Tensor, masses: Tensor) -> Tensor:
    """Orthonormal basis of mass-weighted rigid translations and rotations, ``[3N, k]``.

    ``k`` is 6, or 5 for a linear molecule (3 for one atom): the rank is read off the
    singular values (relative tolerance 1e-8).
    """
    n = positions.shape[0]
    sqrt_m = masses.sqrt()
    centred = positions - (masses[:, None] * positions).sum(0) / masses.sum()
    eye = torch.eye(3, dtype=positions.dtype, device=positions.device)
    translations = (sqrt_m[:, None, None] * eye[None]).permute(2, 0, 1).reshape(3, 3 * n)
    # rotation about axis e moves atom a by e x r_a
    rotations = torch.linalg.cross(eye[:, None, :].expand(3, n, 3), centred[None].expand(3, n, 3), dim=-1)
    rotations = (sqrt_m[None, :, None] * rotations).reshape(3, 3 * n)
    u, s, _ = torch.linalg.svd(torch.cat((translations, rotations)).T, full_matrices=False)
    return u[:, s > 1e-8 * s[0]]


def harmonic_frequencies(hessian: Tensor, positions: Tensor, masses: Tensor) -> Tensor:
    """Harmonic frequencies (cm^-1) of the vibrations, sorted; negative for negative curvature.

    Parameters
    ----------
    hessian : Tensor [3N, 3N]
        Cartesian Hessian (eV/Å^2), atom-major.
    positions : Tensor [N, 3]
        Geometry (Å), to build the rigid-body modes that are projected out.
    masses : Tensor [N]
        Atomic masses (amu).

    Returns
    -------
    Tensor [3N - k]
        ``sign(l) sqrt(|l|)`` in cm^-1 for the eigenvalues ``l`` of the mass-weighted Hessian
        restricted to the complement of the ``k`` rigid-body modes.
    """
    inv_sqrt = masses.rsqrt().repeat_interleave(3)
    weighted = inv_sqrt[:, None] * hessian * inv_sqrt[None, :]
    rigid = rigid_body_basis(positions, masses)
    eye = torch.eye(hessian.shape[0], dtype=hessian.dtype, device=hessian.device)
    full, _ = torch.linalg.qr(torch.cat((rigid, eye), 1))  # first columns span the rigid modes
    internal = full[:, rigid.shape[1] : hessian.shape[0]]
    values = torch.linalg.eigvalsh(internal.T @ weighted @ internal)
    return torch.sign(values) * values.abs().sqrt() * CM1_PER_SQRT_EV_A2_AMU


def masses_of(atomic_numbers: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
    """Standard atomic masses (amu) of ``atomic_numbers`` [N]."""
    table = torch.as_tensor(atomic_masses, dtype=dtype)
    return table[atomic_numbers.cpu()]


class HessianErrors:
    """Collects per-structure Hessian errors over batches; :meth:`result` reduces them."""

    def __init__(self) -> None:
        self._entries: list[Tensor] = []
        self._eigenvalues: list[Tensor] = []
        self._frequencies: list[Tensor] = []

    def update(self, predicted: Tensor, graph: AtomicGraph) -> None:
        """Add one batch: ``predicted`` flattened Hessian blocks, references in ``graph.targets``."""
        if "hessian" not in graph.targets:
            raise ValueError("the graphs carry no reference 'hessian'")
        counts = graph.atoms_per_graph().cpu()
        preds = split_hessian(predicted.detach().to(device="cpu", dtype=torch.float64), counts)
        refs = split_hessian(graph.targets["hessian"].detach().to(device="cpu", dtype=torch.float64), counts)
        positions = graph.positions.detach().to(device="cpu", dtype=torch.float64)
        masses = masses_of(graph.atomic_numbers)
        start = 0
        for pred, ref, n in zip(preds, refs, counts.tolist()):
            pred = 0.5 * (pred + pred.T)  # autograd Hessians are symmetric only to rounding
            self._entries.append((pred - ref).reshape(-1))
            self._eigenvalues.append(torch.linalg.eigvalsh(pred) - torch.linalg.eigvalsh(ref))
            pos, m = positions[start : start + n], masses[start : start + n]
            self._frequencies.append(harmonic_frequencies(pred, pos, m) - harmonic_frequencies(ref, pos, m))
            start += n

    def result(self) -> dict[str, float]:
        """``hessian_mae``, ``hessian_rmse``, ``eigenvalue_mae`` (eV/Å^2), ``freq_mae_cm1``, ``num_structures``."""
        if not self._entries:
            raise ValueError("no Hessians were collected")
        entries = torch.cat(self._entries)
        return {
            "hessian_mae": float(entries.abs().mean()),
            "hessian_rmse": float(entries.square().mean().sqrt()),
            "eigenvalue_mae": float(torch.cat(self._eigenvalues).abs().mean()),
            "freq_mae_cm1": float(torch.cat(self._frequencies).abs().mean()),
            "num_structures": len(self._entries),
        }


def autograd_hessian(model: torch.nn.Module, graph: AtomicGraph) -> Tensor:
    """Second derivatives of the model's energy for every structure of a batch, by autograd.

    Structures are independent, so row ``k`` of every structure's Hessian comes from one
    backward pass: ``3 * max_b N_b`` passes for the whole batch.

    Returns
    -------
    Tensor [sum_b 9 N_b^2]
        Flattened row-major blocks (data-layer layout), detached.
    """
    counts = graph.atoms_per_graph()
    first = torch.cumsum(counts, 0) - counts
    positions = graph.positions.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        energy = model(replace(graph, positions=positions), compute_forces=False)["energy"]
        (gradient,) = torch.autograd.grad(energy.sum(), positions, create_graph=True)
        rows = []
        for k in range(3 * int(counts.max())):
            atom, xyz = divmod(k, 3)
            present = atom < counts
            selected = gradient[(first + atom)[present], xyz].sum()
            (row,) = torch.autograd.grad(selected, positions, retain_graph=True, allow_unused=True)
            rows.append(torch.zeros_like(positions) if row is None else row.detach())
    table = torch.stack(rows)  # [3 max_n, N, 3]: row k of the Hessian of each atom's structure
    blocks = []
    for b, n in enumerate(counts.tolist()):
        start = int(first[b])
        blocks.append(table[: 3 * n, start : start + n].reshape(3 * n, 3 * n).reshape(-1))
    return torch.cat(blocks)


def evaluate_hessians(
    model: torch.nn.Module, batches: Iterable[AtomicGraph], autograd: bool = True
) -> dict[str, dict[str, float]]:
    """Hessian metrics of the direct Hessian (if the model predicts one) and of the autograd Hessian.

    Returns
    -------
    dict
        ``{"direct": {...}, "autograd": {...}}`` with the keys of :meth:`HessianErrors.result`;
        ``direct`` only for models with a ``hessian`` output, ``autograd`` only if asked.
    """
    direct, derived = HessianErrors(), HessianErrors()
    has_direct = False
    for graph in batches:
        with torch.no_grad():
            out = model(graph, compute_forces=False)
        if "hessian" in out:
            has_direct = True
            direct.update(out["hessian"], graph)
        if autograd:
            derived.update(autograd_hessian(model, graph), graph)
    result = {}
    if has_direct:
        result["direct"] = direct.result()
    if autograd:
        result["autograd"] = derived.result()
    return result
