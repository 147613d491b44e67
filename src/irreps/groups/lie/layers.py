"""Affine-equivariant convolutions on images for ``R^2 x| H``, H = GL+(2) or SL(2), by Monte Carlo over H.

Features live on the pixel grid times a set of sampled elements ``{g_i}`` of H (`GroupSamples`),
``[batch, channels, num_samples, X, Y]``. With ``z`` the pixel offsets of a K x K stencil
((row, column) coordinates, the ones H acts on):

- lifting: ``(L f)(x, g_i) = sum_z k(g_i^{-1} z) f(x + z) / |det g_i|``;
- group convolution: ``(K F)(x, g_i) = sum_j a_ij sum_z k(g_i^{-1} z, g_i^{-1} h_j) F(x + z, h_j) / |det g_i|``,
  the Monte-Carlo estimate of the integral over ``R^2 x| H`` against its left Haar measure
  ``dy dh / |det h|``, with self-normalised importance weights ``a_ij`` (`AffineGroupConv.integration_weights`).

Both are exactly equivariant in the sense that transforming the image by ``a`` and the samples to
``{a g_i}`` transforms the output (for ``a`` that maps the pixel grid to itself, e.g. the 90°
rotations); for other ``a``, the lifting is equivariant in expectation over the draw and the
group convolution in the limit of many samples (self-normalised weights are consistent, not
unbiased), up to resampling the image on pixels and the finite stencil.

The kernel is a K x K stencil of values read off at the moved offset ``w = g^{-1} z`` by Gaussian
interpolation, ``k(w, .) = sum_c exp(-|w - c|^2 / (2 s^2)) W_c(.)`` (centres c on the stencil,
s = 0.5 px): at ``g = 1`` it is an ordinary K x K kernel. In the group convolution the stencil
values ``W_c`` are an MLP of the polar chart of ``g_i^{-1} h_j`` (`MatrixLieGroup.coordinates`),
times a Gaussian envelope in its symmetric part, so the integrand decays over H.
"""

from __future__ import annotations

import torch

from .decomposition import GroupSamples, MatrixLieGroup

RBF_WIDTH = 0.5


