"""Gaunt tensor products (Luo et al. 2024) through 2D Fourier series on the sphere.

A feature with one coefficient vector ``x_lm`` (``l <= L``, 'component' harmonics) per channel is the
function ``f = sum x_lm Y_lm`` on the sphere. With ``v(theta, phi) = (sin theta sin phi, cos theta,
sin theta cos phi)`` (polar axis y, as :func:`irreps.o3.s2_quadrature`) every ``Y_lm`` is a
trigonometric polynomial ``sum_{|u|,|v| <= l} T_lm[u, v] e^{i(u theta + v phi)}`` with ``v = +-m``
only, so the change of basis ``T`` is sparse (``O(L^3)`` entries); it is computed exactly once by an
FFT of the harmonics on an equiangular ``(2L+1)^2`` torus grid.

Products of functions are convolutions of their Fourier coefficients, done as pointwise products
on a torus grid large enough to avoid aliasing (the convolution theorem). The 2D DFT is split by
axis: the ``theta`` DFT matrices are folded into the precomputed sparse change-of-basis maps (same
``O(L^3)`` cost, no separate transform); the ``phi`` transform is ``torch.fft.irfft``/``rfft``
(``phi_transform='fft'``) or, default, the same DFT as a small real matmul (``'matmul'``), which for
these sizes (``n_phi <= ~50``) runs several times faster on CPUs than batched tiny FFTs; both are
exact and agree to rounding. The result is projected back onto harmonics of degree ``<= L_out``: ``out_lm = (1/4pi) int h Y_lm dOmega``, which on Fourier coefficients is the exact
linear map ``Q_lm[u, v] = 1/2 sum_u' T_lm[u', -v] I(u + u')`` with
``I(k) = int_0^pi sin(t) e^{ikt} dt`` (``(1 + (-1)^k) / (1 - k^2)``, ``+-i pi/2`` at ``k = +-1``).

So ``out = sum x1_a x2_b G_abc / 4pi`` with the Gaunt coefficients ``G = int Y_a Y_b Y_c``: the
paths ``l1 + l2 + l3`` odd (cross-product-like, e.g. ``1o x 1o -> 1e``) are never produced.
Features here use the *sphere layout* ``[..., channels, (L+1)^2]``; :func:`to_sphere_layout`
converts from irreps layout.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal, Sequence

import numpy as np
import torch
from torch import Tensor

from irreps.capture import composed
from irreps.o3 import Irreps, spherical_harmonics
from irreps.ops.tensor_product.checks import check_edge_inputs

_BLOCK_ELEMENTS = 1 << 20
PhiTransform = Literal["fft", "matmul"]
ChangeOfBasis = Literal["auto", "dense", "sparse"]
_DENSE_MAX_DEGREE = 8  # 'auto': dense basis maps up to this degree (measured faster on CPUs)


@lru_cache(maxsize=None)
def sh_fourier_coefficients(lmax: int) -> np.ndarray:
    """``T[lm, u + L, v + L]``: 2D Fourier coefficients of the 'component' harmonics, complex128.

    Exact up to rounding (FFT of a trigonometric polynomial of degree ``L`` on ``2L+1`` points per
    axis); entries below 1e-13 are set to zero to keep the exact sparsity ``v = +-m``.
    """
    n = 2 * lmax + 1
    t = 2 * np.pi * np.arange(n) / n
    theta, phi = np.meshgrid(t, t, indexing="ij")
    pts = np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)], -1)
    Y = spherical_harmonics(list(range(lmax + 1)), torch.from_numpy(pts), normalize=False).numpy()
    T = np.fft.fftshift(np.fft.fft2(np.moveaxis(Y, -1, 0)) / n**2, axes=(1, 2))
    T[np.abs(T) < 1e-13] = 0
    return T


def _rows_by_v(lmax: int) -> list[list[int]]:
    """Harmonic indices ``l^2 + l + m`` with ``|m| = v`` for each ``v = 0..lmax``."""
    return [[l * l + l + s for l in range(v, lmax + 1) for s in ((v, -v) if v else (0,))] for v in range(lmax + 1)]


@lru_cache(maxsize=None)
def _to_grid_maps(lmax: int, n_theta: int) -> tuple[np.ndarray, np.ndarray]:
    """Gather index ``[V, R]`` (``(L+1)^2`` = zero slot) and real maps ``[V, R, n_theta * 2]``.

    For ``v >= 0`` the map takes the harmonics with ``|m| = v`` to ``sum_u T[u, v] e^{i u theta_j}``
    on the ``n_theta`` grid angles: the sparse change of basis with the inverse DFT along theta
    folded in (re, im interleaved).
    """
    T = sh_fourier_coefficients(lmax)
    rows = _rows_by_v(lmax)
    width = max(len(r) for r in rows)
    index = np.full((lmax + 1, width), (lmax + 1) ** 2)
    u = np.arange(-lmax, lmax + 1)
    phase = np.exp(1j * np.outer(u, 2 * np.pi * np.arange(n_theta) / n_theta))  # [u, j]
    M = np.zeros((lmax + 1, width, n_theta), dtype=np.complex128)
    for v, rv in enumerate(rows):
        index[v, : len(rv)] = rv
        M[v, : len(rv)] = T[rv][:, :, lmax + v] @ phase
    return index, np.stack([M.real, M.imag], -1).reshape(lmax + 1, width, 2 * n_theta)


def _theta_integrals(k: np.ndarray) -> np.ndarray:
    """``I(k) = int_0^pi sin(t) e^{ikt} dt`` for integer ``k``."""
    out = np.zeros(k.shape, dtype=np.complex128)
    far = np.abs(k) != 1
    out[far] = (1 + (-1.0) ** k[far]) / (1 - k[far].astype(float) ** 2)
    out[k == 1], out[k == -1] = 0.5j * np.pi, -0.5j * np.pi
    return out


@lru_cache(maxsize=None)
def _projection_maps(lmax_out: int, degree: int, n_theta: int) -> tuple[np.ndarray, np.ndarray]:
    """Scatter positions ``[V, R]`` and real maps ``[V, n_theta * 2, R]`` onto the harmonics.

    Input: ``c[j, v] = (1/n_phi) sum_k h(theta_j, phi_k) e^{-i v phi_k}`` for ``v = 0..lmax_out``
    (re, im interleaved); output ``out_lm = Re(kappa_v sum_u c_uv Q_lm[u, v])`` with
    ``c_uv = (1/n_theta) sum_j c[j, v] e^{-i u theta_j}`` (``|u| <= degree``) folded in,
    ``kappa_0 = 1``, ``kappa_v = 2``.
    """
    T = sh_fourier_coefficients(lmax_out)
    rows = _rows_by_v(lmax_out)
    width = max(len(r) for r in rows)
    uu = np.arange(-degree, degree + 1)
    I = _theta_integrals(uu[:, None] + np.arange(-lmax_out, lmax_out + 1)[None, :])  # [u, u']
    dft = np.exp(-1j * np.outer(2 * np.pi * np.arange(n_theta) / n_theta, uu)) / n_theta  # [j, u]
    position = np.full((lmax_out + 1, width), -1)
    Qr = np.zeros((lmax_out + 1, n_theta, 2, width))
    for v, rv in enumerate(rows):
        position[v, : len(rv)] = rv
        Q = dft @ (0.5 * I @ T[rv][:, :, lmax_out - v].T) * (1.0 if v == 0 else 2.0)  # [j, r]
        Qr[v, :, 0, : len(rv)] = Q.real  # Re(c Q) = c_re Q_re - c_im Q_im
        Qr[v, :, 1, : len(rv)] = -Q.imag
    return position, Qr.reshape(lmax_out + 1, 2 * n_theta, width)


def _fold_rows(Q: np.ndarray, n_theta: int, n_rows: int) -> np.ndarray:
    """Projection maps ``[V, n_theta * 2, R]`` -> ``[V, n_rows * 2, R]`` reading only rows ``j < n_rows``.

    The phi coefficients of a sphere function obey ``c_v(theta_{n_theta - j}) = (-1)^v c_v(theta_j)``
    (from ``f(2 pi - theta, phi) = f(theta, phi + pi)``), so row ``n_theta - j`` folds onto row ``j``.
    """
    V = Q.shape[0]
    Q = Q.reshape(V, n_theta, 2, -1)
    folded = Q[:, :n_rows].copy()
    sign = np.where(np.arange(V) % 2 == 0, 1.0, -1.0)[:, None, None, None]
    folded[:, 1:] += sign * Q[:, np.arange(n_theta - 1, n_theta - n_rows, -1)]
    return folded.reshape(V, 2 * n_rows, -1)


def _phi_dft(lmax: int, n_phi: int, inverse: bool) -> np.ndarray:
    """Real DFT matrices along phi between ``(re, im)`` of ``v = 0..lmax`` and ``n_phi`` samples.

    ``inverse``: ``[2 (lmax+1), n_phi]``, ``h(phi_k) = Re sum_v kappa_v c_v e^{i v phi_k}`` (``irfft``
    with ``norm='forward'``); otherwise ``[n_phi, 2 (lmax+1)]``, ``c_v = (1/n_phi) sum_k h_k e^{-i v phi_k}``.
    """
    ang = np.outer(np.arange(lmax + 1), 2 * np.pi * np.arange(n_phi) / n_phi)  # [v, k]
    if inverse:
        kappa = np.where(np.arange(lmax + 1) == 0, 1.0, 2.0)[:, None]
        return np.stack([kappa * np.cos(ang), -kappa * np.sin(ang)], 1).reshape(2 * (lmax + 1), n_phi)
    return np.stack([np.cos(ang), -np.sin(ang)], 1).reshape(2 * (lmax + 1), n_phi).T.copy() / n_phi


def _grid_size(degrees: Sequence[int], lmax_out: int) -> tuple[int, int]:
    """Alias-free ``(n_theta, n_phi)`` for a product of factors of the given degrees (``n_phi`` odd)."""
    total = sum(degrees)
    n_phi = max(total + lmax_out + 1, 2 * max(degrees) + 1)
    return 2 * total + 1, n_phi + (n_phi % 2 == 0)


class GauntProduct(torch.nn.Module):
    """Products of sphere functions given by harmonic coefficients, through 2D FFTs.

    Parameters
    ----------
    lmax_in : sequence of int
        Degree of each factor (two for the usual product, ``nu`` for a many-body product).
    lmax_out : int

    ``forward(*xs)``: ``xs[k]`` is ``[..., (lmax_in[k]+1)^2]`` (sphere layout, leading dims broadcast
    between factors); returns ``[..., (lmax_out+1)^2]``, the 'component' coefficients of the product
    function up to ``lmax_out``. Cost per factor ``O(L^3)`` (change of basis) + ``O(L^2 log L)`` (FFT).
    """

    def __init__(
        self, lmax_in: Sequence[int], lmax_out: int, phi_transform: PhiTransform = "matmul",
        change_of_basis: ChangeOfBasis = "auto",
    ) -> None:
        super().__init__()
        if phi_transform not in ("fft", "matmul"):
            raise ValueError(f"GauntProduct: phi_transform must be 'fft' or 'matmul', got {phi_transform!r}")
        if change_of_basis not in ("auto", "dense", "sparse"):
            raise ValueError(f"GauntProduct: change_of_basis must be 'auto', 'dense' or 'sparse', got {change_of_basis!r}")
        self.phi_transform = phi_transform
        self.lmax_in, self.lmax_out = tuple(int(l) for l in lmax_in), int(lmax_out)
        if not self.lmax_in or min(self.lmax_in + (self.lmax_out,)) < 0:
            raise ValueError(f"GauntProduct: degrees must be >= 0 and at least one factor, got {lmax_in}, {lmax_out}")
        self.n_theta, self.n_phi = _grid_size(self.lmax_in, self.lmax_out)
        # sphere functions repeat on the torus, f(2 pi - theta, phi) = f(theta, phi + pi): the rows
        # theta_j, j <= n_theta // 2 (theta in [0, pi]) determine the others; only they are computed
        self.n_rows = self.n_theta // 2 + 1
        for k, l in enumerate(self.lmax_in):
            index, M = _to_grid_maps(l, self.n_theta)
            M = M.reshape(l + 1, -1, self.n_theta, 2)[:, :, : self.n_rows].reshape(l + 1, -1, 2 * self.n_rows)
            self.register_buffer(f"_in_index{k}", torch.from_numpy(index).reshape(-1), persistent=False)
            self.register_buffer(f"_in_map{k}", torch.from_numpy(np.ascontiguousarray(M)), persistent=False)
            self.register_buffer(f"_phi_synthesis{k}", torch.from_numpy(_phi_dft(l, self.n_phi, inverse=True)), persistent=False)
        self.register_buffer("_phi_analysis", torch.from_numpy(_phi_dft(self.lmax_out, self.n_phi, inverse=False)), persistent=False)
        position, Q = _projection_maps(self.lmax_out, sum(self.lmax_in), self.n_theta)
        flat = position.reshape(-1)
        gather = np.zeros((self.lmax_out + 1) ** 2, dtype=np.int64)
        gather[flat[flat >= 0]] = np.nonzero(flat >= 0)[0]
        self.register_buffer("_out_gather", torch.from_numpy(gather), persistent=False)
        self.register_buffer("_out_map", torch.from_numpy(_fold_rows(Q, self.n_theta, self.n_rows)), persistent=False)
        self._build_dense(change_of_basis)

    def _build_dense(self, change_of_basis: str) -> None:
        """Dense change-of-basis matrices, computed (float64) through the sparse route.

        ``_in_dense{k}`` ``[(L_k+1)^2, n_rows n_phi]`` and ``_out_dense`` ``[n_rows n_phi, (lmax_out+1)^2]``
        replace gather + per-``v`` maps + layout copy + phi transform by one GEMM each. That costs
        ``O(L^4)`` per channel instead of ``O(L^3)``, but for ``L <= 8`` one large GEMM runs faster
        on CPUs than the sparse route's several small kernels and copies.
        """
        def use(degree: int) -> bool:
            return change_of_basis == "dense" or (change_of_basis == "auto" and degree <= _DENSE_MAX_DEGREE)

        self._dense_in = [use(l) for l in self.lmax_in]
        self._dense_out = use(self.lmax_out)
        for k, l in enumerate(self.lmax_in):
            if self._dense_in[k]:
                basis = self._to_grid_sparse(torch.eye((l + 1) ** 2, dtype=torch.float64), k, "matmul")
                self.register_buffer(f"_in_dense{k}", basis.reshape((l + 1) ** 2, -1), persistent=False)
        if self._dense_out:
            grid = torch.eye(self.n_rows * self.n_phi, dtype=torch.float64).reshape(-1, self.n_rows, self.n_phi)
            self.register_buffer("_out_dense", self._from_grid_sparse(grid, "matmul"), persistent=False)

    def to_grid(self, x: Tensor, k: int) -> Tensor:
        """Values of factor ``k`` [B, (L+1)^2] on the rows ``theta_j <= pi`` of the torus grid, [B, n_rows, n_phi]."""
        b = x.shape[0]
        if self._dense_in[k]:
            return (x @ getattr(self, f"_in_dense{k}").to(x.dtype)).reshape(b, self.n_rows, self.n_phi)
        return self._to_grid_sparse(x, k, self.phi_transform)

    def _to_grid_sparse(self, x: Tensor, k: int, phi_transform: str) -> Tensor:
        lmax, b = self.lmax_in[k], x.shape[0]
        xs = torch.cat([x, x.new_zeros(b, 1)], dim=1).index_select(1, getattr(self, f"_in_index{k}"))
        G = torch.bmm(xs.reshape(b, lmax + 1, xs.shape[1] // (lmax + 1)).transpose(0, 1), getattr(self, f"_in_map{k}").to(x.dtype))
        G = G.reshape(lmax + 1, b, self.n_rows, 2).permute(1, 2, 0, 3)
        # MKL's FFT rejects empty batches (no edges); the matmul DFT is the same map
        if phi_transform == "matmul" or b == 0:  # [B, n_rows, 2 (lmax+1)] @ [2 (lmax+1), n_phi]
            return G.reshape(b, self.n_rows, 2 * (lmax + 1)) @ getattr(self, f"_phi_synthesis{k}").to(x.dtype)
        G = torch.view_as_complex(G.contiguous())
        return torch.fft.irfft(G, n=self.n_phi, dim=-1, norm="forward")  # [B, n_rows, n_phi]

    def from_grid(self, grid: Tensor) -> Tensor:
        """Harmonic coefficients [B, (lmax_out+1)^2] of a product given on the grid rows [B, n_rows, n_phi]."""
        b = grid.shape[0]
        if self._dense_out:
            return grid.reshape(b, self.n_rows * self.n_phi) @ self._out_dense.to(grid.dtype)
        return self._from_grid_sparse(grid, self.phi_transform)

    def _from_grid_sparse(self, grid: Tensor, phi_transform: str) -> Tensor:
        b, v = grid.shape[0], self.lmax_out + 1
        if phi_transform == "matmul" or b == 0:
            c = (grid @ self._phi_analysis.to(grid.dtype)).reshape(b, self.n_rows, v, 2)
        else:
            c = torch.view_as_real(torch.fft.rfft(grid, dim=-1, norm="forward")[:, :, :v])  # [B, n_rows, V, 2]
        c = c.permute(2, 0, 1, 3).reshape(v, b, 2 * self.n_rows)
        rows = torch.bmm(c, self._out_map.to(grid.dtype))  # [V, B, R]
        return rows.transpose(0, 1).reshape(b, v * rows.shape[2]).index_select(1, self._out_gather)

    def forward(self, *xs: Tensor) -> Tensor:
        if len(xs) != len(self.lmax_in):
            raise ValueError(f"GauntProduct: expected {len(self.lmax_in)} factors, got {len(xs)}")
        for x, l in zip(xs, self.lmax_in):
            if x.shape[-1] != (l + 1) ** 2:
                raise ValueError(f"GauntProduct: a factor of degree {l} needs last size {(l + 1) ** 2}, got {x.shape[-1]}")
        batch = torch.broadcast_shapes(*[x.shape[:-1] for x in xs])
        flat = [x.expand(*batch, x.shape[-1]).reshape(-1, x.shape[-1]) for x in xs]
        block = max(1, _BLOCK_ELEMENTS // (self.n_rows * self.n_phi))
        # a recorded graph takes every row at once (a tracer would unroll the blocks for one size)
        outs = []
        for parts in [flat] if composed() else zip(*[f.split(block) for f in flat]):
            grid = self.to_grid(parts[0], 0)
            for k in range(1, len(parts)):
                grid = grid * self.to_grid(parts[k], k)
            outs.append(self.from_grid(grid))
        return torch.cat(outs).reshape(*batch, (self.lmax_out + 1) ** 2)


def sphere_parity(irreps: Irreps) -> tuple[int, int]:
    """``(channels, s)`` for irreps ``C x (0, s) + C x (1, -s) + ... + C x (L, s(-1)^L)``; ValueError otherwise."""
    irreps = Irreps(irreps)
    if len(irreps) == 0:
        raise ValueError("Gaunt: empty irreps")
    mul, first = irreps[0]
    s = first.p
    expected = Irreps([(mul, (l, s * (-1) ** l)) for l in range(len(irreps))])
    if irreps != expected:
        raise ValueError(f"Gaunt: features must be sphere functions like {expected}, got {irreps}")
    return mul, s


def to_sphere_layout(x: Tensor, irreps: Irreps) -> Tensor:
    """Irreps layout ``[..., C x (2l+1) per l]`` -> sphere layout ``[..., C, (L+1)^2]``."""
    c = irreps[0].mul
    blocks = x.split([m.dim for m in irreps], dim=-1)
    return torch.cat([b.reshape(*x.shape[:-1], c, m.ir.dim) for b, m in zip(blocks, irreps)], dim=-1)


def from_sphere_layout(x: Tensor, irreps: Irreps) -> Tensor:
    """Sphere layout ``[..., C, (L+1)^2]`` -> irreps layout ``[..., dim]``."""
    blocks = x.split([m.ir.dim for m in irreps], dim=-1)
    return torch.cat([b.reshape(*x.shape[:-2], m.dim) for b, m in zip(blocks, irreps)], dim=-1)


def _degree_index(lmax: int) -> Tensor:
    """``l`` of each harmonic index ``0 .. (lmax+1)^2 - 1``."""
    return torch.tensor([l for l in range(lmax + 1) for _ in range(2 * l + 1)])


class GauntTensorProduct(torch.nn.Module):
    """Channel-wise product of sphere-function features (two factors, or ``nu`` for many-body terms).

    Parameters
    ----------
    irreps_in : sequence of Irreps or str
        One per factor, each ``C x (0, s) + C x (1, -s) + ... + C x (L, s(-1)^L)`` with a common ``C``
        (pass the same features ``nu`` times for the power ``x^nu``).
    lmax_out : int
        Output irreps are ``C x (l, s_1 s_2 ... (-1)^l)`` for ``l <= lmax_out``.

    ``forward(*xs)`` maps ``[..., irreps_in[k].dim]`` to ``[..., irreps_out.dim]``.
    """

    def __init__(self, irreps_in: Sequence[Irreps | str], lmax_out: int) -> None:
        super().__init__()
        self.irreps_in = [Irreps(i) for i in irreps_in]
        shapes = [sphere_parity(i) for i in self.irreps_in]
        if len({c for c, _ in shapes}) != 1:
            raise ValueError(f"GauntTensorProduct: factors must have equal channels, got {self.irreps_in}")
        self.channels, sign = shapes[0][0], math.prod(s for _, s in shapes)
        self.irreps_out = Irreps([(self.channels, (l, sign * (-1) ** l)) for l in range(lmax_out + 1)])
        self.product = GauntProduct([i.lmax for i in self.irreps_in], lmax_out)

    def forward(self, *xs: Tensor) -> Tensor:
        if len(xs) != len(self.irreps_in):
            raise ValueError(f"GauntTensorProduct: expected {len(self.irreps_in)} inputs, got {len(xs)}")
        spheres = [to_sphere_layout(x, irreps) for x, irreps in zip(xs, self.irreps_in)]
        return from_sphere_layout(self.product(*spheres), self.irreps_out)


class GauntConvolution(torch.nn.Module):
    """Edge convolution ``x_j * (filter on the sphere)`` through the Gaunt product, per-l radial weights.

    The filter of edge ``e`` and channel ``c`` is ``sum_l w_filter[l] Y^l(r_ij)``; inputs and outputs
    are also weighted per degree (the factorised path weights ``w_l1 w_l2 w_l3`` of Luo et al.), so
    path ``(l1, l2) -> l3`` is weighted by ``w_in[l1] w_filter[l2] w_out[l3]``.

    Parameters
    ----------
    irreps_in : Irreps or str
        Sphere-function features ``C x 0e + C x 1o + ...`` (or all parities flipped).
    lmax_out : int
        Output irreps ``C x (l, s (-1)^l)``, ``l <= lmax_out``, with the input's ``s``.
    lmax_filter : int

    Weight layout: ``weights[e].view(num_params, C)``, params ``w_in[0..L_in]``, ``w_filter[0..L_f]``,
    ``w_out[0..L_out]``.
    """

    def __init__(self, irreps_in: Irreps | str, lmax_out: int, lmax_filter: int) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in)
        self.channels, sign = sphere_parity(self.irreps_in)
        if lmax_filter < 0 or lmax_out < 0:
            raise ValueError(f"GauntConvolution: degrees must be >= 0, got lmax_out={lmax_out}, lmax_filter={lmax_filter}")
        self.irreps_out = Irreps([(self.channels, (l, sign * (-1) ** l)) for l in range(lmax_out + 1)])
        self.lmax_filter = lmax_filter
        self.product = GauntProduct([self.irreps_in.lmax, lmax_filter], lmax_out)
        self._sizes = [self.irreps_in.lmax + 1, lmax_filter + 1, lmax_out + 1]
        self.num_params = sum(self._sizes)
        self.weight_numel = self.num_params * self.channels
        mask = _degree_index(lmax_filter)[None, :] == torch.arange(lmax_filter + 1)[:, None]
        self.register_buffer("_degree_mask", mask.to(torch.float64), persistent=False)

    def forward(self, x: Tensor, edge_vec: Tensor, weights: Tensor) -> Tensor:
        """Convolve.

        Parameters
        ----------
        x : Tensor [num_edges, irreps_in.dim]
        edge_vec : Tensor [num_edges, 3]
            ``r_ij = pos[j] - pos[i] + shift`` (direction only).
        weights : Tensor [num_edges, weight_numel]

        Returns
        -------
        Tensor [num_edges, irreps_out.dim]
        """
        check_edge_inputs("GauntConvolution", x, edge_vec, weights, self.irreps_in.dim, self.weight_numel)
        e, c, p = x.shape[0], self.channels, self.product
        w_in, w_filter, w_out = weights.reshape(e, self.num_params, c).transpose(1, 2).split(self._sizes, dim=2)
        # degree weights applied per irreps block while changing layout (no [E, C, (L+1)^2] gather)
        feature = torch.cat([
            b.reshape(e, c, m.ir.dim) * w_in[:, :, l, None]
            for l, (b, m) in enumerate(zip(x.split([m.dim for m in self.irreps_in], dim=-1), self.irreps_in))
        ], dim=-1)
        # the filter depends on the channel only through w_filter[l]: transform each degree part of
        # Y(r) once per edge and mix the grids per channel
        parts = spherical_harmonics(list(range(self.lmax_filter + 1)), edge_vec)[:, None, :] * self._degree_mask.to(x.dtype)
        block, d = max(1, _BLOCK_ELEMENTS // (c * p.n_rows * p.n_phi)), self.lmax_filter + 1
        outs = []
        pieces = [(feature, parts, w_filter)] if composed() else zip(*(t.split(block) for t in (feature, parts, w_filter)))
        for f, s, wf in pieces:
            b = f.shape[0]
            grid = p.to_grid(f.reshape(b * c, f.shape[-1]), 0).reshape(b, c, p.n_rows * p.n_phi)
            filt = wf @ p.to_grid(s.reshape(b * d, s.shape[-1]), 1).reshape(b, d, p.n_rows * p.n_phi)
            outs.append(p.from_grid((grid * filt).reshape(b * c, p.n_rows, p.n_phi)).reshape(b, c, (p.lmax_out + 1) ** 2))
        blocks = torch.cat(outs).split([m.ir.dim for m in self.irreps_out], dim=-1)
        return torch.cat([(b * w_out[:, :, l, None]).reshape(e, m.dim) for l, (b, m) in enumerate(zip(blocks, self.irreps_out))], dim=-1)
