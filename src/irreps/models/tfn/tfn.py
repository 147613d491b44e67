"""Tensor Field Networks (Thomas et al. 2018) as an interatomic potential.

Each layer is the paper's point convolution, self-interaction and nonlinearity:

    m_i = 1/sqrt(avg_degree) sum_j f(r_ij) x_j (x) (R(r_ij) Y(r_ij / r_ij)),
    x_i <- eta(SI([m_i, x_i]))

with a radial MLP ``R`` of a Gaussian basis giving one weight per channel and Clebsch-Gordan path
(:class:`~irreps.models.tfn.blocks.EdgeConvolution`), the self-interaction ``SI`` an equivariant
linear with ``0e`` biases, and ``eta`` the norm nonlinearity ``eta(|x| + b) x`` (``eta(x + b)`` on
scalars) or a gate. The paper sums over every point including ``i`` itself, where only the
``Y^0`` filter survives: that self term is the ``x_i`` input of ``SI``.

Differences from the paper, each deliberate: features are O(3) irreps (``parity="full"`` keeps the
pseudo-tensors the antisymmetric paths produce, so every SO(3) path of the original is there and
mirror images get mirrored predictions); neighbours are those within ``cutoff``, each message
weighted by a polynomial envelope ``f`` (smooth energies in MD) and the sum divided by
``sqrt(avg_degree)`` as in e3nn's networks; the energy is an MLP of the last layer's scalars with
per-element E0, scale and shift; forces are ``-dE/dx``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from irreps.models.registry import register_model
from irreps.models.tfn.backbone import PointCloudModel
from irreps.models.tfn.blocks import EdgeConvolution, Edges, SelfInteraction, reachable
from irreps.models.tfn.config import PointCloudConfig
from irreps.o3 import Irreps
from irreps.ops.scatter import scatter_sum


@dataclass(frozen=True)
class TFNConfig(PointCloudConfig):
    """Hyperparameters of TFN: those of :class:`~irreps.models.tfn.config.PointCloudConfig` and

    Attributes
    ----------
    avg_degree : float
        Mean number of neighbours; convolution sums are divided by its square root
        (``irreps train`` sets it from the training data).

    Defaults follow the paper where it is explicit: a radial MLP with one hidden layer on
    Gaussians, filters and features up to ``l = 2``, the norm nonlinearity.
    """

    avg_degree: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.avg_degree > 0:
            raise ValueError(f"avg_degree must be > 0, got {self.avg_degree}")


class TFNLayer(torch.nn.Module):
    """``forward(x [N, irreps_in.dim], edges) -> [N, irreps_out.dim]`` (see the module docstring)."""

    def __init__(self, irreps_in: Irreps, irreps_out: Irreps, config: TFNConfig) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = irreps_in, irreps_out
        targets = reachable(irreps_in, config.lmax_filter, irreps_out, irreps_in[0].mul)
        self.convolution = EdgeConvolution(irreps_in, targets, config.lmax_filter, config.radial_dims, config.activation)
        self.norm = 1.0 / math.sqrt(config.avg_degree)
        self.update = SelfInteraction(targets, irreps_in, irreps_out, config.nonlinearity, config.activation,
                                      normalize_norm=False)

    def forward(self, x: Tensor, edges: Edges) -> Tensor:
        messages = self.convolution(x, edges) * (edges.envelope * self.norm)[:, None]
        return self.update(scatter_sum(messages, edges.receivers, x.shape[0]), x)


@register_model("tfn", TFNConfig)
class TFN(PointCloudModel):
    """Tensor Field Network potential; ``model(graph)`` as in :class:`~irreps.nn.potential.EnergyModel`."""

    def __init__(self, config: TFNConfig) -> None:
        super().__init__(config)
        self.layers.extend(TFNLayer(irreps_in, irreps_out, config) for irreps_in, irreps_out in self.layer_irreps())
