"""Baselines for weight-space tasks: a flat MLP (no symmetry) and DeepSets over all parameters
(invariant to every permutation of the parameters within a block, so blind to the wiring)."""

from __future__ import annotations

import torch

from .weight_space import _blocks, _check_dims, flatten_params


class FlatMLPRegressor(torch.nn.Module):
    """MLP on the concatenated parameters ``[batch, num_params]``: ignores the symmetry."""

    def __init__(self, dims, hidden: int = 128, out_features: int = 1):
        super().__init__()
        dims = _check_dims(dims)
        num = sum(dims[i + 1] * dims[i] + dims[i + 1] for i in range(len(dims) - 1))
        self.net = torch.nn.Sequential(torch.nn.Linear(num, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                                       torch.nn.ReLU(), torch.nn.Linear(hidden, out_features))

    def forward(self, weights, biases) -> torch.Tensor:
        return self.net(flatten_params(weights, biases)[:, 0])


class DeepSetsRegressor(torch.nn.Module):
    """DeepSets on the set of scalar parameters, each tagged by a one-hot of its block."""

    def __init__(self, dims, hidden: int = 64, out_features: int = 1):
        super().__init__()
        self.dims = _check_dims(dims)
        num_blocks = len(_blocks(self.dims))
        tags = [torch.full((_size(self.dims, kind, i),), b)
                for b, (kind, i, _) in enumerate(_blocks(self.dims))]
        self.register_buffer("tags", torch.nn.functional.one_hot(torch.cat(tags), num_blocks).float(), persistent=False)
        self.phi = torch.nn.Sequential(torch.nn.Linear(1 + num_blocks, hidden), torch.nn.ReLU(),
                                       torch.nn.Linear(hidden, hidden), torch.nn.ReLU())
        self.rho = torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, out_features))

    def forward(self, weights, biases) -> torch.Tensor:
        values = flatten_params(weights, biases)[:, 0, :, None]  # [batch, num_params, 1]
        tags = self.tags.to(values.dtype).expand(values.shape[0], -1, -1)
        return self.rho(self.phi(torch.cat([values, tags], dim=-1)).mean(1))


def _size(dims, kind: str, i: int) -> int:
    return dims[i + 1] * dims[i] if kind == "W" else dims[i + 1]
