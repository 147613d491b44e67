"""eSCN's SO(2) convolution: a dense linear map of edge-frame features that commutes with rotations about the edge.

In the edge frame (:class:`~irreps.ops.sphere.EdgeRotation`) a rotation by ``phi`` about the edge
turns each pair ``(x_{+m}, x_{-m})`` by ``m phi``. Writing the pair as ``x_{+m} + i x_{-m}``, every
complex-linear map over the ``(l, channel)`` entries of one ``m`` commutes with it::

    y_{+m} = A x_{+m} - B x_{-m},   y_{-m} = A x_{-m} + B x_{+m}      (m > 0)
    y_0 = A_0 x_0 + b                                                 (m = 0, real)

with dense ``A, B`` mixing all degrees ``l >= m`` and channels (Passaro & Zitnick 2023). ``B``
breaks mirror symmetry (a reflection through a plane containing the edge conjugates the pair),
so the papers' models are SO(3)-equivariant; ``equivariance="O(3)"`` drops ``B`` and keeps
reflections too (all features have parity ``(-1)^l``). Optional per-edge ``radial`` weights
multiply the inputs first, one per input entry of each ``m`` block (shared by ``+m`` and ``-m``),
as EquiformerV2 does with its radial MLP. Parameter layout as in the reference code: ``fc_m0``
(with bias, plus ``extra_m0_outputs`` invariant outputs placed first) and one ``fc_m[m-1]``
per ``m`` stacking ``A`` over ``B``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor


def complex_combine(a: Tensor, b: Tensor) -> Tensor:
    """``A x`` and ``B x`` of the rows ``(+m, -m)`` ``[E, 2, F]`` -> ``(A x_+ - B x_-, A x_- + B x_+)``."""
    (a_plus, a_minus), (b_plus, b_minus) = a.unbind(1), b.unbind(1)
    return torch.stack((a_plus - b_minus, a_minus + b_plus), dim=1)


class SO2Linear(torch.nn.Module):
    """Edge-frame map ``[E, K, C_in] -> [E, K, C_out]`` (m-primary, ``K`` for ``(lmax, mmax)``).

    Parameters
    ----------
    lmax, mmax : int
    in_channels, out_channels : int
    extra_m0_outputs : int
        Additional invariant outputs of the ``m = 0`` map, returned separately ``[E, extra]``.
    equivariance : "SO(3)" or "O(3)"
    """

    def __init__(self, lmax: int, mmax: int, in_channels: int, out_channels: int, extra_m0_outputs: int = 0,
                 equivariance: Literal["SO(3)", "O(3)"] = "SO(3)") -> None:
        super().__init__()
        if not 0 <= mmax <= lmax:
            raise ValueError(f"SO2Linear: need 0 <= m_max <= l_max, got l_max={lmax}, m_max={mmax}")
        if equivariance not in ("SO(3)", "O(3)"):
            raise ValueError(f"SO2Linear: equivariance must be 'SO(3)' or 'O(3)', got {equivariance!r}")
        self.lmax, self.mmax, self.out_channels, self.extra = lmax, mmax, out_channels, extra_m0_outputs
        self.complex = equivariance == "SO(3)"
        self.fc_m0 = torch.nn.Linear((lmax + 1) * in_channels, (lmax + 1) * out_channels + extra_m0_outputs)
        self.fc_m = torch.nn.ModuleList()
        for m in range(1, mmax + 1):
            n = lmax - m + 1
            fc = torch.nn.Linear(n * in_channels, (2 if self.complex else 1) * n * out_channels, bias=False)
            if self.complex:
                with torch.no_grad():
                    fc.weight.mul_(1 / math.sqrt(2))  # A and B both act: keep the output variance
            self.fc_m.append(fc)
        self.radial_numel = sum(fc.in_features for fc in [self.fc_m0, *self.fc_m])

    def forward(self, x: Tensor, radial: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``x [E, K, C_in]``, ``radial [E, radial_numel]`` or None -> ``(y [E, K, C_out], extra [E, extra] or None)``."""
        e, lmax, c = x.shape[0], self.lmax, x.shape[2]
        blocks = x.split([lmax + 1] + [2 * (lmax - m + 1) for m in range(1, self.mmax + 1)], 1)
        x0 = blocks[0].reshape(e, (lmax + 1) * c)  # explicit sizes: E may be 0
        if x0.shape[1] != self.fc_m0.in_features:
            raise ValueError(f"SO2Linear: expected {self.fc_m0.in_features // (lmax + 1)} input channels, got {x.shape[2]}")
        if radial is not None:
            radial = radial.split([fc.in_features for fc in [self.fc_m0, *self.fc_m]], dim=1)
            x0 = x0 * radial[0]
        y0 = self.fc_m0(x0)
        extra, y0 = y0.split([self.extra, y0.shape[1] - self.extra], 1)
        out = [y0.reshape(e, lmax + 1, self.out_channels)]
        for m, fc in enumerate(self.fc_m, start=1):
            n = lmax - m + 1
            xm = blocks[m].reshape(e, 2, n * c)
            if radial is not None:
                xm = xm * radial[m][:, None]
            ym = fc(xm)
            if self.complex:
                ym = complex_combine(*ym.chunk(2, dim=2))
            out.append(ym.reshape(e, 2 * n, self.out_channels))
        return torch.cat(out, dim=1), (extra if self.extra else None)
