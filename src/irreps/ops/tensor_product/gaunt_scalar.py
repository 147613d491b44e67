"""The Gaunt edge convolution of scalar features, in closed form (no sphere grid).

When the input is scalars only (``C x 0e`` or ``C x 0o``) each channel is the constant function
``w_in[0] x`` on the sphere (the 'component' ``Y_00 = 1``), so its product with the filter
``sum_l w_filter[l] Y^l(r)`` is already a sum of harmonics and the projection
``(1/4pi) int h Y_lm dOmega`` just reads off the coefficients::

    out_lm = w_in[0] x  w_filter[l]  w_out[l]  Y_lm(r)     (l <= min(lmax_filter, lmax_out), else 0)

This is exactly what :class:`~irreps.ops.tensor_product.GauntConvolution` computes for such inputs
(same weights, same layout) but without the torus grid, whose size is set by ``lmax_filter +
lmax_out`` whatever the input degree. :func:`~irreps.ops.tensor_product.make_convolution` picks it
from the irreps when the Gaunt engine convolves scalars (the first layer of a message-passing model).
"""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.o3 import Irreps, spherical_harmonics
from irreps.ops.tensor_product.checks import check_edge_inputs
from irreps.ops.tensor_product.gaunt import sphere_parity


class ScalarGauntConvolution(torch.nn.Module):
    """``GauntConvolution`` of scalar inputs, ``x_j w_in[0] (sum_l w_filter[l] Y^l(r_ij))`` weighted by ``w_out[l]``.

    Parameters
    ----------
    irreps_in : Irreps or str
        ``C x 0e`` or ``C x 0o``.
    lmax_out : int
        Output irreps ``C x (l, s (-1)^l)``, ``l <= lmax_out``, with the input's parity ``s``.
    lmax_filter : int

    Weight layout as :class:`~irreps.ops.tensor_product.GauntConvolution`'s: ``weights[e].view(num_params, C)``
    with params ``w_in[0]``, ``w_filter[0..lmax_filter]``, ``w_out[0..lmax_out]``.
    """

    def __init__(self, irreps_in: Irreps | str, lmax_out: int, lmax_filter: int) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in)
        self.channels, sign = sphere_parity(self.irreps_in)
        if self.irreps_in.lmax != 0:
            raise ValueError(f"ScalarGauntConvolution: inputs must be scalars only, got {self.irreps_in}")
        if lmax_filter < 0 or lmax_out < 0:
            raise ValueError(f"ScalarGauntConvolution: degrees must be >= 0, got lmax_out={lmax_out}, lmax_filter={lmax_filter}")
        self.irreps_out = Irreps([(self.channels, (l, sign * (-1) ** l)) for l in range(lmax_out + 1)])
        self.lmax_filter, self.lmax_out = int(lmax_filter), int(lmax_out)
        self._sizes = [1, lmax_filter + 1, lmax_out + 1]
        self.num_params = sum(self._sizes)
        self.weight_numel = self.num_params * self.channels
        # degrees the filter reaches; the output's higher degrees are zero (a product with a constant
        # has the filter's degrees only)
        self._reached = min(self.lmax_filter, self.lmax_out) + 1
        self._zero_dim = sum(m.dim for m in self.irreps_out[self._reached:])

    def forward(self, x: Tensor, edge_vec: Tensor, weights: Tensor) -> Tensor:
        """Convolve ``x [E, C]`` with the filter of ``edge_vec [E, 3]`` (``r_ij``, direction only), ``weights
        [E, weight_numel]`` -> ``[E, irreps_out.dim]``."""
        check_edge_inputs("ScalarGauntConvolution", x, edge_vec, weights, self.irreps_in.dim, self.weight_numel)
        e, k = x.shape[0], self._reached
        # split and unbind, not slicing: their backward is a cat/stack, not a zero-filled [E, weight_numel] per slice
        w_in, w_filter, w_out = weights.reshape(e, self.num_params, self.channels).split(self._sizes, dim=1)
        scale = (x[:, None, :] * w_in) * w_filter[:, :k] * w_out[:, :k]  # [E, k, C]
        sh = spherical_harmonics(list(range(k)), edge_vec).split([2 * l + 1 for l in range(k)], dim=1)
        blocks = [(s[:, :, None] * y[:, None, :]).reshape(e, s.shape[1] * y.shape[1]) for s, y in zip(scale.unbind(1), sh)]
        if self._zero_dim:
            blocks.append(x.new_zeros(e, self._zero_dim))
        return torch.cat(blocks, dim=-1)

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {self.irreps_out}, lmax_filter={self.lmax_filter}"
