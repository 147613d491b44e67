"""Activations by name and a plain multi-layer perceptron."""

from __future__ import annotations

from typing import Literal

import torch

Activation = Literal["silu", "scaled_silu", "tanh", "gelu", "softplus", "relu"]


class ScaledSiLU(torch.nn.Module):
    """``silu(x) / 0.6``: SiLU rescaled to roughly unit output variance (fairchem's ``scaled_silu``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.silu(x) * (1 / 0.6)


_ACTIVATIONS = {
    "silu": torch.nn.SiLU,
    "scaled_silu": ScaledSiLU,
    "tanh": torch.nn.Tanh,
    "gelu": torch.nn.GELU,
    "softplus": torch.nn.Softplus,
    "relu": torch.nn.ReLU,
}


def activation_module(name: str) -> torch.nn.Module:
    """A fresh activation module for ``name`` (one of ``Activation``)."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; choose one of {', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]()


class MLP(torch.nn.Sequential):
    """Linear layers of widths ``dims[0] -> dims[1] -> ... -> dims[-1]`` with an activation between.

    Parameters
    ----------
    dims : sequence of int
        Input, hidden and output widths (at least two entries).
    activation : str
        Activation name (see ``Activation``).
    activate_last : bool
        Apply the activation after the last layer too.
    """

    def __init__(self, dims: tuple[int, ...] | list[int], activation: str = "silu", activate_last: bool = False):
        if len(dims) < 2:
            raise ValueError(f"an MLP needs at least input and output widths, got {list(dims)}")
        layers: list[torch.nn.Module] = []
        for k, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(torch.nn.Linear(d_in, d_out))
            if activate_last or k < len(dims) - 2:
                layers.append(activation_module(activation))
        super().__init__(*layers)


class RadialMLP(torch.nn.Sequential):
    """``Linear -> LayerNorm -> SiLU`` per hidden width, then a final ``Linear`` (EquiformerV2's radial
    function of the distance embedding): ``dims = (in, hidden..., out)``."""

    def __init__(self, dims: tuple[int, ...] | list[int]):
        if len(dims) < 2:
            raise ValueError(f"RadialMLP needs at least input and output widths, got {list(dims)}")
        layers: list[torch.nn.Module] = []
        for k, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(torch.nn.Linear(d_in, d_out))
            if k < len(dims) - 2:
                layers += [torch.nn.LayerNorm(d_out), torch.nn.SiLU()]
        super().__init__(*layers)