def stencil(kernel_size: int, dtype=torch.float64) -> torch.Tensor:
    """``[K * K, 2]`` pixel offsets (row, column), centred, in conv2d's order."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
    r = torch.arange(kernel_size, dtype=dtype) - kernel_size // 2
    return torch.stack(torch.meshgrid(r, r, indexing="ij"), -1).reshape(-1, 2)


class _AffineConv(torch.nn.Module):
    """Group, channels, stencil and bias shared by the lifting and group convolutions."""

    def __init__(self, group: MatrixLieGroup | str, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.group = group if isinstance(group, MatrixLieGroup) else MatrixLieGroup(group)
        if self.group.n != 2:
            raise ValueError(f"image layers need a group acting on the plane (n = 2), got {self.group}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.register_buffer("offsets", stencil(kernel_size), persistent=False)
        self.bias = torch.nn.Parameter(torch.zeros(out_channels))

    def interpolation(self, samples: GroupSamples) -> torch.Tensor:
        """``[M, K*K (offsets z), K*K (centres c)]``: the stencil read off at ``g_i^{-1} z``."""
        self.group.check(samples.matrices)
        offsets = self.offsets.to(samples.matrices)
        local = torch.einsum("mij,kj->mki", torch.linalg.inv(samples.matrices), offsets)
        dist2 = (local[:, :, None] - offsets[None, None]).pow(2).sum(-1)
        return torch.exp(-0.5 * dist2 / RBF_WIDTH**2)

    def convolve(self, x: torch.Tensor, kernel: torch.Tensor, m: int) -> torch.Tensor:
        """``kernel`` ``[out, M, in_total, K*K]`` applied to ``x`` ``[batch, in_total, X, Y]``."""
        k = self.kernel_size
        weight = kernel.reshape(self.out_channels * m, -1, k, k)
        y = torch.nn.functional.conv2d(x, weight, padding=k // 2)
        return y.reshape(x.shape[0], self.out_channels, m, *x.shape[-2:]) + self.bias[:, None, None, None]


class AffineLiftingConv(_AffineConv):
    """Image ``[batch, in, X, Y]`` -> regular features ``[batch, out, M, X, Y]`` on the samples."""

    def __init__(self, group: MatrixLieGroup | str, in_channels: int, out_channels: int, kernel_size: int = 5):
        super().__init__(group, in_channels, out_channels, kernel_size)
        bound = (in_channels * kernel_size**2) ** -0.5
        self.weight = torch.nn.Parameter(torch.empty(out_channels, in_channels, kernel_size**2).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, samples: GroupSamples) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"AffineLiftingConv expects [batch, {self.in_channels}, X, Y], got {list(x.shape)}")
        interp = self.interpolation(samples) / torch.linalg.det(samples.matrices).abs()[:, None, None]
        kernel = torch.einsum("mzc,oic->omiz", interp.to(x.dtype), self.weight.to(x.dtype))
        return self.convolve(x, kernel, len(samples))


class AffineGroupConv(_AffineConv):
    """Regular features ``[batch, in, M, X, Y]`` -> ``[batch, out, M, X, Y]`` on the same samples.

    ``envelope``: width of the Gaussian ``exp(-|X|^2 / (2 envelope^2))`` on the symmetric part X of
    ``g_i^{-1} h_j`` (how far in scale and shear the kernel reaches); ``hidden``: MLP width.
    """

    def __init__(self, group: MatrixLieGroup | str, in_channels: int, out_channels: int, kernel_size: int = 5,
                 hidden: int = 32, envelope: float = 0.5):
        super().__init__(group, in_channels, out_channels, kernel_size)
        if envelope <= 0:
            raise ValueError(f"envelope must be positive, got {envelope}")
        self.envelope = envelope
        self.mlp = torch.nn.Sequential(torch.nn.Linear(self.group.coordinate_dim, hidden), torch.nn.GELU(),
                                       torch.nn.Linear(hidden, out_channels * in_channels * kernel_size**2))

    def integration_weights(self, samples: GroupSamples, relative: torch.Tensor, chart: torch.Tensor) -> torch.Tensor:
        """``[M_out, M_in]``: self-normalised importance weights over the input samples, over ``|det g_i|``.

        ``nu_ij = w_j env(g_i^{-1} h_j) / |det(g_i^{-1} h_j)|`` (importance weight, envelope, Haar
        measure ``dh / |det h|`` in the frame of ``g_i``), normalised over j; the ``1 / |det g_i|``
        turns the pixel sum over the moved stencil into the integral, as in the lifting layer.
        Normalising bounds each weight by 1: the raw weights ``w_j`` have infinite mean (the Haar
        measure has infinite mass), and the diagonal term ``w_i``, which no envelope damps, would
        otherwise set the scale of the features at ``g_i``. Consistent as M grows, biased at finite
        M; all terms depend on the samples only through ``w_j`` and ``g_i^{-1} h_j``, so moving
        the samples with the input keeps the layer exactly equivariant."""
        log_envelope = -0.5 * chart[..., : len(self.group.basis)].pow(2).sum(-1) / self.envelope**2
        log_nu = samples.log_weights[None] + log_envelope - torch.linalg.det(relative).abs().log()
        return torch.softmax(log_nu, dim=1) / torch.linalg.det(samples.matrices).abs()[:, None]

    def forward(self, x: torch.Tensor, samples: GroupSamples) -> torch.Tensor:
        m = len(samples)
        if x.dim() != 5 or x.shape[1] != self.in_channels or x.shape[2] != m:
            raise ValueError(f"AffineGroupConv expects [batch, {self.in_channels}, {m}, X, Y] "
                             f"for {m} samples, got {list(x.shape)}")
        interp = self.interpolation(samples)  # output samples g_i
        relative = torch.linalg.inv(samples.matrices)[:, None] @ samples.matrices[None]  # g_i^{-1} h_j
        chart = self.group.coordinates(relative)  # [M, M, d]
        scale = self.integration_weights(samples, relative, chart)
        values = self.mlp(chart.to(x.dtype)).reshape(m, m, self.out_channels, self.in_channels, -1)
        values = values * scale.to(x.dtype)[:, :, None, None, None]
        kernel = torch.einsum("mzc,mnoic->omniz", interp.to(x.dtype), values)  # [out, M_out, M_in, in, K*K]
        kernel = kernel.transpose(2, 3).reshape(self.out_channels, m, self.in_channels * m, -1)
        return self.convolve(x.flatten(1, 2), kernel, m)
