"""Affine-equivariant convolutions on images for ``R^2 x| H``, H = GL+(2) or SL(2), by Monte Carlo over H.

Features live on the pixel grid times a set of sampled elements ``{g_i}`` of H (`GroupSamples`),
``[batch, channels, num_samples, X, Y]``. With ``z`` the pixel offsets of a K x K stencil
((row, column) coordinates, the ones H acts on):

- lifting: ``(L f)(x, g_i) = sum_z k(g_i^{-1} z) f(x + z) / |det g_i|``;
- group convolution: ``(K F)(x, g_i) = (1/M) sum_j w_j sum_z k(g_i^{-1} z, g_i^{-1} h_j) F(x + z, h_j) / |det h_j|``,
  the Monte-Carlo estimate (weights ``w_j = dg/dq``) of the integral over ``R^2 x| H`` against its
  left Haar measure ``dy dh / |det h|``.

Both are exactly equivariant in the sense that transforming the image by ``a`` and the samples to
``{a g_i}`` transforms the output (for ``a`` that maps the pixel grid to itself, e.g. the 90°
rotations); for other ``a`` they are equivariant in expectation up to interpolation and the finite
stencil. The kernel ``k`` is a small MLP on the transformed offset ``g^{-1} z`` and the polar chart of
the relative element (`MatrixLieGroup.coordinates`), times a smooth radial window in ``g^{-1} z``
and a Gaussian envelope in the symmetric part of the chart, so the integrand over H decays and
the estimate has finite variance.
"""

from __future__ import annotations

import torch

from .decomposition import GroupSamples, MatrixLieGroup


