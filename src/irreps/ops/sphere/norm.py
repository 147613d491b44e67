"""EquiformerV2's layer norms of sphere features ``[N, (L+1)^2, C]``.

Both divide by one invariant root-mean-square per atom in which every degree counts equally (the
mean over its ``2l+1`` components, then over degrees and channels), so high degrees, which have
more components, do not dominate. Only ``l = 0`` may be centred and shifted.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _degree_weights(lmax: int, first: int) -> Tensor:
    """Weight ``1 / ((2l+1) (number of degrees))`` of each coefficient of degrees ``first..lmax``."""
    w = [1.0 / ((2 * l + 1) * (lmax + 1 - first)) for l in range(first, lmax + 1) for _ in range(2 * l + 1)]
    return torch.tensor(w, dtype=torch.float64)


class _SphereNorm(torch.nn.Module):
    def __init__(self, lmax: int, channels: int, eps: float) -> None:
        super().__init__()
        if eps <= 0:
            raise ValueError(f"sphere norm: eps must be > 0, got {eps}")
        self.lmax, self.channels, self.eps = lmax, channels, eps

    def _check(self, x: Tensor) -> None:
        if x.shape[1:] != ((self.lmax + 1) ** 2, self.channels):
            raise ValueError(f"{type(self).__name__}: expected [N, {(self.lmax + 1) ** 2}, {self.channels}], got {tuple(x.shape)}")

    def _inverse_rms(self, x: Tensor, weights: Tensor) -> Tensor:
        """``[N, K, C]`` -> ``[N, 1, 1]``: ``1 / sqrt(mean_c sum_k w_k x_kc^2 + eps)``."""
        ms = torch.einsum("nkc,k->n", x.square(), weights.to(x.dtype)) / self.channels
        return torch.rsqrt(ms + self.eps)[:, None, None]


class SphereLayerNorm(_SphereNorm):
    """``layer_norm_sh``: ``l = 0`` by a plain LayerNorm over channels; ``l > 0`` divided by their
    balanced RMS and scaled per (degree, channel)."""

    def __init__(self, lmax: int, channels: int, eps: float = 1e-5) -> None:
        super().__init__(lmax, channels, eps)
        self.norm_l0 = torch.nn.LayerNorm(channels, eps=eps)
        self.affine_weight = torch.nn.Parameter(torch.ones(lmax, channels))
        self.register_buffer("_weights", _degree_weights(lmax, 1) if lmax else torch.zeros(0), persistent=False)
        self.register_buffer("_expand", torch.tensor([l - 1 for l in range(1, lmax + 1) for _ in range(2 * l + 1)],
                                                     dtype=torch.long), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        if self.lmax == 0:
            return self.norm_l0(x)
        l0, rest = x.split([1, x.shape[1] - 1], 1)
        l0 = self.norm_l0(l0)
        return torch.cat((l0, rest * self._inverse_rms(rest, self._weights) * self.affine_weight[self._expand]), 1)


class SphereRMSNorm(_SphereNorm):
    """``rms_norm_sh``: ``l = 0`` centred over channels; all degrees divided by one balanced RMS,
    scaled per (degree, channel); a bias on ``l = 0``."""

    def __init__(self, lmax: int, channels: int, eps: float = 1e-5) -> None:
        super().__init__(lmax, channels, eps)
        self.affine_weight = torch.nn.Parameter(torch.ones(lmax + 1, channels))
        self.affine_bias = torch.nn.Parameter(torch.zeros(channels))
        self.register_buffer("_weights", _degree_weights(lmax, 0), persistent=False)
        self.register_buffer("_expand", torch.tensor([l for l in range(lmax + 1) for _ in range(2 * l + 1)]),
                             persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        l0, rest = x.split([1, x.shape[1] - 1], 1)
        x = torch.cat((l0 - l0.mean(dim=2, keepdim=True), rest), 1)
        out0, rest = (x * self._inverse_rms(x, self._weights) * self.affine_weight[self._expand]).split([1, x.shape[1] - 1], 1)
        return torch.cat((out0 + self.affine_bias, rest), 1)
