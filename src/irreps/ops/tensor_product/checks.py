"""Input validation shared by the edge convolutions (one message format for every engine)."""

from __future__ import annotations

from torch import Tensor


def check_edge_inputs(owner: str, x: Tensor, edge_vec: Tensor, weights: Tensor, feature_dim: int, weight_numel: int) -> None:
    """Raise ``ValueError`` naming ``owner`` when the feature or weight sizes or the edge counts disagree.

    ``x`` [E, feature_dim], ``edge_vec`` [E, 3], ``weights`` [E, weight_numel].
    """
    if x.shape[-1] != feature_dim or weights.shape[-1] != weight_numel:
        raise ValueError(
            f"{owner}: got feature size {x.shape[-1]} and weight size {weights.shape[-1]}, "
            f"expected {feature_dim} and {weight_numel}"
        )
    if edge_vec.shape[-1] != 3:
        raise ValueError(f"{owner}: edge_vec must have shape [num_edges, 3], got {tuple(edge_vec.shape)}")
    if x.shape[0] != edge_vec.shape[0] or x.shape[0] != weights.shape[0]:
        raise ValueError(
            f"{owner}: x, edge_vec and weights must have the same number of edges, "
            f"got {x.shape[0]}, {edge_vec.shape[0]} and {weights.shape[0]}"
        )