def stencil(kernel_size: int, dtype=torch.float64) -> torch.Tensor:
    """``[K * K, 2]`` pixel offsets (row, column), centred, in conv2d's order."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
    r = torch.arange(kernel_size, dtype=dtype) - kernel_size // 2
    return torch.stack(torch.meshgrid(r, r, indexing="ij"), -1).reshape(-1, 2)


class KernelMLP(torch.nn.Module):
    """``[..., in_features] -> [..., out_channels * in_channels]`` (two hidden GELU layers)."""

    def __init__(self, in_features: int, out_channels: int, in_channels: int, hidden: int = 32):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(in_features, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, hidden), torch.nn.GELU(),
            torch.nn.Linear(hidden, out_channels * in_channels))
        self.out_channels, self.in_channels = out_channels, in_channels

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.net(coords)


class _AffineConv(torch.nn.Module):
    def __init__(self, group: MatrixLieGroup | str, in_channels: int, out_channels: int, kernel_size: int,
                 in_features: int, hidden: int, envelope: float):
        super().__init__()
        self.group = group if isinstance(group, MatrixLieGroup) else MatrixLieGroup(group)
        if self.group.n != 2:
            raise ValueError(f"image layers need a group acting on the plane (n = 2), got {self.group}")
        if envelope <= 0:
            raise ValueError(f"envelope must be positive, got {envelope}")
        self.in_channels, self.out_channels, self.kernel_size, self.envelope = in_channels, out_channels, kernel_size, envelope
        self.register_buffer("offsets", stencil(kernel_size), persistent=False)
        self.mlp = KernelMLP(in_features, out_channels, in_channels, hidden)
        self.bias = torch.nn.Parameter(torch.zeros(out_channels))

    def _local(self, samples: GroupSamples) -> tuple[torch.Tensor, torch.Tensor]:
        """``g_i^{-1} z`` scaled to the stencil radius ``[M, K*K, 2]`` and its radial window ``[M, K*K]``."""
        radius = max(self.kernel_size // 2, 1)
        local = torch.einsum("mij,kj->mki", torch.linalg.inv(samples.matrices), self.offsets.to(samples.matrices)) / radius
        return local, torch.sigmoid(4.0 * (1.0 - local.norm(dim=-1)) * radius)

    def _check(self, samples: GroupSamples) -> None:
        self.group.check(samples.matrices)


class AffineLiftingConv(_AffineConv):
    """Image ``[batch, in, X, Y]`` -> regular features ``[batch, out, M, X, Y]`` on the samples."""

    def __init__(self, group: MatrixLieGroup | str, in_channels: int, out_channels: int, kernel_size: int = 5,
                 hidden: int = 32):
        super().__init__(group, in_channels, out_channels, kernel_size, 2, hidden, 1.0)

    def forward(self, x: torch.Tensor, samples: GroupSamples) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"AffineLiftingConv expects [batch, {self.in_channels}, X, Y], got {list(x.shape)}")
        self._check(samples)
        local, window = self._local(samples)
        kernel = self.mlp(local.to(x.dtype)) * window.to(x.dtype)[..., None]  # [M, KK, out*in]
        kernel = kernel / torch.linalg.det(samples.matrices).abs().to(x.dtype)[:, None, None]
        m, k = len(samples), self.kernel_size
        weight = kernel.reshape(m, k, k, self.out_channels, self.in_channels).permute(3, 0, 4, 1, 2)
        y = torch.nn.functional.conv2d(x, weight.reshape(self.out_channels * m, self.in_channels, k, k), padding=k // 2)
        return y.reshape(x.shape[0], self.out_channels, m, *x.shape[-2:]) + self.bias[:, None, None, None]


class AffineGroupConv(_AffineConv):
    """Regular features ``[batch, in, M, X, Y]`` -> ``[batch, out, M, X, Y]`` on the same samples.

    ``envelope``: width of the Gaussian ``exp(-|X|^2 / (2 envelope^2))`` on the symmetric part X of
    ``g_i^{-1} h_j`` (how far in scale and shear the kernel reaches).
    """

    def __init__(self, group: MatrixLieGroup | str, in_channels: int, out_channels: int, kernel_size: int = 5,
                 hidden: int = 32, envelope: float = 0.5):
        group = group if isinstance(group, MatrixLieGroup) else MatrixLieGroup(group)
        super().__init__(group, in_channels, out_channels, kernel_size, 2 + group.coordinate_dim, hidden, envelope)

    def forward(self, x: torch.Tensor, samples: GroupSamples) -> torch.Tensor:
        m = len(samples)
        if x.dim() != 5 or x.shape[1] != self.in_channels or x.shape[2] != m:
            raise ValueError(f"AffineGroupConv expects [batch, {self.in_channels}, {m}, X, Y] "
                             f"for {m} samples, got {list(x.shape)}")
        self._check(samples)
        local, window = self._local(samples)  # output samples g_i
        relative = torch.linalg.inv(samples.matrices)[:, None] @ samples.matrices[None]  # g_i^{-1} h_j
        chart = self.group.coordinates(relative)  # [M, M, d]
        symmetric = chart[..., : len(self.group.basis)]
        envelope = torch.exp(-0.5 * symmetric.pow(2).sum(-1) / self.envelope**2)  # [M, M]
        kk = local.shape[1]
        coords = torch.cat([local[:, None].expand(m, m, kk, 2), chart[:, :, None].expand(m, m, kk, chart.shape[-1])], -1)
        kernel = self.mlp(coords.to(x.dtype)) * window[:, None, :, None].to(x.dtype)  # [M, M, KK, out*in]
        scale = envelope * samples.log_weights.exp()[None] / torch.linalg.det(samples.matrices).abs()[None] / m
        kernel = kernel * scale.to(x.dtype)[..., None, None]
        k = self.kernel_size
        weight = kernel.reshape(m, m, k, k, self.out_channels, self.in_channels).permute(4, 0, 5, 1, 2, 3)
        y = torch.nn.functional.conv2d(x.flatten(1, 2), weight.reshape(self.out_channels * m, self.in_channels * m, k, k),
                                       padding=k // 2)
        return y.reshape(x.shape[0], self.out_channels, m, *x.shape[-2:]) + self.bias[:, None, None, None]
