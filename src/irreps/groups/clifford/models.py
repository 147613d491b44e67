"""Invariant regressor on sets of vectors from multivector layers (the O(5) task of CGENN and GLGENN)."""

from __future__ import annotations

import torch

from .algebra import CliffordAlgebra
from .layers import GeometricProductLayer, MultivectorGate, Sharing


class CliffordRegressor(torch.nn.Module):
    """``[batch, num_vectors, n]`` -> ``[batch, num_outputs]``, exactly O(p, q)-invariant.

    The vectors are mixed linearly into ``hidden_channels`` channels, embedded as grade-1
    multivectors, passed through ``num_product_layers`` `GeometricProductLayer`
    (with a `MultivectorGate` between them), and the scalar (grade-0) part of each channel, an
    invariant, feeds an MLP with two hidden layers of ``mlp_dim``. This is the architecture of the
    CGENN and GLGENN O(5) experiments: ``sharing="grade", include_linear=True`` is CGENN's,
    ``sharing="quaternion", include_linear=False`` GLGENN's.
    """

    def __init__(self, algebra: CliffordAlgebra, num_vectors: int, hidden_channels: int = 8, mlp_dim: int = 380,
                 num_outputs: int = 1, sharing: Sharing = "grade", include_linear: bool = True,
                 num_product_layers: int = 1):
        super().__init__()
        if num_product_layers < 1:
            raise ValueError(f"num_product_layers must be at least 1, got {num_product_layers}")
        self.algebra, self.num_vectors = algebra, num_vectors
        # inputs are pure vectors: one weight per channel pair mixes them (as in both papers)
        self.embed = torch.nn.Linear(num_vectors, hidden_channels, bias=False)
        layers: list[torch.nn.Module] = []
        for i in range(num_product_layers):
            if i:
                layers.append(MultivectorGate(algebra, hidden_channels, sharing))
            layers.append(GeometricProductLayer(algebra, hidden_channels, sharing, include_linear=include_linear))
        self.layers = torch.nn.Sequential(*layers)
        self.head = torch.nn.Sequential(
            torch.nn.Linear(hidden_channels, mlp_dim), torch.nn.ReLU(), torch.nn.Linear(mlp_dim, mlp_dim),
            torch.nn.ReLU(), torch.nn.Linear(mlp_dim, num_outputs))

    def clifford_parameters(self) -> int:
        """Number of parameters in the multivector layers (the head excluded)."""
        return sum(p.numel() for m in (self.embed, self.layers) for p in m.parameters())

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        if vectors.dim() != 3 or vectors.shape[1:] != (self.num_vectors, self.algebra.dim):
            raise ValueError(f"expected vectors [batch, {self.num_vectors}, {self.algebra.dim}], "
                             f"got shape {list(vectors.shape)}")
        mixed = self.embed(vectors.transpose(1, 2)).transpose(1, 2)  # [batch, hidden, n]
        x = self.layers(self.algebra.embed_vectors(mixed))
        return self.head(x[..., 0])
