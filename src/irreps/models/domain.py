"""What a model file records about the geometries it was trained on.

``metadata["training"]["shortest_distances"]`` holds ``[z_i, z_j, distance]`` rows (``z_i <=
z_j``, Å): the shortest distance between two atoms of those elements in the training set
(:func:`irreps.data.statistics.shortest_distances`). Below it the model extrapolates, so the
simulation guards put their distance floor at a fraction of it (:mod:`irreps.sim.guards`).
Model files written before it was recorded, and models built in Python, have none.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

SHORTEST_DISTANCES = "shortest_distances"


def encode_shortest_distances(distances: Mapping[tuple[int, int], float]) -> list[list[float]]:
    """The metadata rows of ``{(z_i, z_j): distance}`` (plain lists, as model files store them)."""
    return [[int(min(a, b)), int(max(a, b)), float(d)] for (a, b), d in sorted(distances.items())]


def shortest_distances(model: torch.nn.Module) -> dict[tuple[int, int], float] | None:
    """``{(z_i, z_j): distance}`` from a loaded model file's metadata; ``None`` when it has none."""
    rows = getattr(model, "metadata", {}).get("training", {}).get(SHORTEST_DISTANCES)
    if not rows:
        return None
    try:
        return {(int(a), int(b)): float(d) for a, b, d in rows}
    except (TypeError, ValueError) as err:
        raise ValueError(f"the model file's {SHORTEST_DISTANCES} are malformed ({err})") from err


def domain_distance_ratio(
    distances: Mapping[tuple[int, int], float], numbers: torch.Tensor, edge_index: torch.Tensor, lengths: torch.Tensor
) -> tuple[float, int]:
    """How far a structure's closest pairs are inside the training domain.

    Parameters
    ----------
    distances : {(z_i, z_j): shortest training distance}
    numbers : Tensor [N]
        Atomic numbers.
    edge_index : Tensor [2, E]
        Pairs to check (a neighbour list).
    lengths : Tensor [E]
        Their distances (Å).

    Returns
    -------
    (ratio, unseen)
        ``ratio``: the smallest ``length / training minimum`` over pairs of element pairs seen in
        training (below 1: closer than anything the model was trained on; ``inf`` without such
        pairs); ``unseen``: pairs whose element pair never occurred in training.
    """
    numbers = numbers.cpu()
    z_i, z_j = numbers[edge_index[0].cpu()], numbers[edge_index[1].cpu()]
    size = max([int(numbers.max()) if numbers.numel() else 0, *(max(pair) for pair in distances)]) + 1
    table = torch.full((size, size), float("nan"), dtype=torch.float64)  # one lookup, not a loop over pairs
    for (a, b), distance in distances.items():
        table[min(a, b), max(a, b)] = distance
    reference = table[torch.minimum(z_i, z_j), torch.maximum(z_i, z_j)]
    seen = ~torch.isnan(reference)
    ratios = lengths.detach().double().cpu()[seen] / reference[seen]
    return (float(ratios.min()) if len(ratios) else float("inf")), int((~seen).sum())
