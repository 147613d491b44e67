"""Group-equivariant spectral convolution (the Fourier layer of G-FNO, Helwig et al., ICML 2023).

The kernel is learned by its Fourier coefficients on the frequency window
``{-(m-1), ..., m-1}^2`` (times ``{-(m_t-1), ..., m_t-1}`` for 2D+time); all other modes are
cut. Two details make the truncated layer exactly equivariant:

- the window is a centred square, which the 90° rotations and the reflections map onto itself
  (the usual FNO window, rows ``0..m-1`` and ``-m..-1``, is not), and ``2 (m - 1) < N`` keeps the
  Nyquist frequency, which has no sign, out of it;
- the kernel is Hermitian, ``W(-k) = conj W(k)`` (a real kernel in space). The real FFT keeps only
  ``k_y >= 0``, and rotating that half-plane gives another half-plane; with a Hermitian kernel the
  other half is implied and nothing depends on which half is stored. The kernel is parametrised
  without redundancy by a real array ``P`` on the window:
  ``W = (P + P(-k)) / 2 + i (P - P(-k)) / 2`` (its Hartley transform), ``(2m-1)^2`` reals per entry.

With the trivial group this is the plain FNO Fourier layer (Li et al., 2021) on the same window.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .kernels import GroupConv, Kind, expand_kernel
from .planar import FieldType, PlanarGroup


class GroupSpectralConv(GroupConv):
    """Spectral group convolution of one kind (lift, group or project), 2D or 2D+time.

    Parameters
    ----------
    group : PlanarGroup or {"trivial", "p4", "p4m"}
    kind : {"lift", "group", "project"}
    in_channels, out_channels : int
    modes : int
        m: spatial frequencies ``|k_x|, |k_y| <= m - 1`` are kept.
    time_modes : int or None
        m_t for 2D+time inputs ``[..., T, X, Y]`` (``|k_t| <= m_t - 1``); None for 2D.
    in_fields, out_fields :
        ``"scalar"``/``"pseudoscalar"`` (or one per channel) for the grid fields a lift layer
        reads or a project layer writes.
    """

    def __init__(self, group: PlanarGroup | str, kind: Kind, in_channels: int, out_channels: int, modes: int,
                 time_modes: int | None = None, in_fields: FieldType | Sequence[FieldType] = "scalar",
                 out_fields: FieldType | Sequence[FieldType] = "scalar", dtype: torch.dtype | None = None):
        super().__init__(group, kind, in_channels, out_channels, in_fields, out_fields)
        if modes < 1 or (time_modes is not None and time_modes < 1):
            raise ValueError(f"modes must be positive, got modes={modes}, time_modes={time_modes}")
        self.modes, self.time_modes = modes, time_modes
        window = (2 * modes - 1,) * 2
        if time_modes is not None:
            window = (2 * time_modes - 1,) + window
        self.freq_axes = len(window)
        group_axis = (self.group.order,) if kind == "group" else ()
        std = (in_channels * self.in_fibre) ** -0.5
        self.weight = torch.nn.Parameter(std * torch.randn(out_channels, in_channels, *group_axis, *window, dtype=dtype))

    def extra_repr(self) -> str:
        return (f"{self.group.name}, {self.kind}, in={self.in_channels}, out={self.out_channels}, "
                f"modes={self.modes}, time_modes={self.time_modes}")

    def kernel_bank(self) -> torch.Tensor:
        """Complex Hermitian bank ``[out, |H_out|, in, |H_in|, *window]`` on the full centred window."""
        bank = expand_kernel(self.weight, self.group, self.kind, self.in_signs, self.out_signs, self.freq_axes)
        mirrored = bank.flip(tuple(range(-self.freq_axes, 0)))
        return torch.complex(0.5 * (bank + mirrored), 0.5 * (bank - mirrored))

    def _mode_index(self, sizes: Sequence[int], device) -> tuple[torch.Tensor, ...]:
        """Broadcast indices into the rfft array of the kept window (last axis: ``k >= 0`` only)."""
        half = [self.time_modes] if self.time_modes is not None else []
        half += [self.modes, self.modes]
        index = []
        for axis, (m, n) in enumerate(zip(half, sizes)):
            if 2 * (m - 1) >= n:
                raise ValueError(f"{m} modes need a grid axis longer than {2 * (m - 1)} (the window "
                                 f"|k| <= {m - 1} must avoid the Nyquist frequency), got an axis of {n} points")
            k = torch.arange(0 if axis == len(sizes) - 1 else -(m - 1), m, device=device) % n
            index.append(k.reshape((-1,) + (1,) * (len(sizes) - 1 - axis)))
        return tuple(index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """See `GroupConv` for the shapes."""
        x = self.fibred(x, self.freq_axes)
        sizes = x.shape[-self.freq_axes:]
        if self.group.order > 1 and sizes[-1] != sizes[-2]:
            raise ValueError(f"{self.group} acts on square grids, got spatial size {tuple(sizes[-2:])}")
        dims = tuple(range(-self.freq_axes, 0))
        index = self._mode_index(sizes, x.device)
        coeffs = torch.fft.rfftn(x, dim=dims)[(..., *index)]
        bank = self.kernel_bank()[..., self.modes - 1:].to(coeffs.dtype)
        mixed = torch.einsum("ogis...,bis...->bog...", bank, coeffs)
        spectrum = coeffs.new_zeros(*mixed.shape[:3], *sizes[:-1], sizes[-1] // 2 + 1)
        spectrum[(..., *index)] = mixed
        return self.unfibred(torch.fft.irfftn(spectrum, s=sizes, dim=dims))
