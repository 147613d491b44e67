"""Hyperparameters the TFN family shares, and the hidden irreps they describe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from irreps.nn.mlp import Activation, activation_module
from irreps.nn.readout import normalise_readout_fields
from irreps.o3 import Irrep, Irreps

Parity = Literal["full", "natural"]
Nonlinearity = Literal["norm", "gate"]


def hidden_irreps(channels: int, lmax: int, parity: Parity) -> Irreps:
    """``channels`` copies of every degree up to ``lmax``, ``0e`` first.

    ``"natural"``: parity ``(-1)^l`` only (``0e + 1o + 2e ...``), the irreps spherical harmonics
    reach from scalars; ``"full"`` adds the pseudo-tensors (``0o, 1e, 2o ...``), which the
    antisymmetric couplings (``1o x 1o -> 1e``, the cross product) produce: with them the model keeps
    every path of the SO(3) original and stays O(3)-equivariant.
    """
    irs = [Irrep(0, 1)]
    for l in range(lmax + 1):
        natural = Irrep(l, (-1) ** l)
        irs += ([] if l == 0 else [natural]) + ([Irrep(l, -((-1) ** l))] if parity == "full" else [])
    return Irreps([(channels, ir) for ir in irs])


@dataclass(frozen=True)
class PointCloudConfig:
    """Fields of :class:`~irreps.models.tfn.tfn.TFNConfig` and
    :class:`~irreps.models.tfn.se3_transformer.SE3TransformerConfig` (lengths in Å, energies in eV).

    Attributes
    ----------
    elements : tuple of int
    channels : int
        Copies of every irrep of the hidden features (:func:`hidden_irreps`).
    lmax : int
        Largest degree of the hidden features.
    lmax_filter : int
        Largest degree of the spherical harmonics of the filters.
    parity : "full" or "natural"
        Hidden irreps with or without pseudo-tensors (:func:`hidden_irreps`).
    num_layers : int
        Message-passing layers; the last one outputs only the ``0e`` channels the energy reads.
    cutoff : float
    num_basis : int
        Gaussians on ``[0, cutoff]`` that the radial MLPs read.
    radial_dim, radial_layers : int
        Width and number of hidden layers of each radial MLP.
    nonlinearity : "norm" or "gate"
        The paper's norm nonlinearity (:class:`~irreps.ops.norm_activation.NormActivation`) or
        e3nn's gate (:class:`~irreps.ops.gate.Gate`; its gates come from extra ``0e`` outputs of the
        self-interaction).
    activation : str
    e0s, scale, shift, shift_with_neighbours
        Energy readout, as for TensorNet.
    """

    elements: tuple[int, ...]
    channels: int = 16
    lmax: int = 2
    lmax_filter: int = 2
    parity: Parity = "full"
    num_layers: int = 3
    cutoff: float = 5.0
    num_basis: int = 8
    radial_dim: int = 32
    radial_layers: int = 1
    nonlinearity: Nonlinearity = "norm"
    activation: Activation = "silu"
    e0s: tuple[float, ...] = ()
    scale: float = 1.0
    shift: float = 0.0
    shift_with_neighbours: bool = False

    def __post_init__(self) -> None:
        normalise_readout_fields(self)
        for name in ("channels", "num_layers", "num_basis", "radial_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lmax", "lmax_filter", "radial_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.cutoff > 0:
            raise ValueError(f"cutoff must be > 0 Å, got {self.cutoff}")
        if self.parity not in ("full", "natural"):
            raise ValueError(f"parity must be 'full' or 'natural', got {self.parity!r}")
        if self.nonlinearity not in ("norm", "gate"):
            raise ValueError(f"nonlinearity must be 'norm' or 'gate', got {self.nonlinearity!r}")
        activation_module(self.activation)

    @property
    def irreps_hidden(self) -> Irreps:
        return hidden_irreps(self.channels, self.lmax, self.parity)

    @property
    def radial_dims(self) -> tuple[int, ...]:
        """Input and hidden widths of the radial MLPs (their output width is the convolution's)."""
        return (self.num_basis,) + (self.radial_dim,) * self.radial_layers
