"""Tensor-product engines behind one edge-convolution interface.

Three engines compute the equivariant convolution of edge features with their edge direction
(``x_j`` times a spherical-harmonics filter of ``r_ij`` with per-edge radial weights):

* ``"cg"``: Clebsch-Gordan, every path, e3nn-compatible (:class:`CGConvolution`);
* ``"so2"``: eSCN's SO(2) convolution in edge frames, equal to CG for matching weights (:class:`SO2Convolution`);
* ``"gaunt"``: Gaunt product through 2D Fourier series, even paths only (:class:`GauntConvolution`;
  scalar inputs take its closed form :class:`ScalarGauntConvolution`, equal outputs, no sphere grid).

Each exposes ``irreps_in``, ``irreps_out`` and ``weight_numel`` and is called as
``conv(x [E, irreps_in.dim], edge_vec [E, 3], weights [E, weight_numel]) -> [E, irreps_out.dim]``,
so a model builds its radial network from ``conv.weight_numel`` and switches engines by name.
"""

from __future__ import annotations

from typing import Literal

import torch

from irreps.o3 import Irreps
from irreps.ops.tensor_product.cg import CGConvolution, Instruction, TensorProduct, channelwise_instructions
from irreps.ops.tensor_product.gaunt import GauntConvolution, GauntProduct, GauntTensorProduct
from irreps.ops.tensor_product.gaunt_scalar import ScalarGauntConvolution
from irreps.ops.tensor_product.so2 import SO2Convolution, wigner_D_stack

Engine = Literal["cg", "gaunt", "so2"]
ENGINES: tuple[str, ...] = ("cg", "gaunt", "so2")


def make_convolution(
    engine: Engine, irreps_in: Irreps | str, irreps_out: Irreps | str, lmax_filter: int, m_max: int | None = None
) -> torch.nn.Module:
    """Build the edge convolution of ``engine``.

    Parameters
    ----------
    engine : {'cg', 'gaunt', 'so2'}
    irreps_in, irreps_out : Irreps or str
        For 'so2' distinct irreps with one multiplicity; for 'gaunt' sphere functions
        ``C x 0e + C x 1o + ...`` (the output degree is ``irreps_out.lmax``, its parities follow;
        scalar inputs ``C x 0e`` get :class:`ScalarGauntConvolution`, the same map without a grid).
    lmax_filter : int
        Degree of the spherical-harmonics filter ('cg', 'gaunt'). 'so2' spans every filter degree
        up to ``l_in + l_out`` and ignores it.
    m_max : int, optional
        'so2' only: keep ``|m| <= m_max`` in the edge frame.
    """
    if engine == "cg":
        return CGConvolution(irreps_in, irreps_out, lmax_filter)
    if engine == "so2":
        return SO2Convolution(irreps_in, irreps_out, m_max=m_max)
    if engine == "gaunt":
        scalars = len(Irreps(irreps_in)) == 1 and Irreps(irreps_in).lmax == 0
        gaunt = ScalarGauntConvolution if scalars else GauntConvolution
        conv = gaunt(irreps_in, Irreps(irreps_out).lmax, lmax_filter)
        if conv.irreps_out != Irreps(irreps_out):
            raise ValueError(f"make_convolution: the Gaunt engine produces {conv.irreps_out}, not {irreps_out}")
        return conv
    raise ValueError(f"make_convolution: unknown engine {engine!r}; choose one of {ENGINES}")


__all__ = [
    "ENGINES",
    "CGConvolution",
    "Engine",
    "GauntConvolution",
    "GauntProduct",
    "GauntTensorProduct",
    "Instruction",
    "SO2Convolution",
    "ScalarGauntConvolution",
    "TensorProduct",
    "channelwise_instructions",
    "make_convolution",
    "wigner_D_stack",
]
