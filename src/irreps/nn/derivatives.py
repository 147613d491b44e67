"""Forces, stress and Hessians of a predicted energy by automatic differentiation.

Stress uses the strain derivative: positions, periodic shifts and cells are displaced by a
symmetric strain ``eps`` (``x -> x (1 + eps)``, row vectors), and
``stress = (1 / V) dE/d eps`` in eV/Å^3 with ASE's sign convention (positive = tensile,
what ``ase.Atoms.get_stress`` returns before Voigt packing).
"""

from __future__ import annotations

import torch
from torch import Tensor


def strained_inputs(
    positions: Tensor, shifts: Tensor, batch: Tensor, edge_receiver: Tensor, num_graphs: int,
    forces: bool, stress: bool,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Leaf tensors to differentiate against, and the inputs displaced by them.

    Parameters
    ----------
    positions : Tensor [N, 3]
    shifts : Tensor [E, 3]
        Cartesian periodic-image offsets of each edge.
    batch : Tensor [N]
        Structure of each atom.
    edge_receiver : Tensor [E]
        ``edge_index[0]``, to find the structure of each edge.
    forces, stress : bool
        Which derivatives will be asked for.

    Returns
    -------
    (positions, shifts, position_leaf, strain)
        Displaced positions [N, 3] and shifts [E, 3] to feed the model; ``position_leaf``
        [N, 3] (or None) and ``strain`` [num_graphs, 3, 3] (zeros, or None) are the leaves.
    """
    leaf = None
    if forces or stress:
        leaf = positions.detach().requires_grad_(True) if not positions.requires_grad else positions
        positions = leaf
    strain = None
    if stress:
        strain = torch.zeros(num_graphs, 3, 3, dtype=positions.dtype, device=positions.device, requires_grad=True)
        sym = 0.5 * (strain + strain.transpose(1, 2))
        positions = positions + torch.bmm(positions.unsqueeze(1), sym[batch]).squeeze(1)
        shifts = shifts + torch.bmm(shifts.unsqueeze(1), sym[batch[edge_receiver]]).squeeze(1)
    return positions, shifts, leaf, strain


def forces_and_stress(
    energy: Tensor, positions: Tensor | None, strain: Tensor | None, cell: Tensor, create_graph: bool
) -> dict[str, Tensor]:
    """``forces = -dE/dx`` [N, 3] and ``stress = (1/V) dE/d eps`` [G, 3, 3] of a total energy [G].

    Raises ``ValueError`` when stress is requested for a structure without a cell (zero volume).
    """
    inputs = [t for t in (positions, strain) if t is not None]
    grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph, allow_unused=True)
    out: dict[str, Tensor] = {}
    k = 0
    if positions is not None:
        g = grads[k] if grads[k] is not None else torch.zeros_like(positions)
        out["forces"] = -g
        k += 1
    if strain is not None:
        volume = torch.linalg.det(cell).abs()
        if bool((volume <= 0).any()):
            raise ValueError("stress requested for a structure without a cell (zero volume)")
        g = grads[k] if grads[k] is not None else torch.zeros_like(strain)
        out["stress"] = g / volume[:, None, None]
    return out


def hessian_blocks(
    forces: Tensor, positions: Tensor, batch: Tensor, num_graphs: int, create_graph: bool = False
) -> Tensor:
    """Per-structure Hessians ``d^2E/dx^2`` from forces built with ``create_graph=True``.

    Atoms of a structure must be contiguous (as in every ``AtomicGraph`` batch).
    ``create_graph=True`` keeps the graph so a loss on the Hessian can be trained.

    Returns
    -------
    Tensor [sum_b (3 N_b)^2]
        Row-major ``(3 N_b x 3 N_b)`` blocks (atom-major: index ``3 * atom + xyz``)
        concatenated over the structures, as ``AtomicGraph`` stores Hessian targets.
        Each block costs ``3 N_b`` backward passes.
    """
    counts = torch.bincount(batch, minlength=num_graphs).tolist()
    flat = forces.reshape(-1)
    blocks = []
    start = 0
    for n in counts:
        rows = []
        for k in range(3 * start, 3 * (start + n)):
            (g,) = torch.autograd.grad(
                -flat[k], positions, retain_graph=True, create_graph=create_graph, allow_unused=True
            )
            g = torch.zeros_like(positions) if g is None else g
            rows.append(g[start : start + n].reshape(-1))
        block = torch.stack(rows) if rows else forces.new_zeros(0, 0)
        blocks.append(block.reshape(-1))
        start += n
    return torch.cat(blocks)
