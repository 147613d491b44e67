"""Rank-2 Cartesian tensor algebra: the I/A/S decomposition and products used by TensorNet.

A 3x3 tensor ``X`` splits into ``I = tr(X)/3 * 1`` (l = 0), the antisymmetric part
``A = (X - X^T)/2`` (l = 1, equivalent to a vector through ``vector_to_skew``) and the
symmetric traceless part ``S = (X + X^T)/2 - I`` (l = 2).

Besides the plain ``[..., 3, 3]`` functions, models keep features in *components*: the 9
coefficients of ``X`` on an orthonormal (Frobenius inner product) basis adapted to the split,
stored channels-last as ``[..., 9, C]``:

- component 0: ``1/sqrt(3)`` (the I part),
- components 1..3: ``skew(e_x)/sqrt(2), skew(e_y)/sqrt(2), skew(e_z)/sqrt(2)`` (the A part),
- components 4..8: ``(E_xy+E_yx)/sqrt(2), (E_yz+E_zy)/sqrt(2), (E_xz+E_zx)/sqrt(2),
  (E_xx-E_yy)/sqrt(2), (2E_zz-E_xx-E_yy)/sqrt(6)`` (the S part).

Because the basis is orthonormal, ``||X||_F^2`` is the sum of squared components and the
parts are contiguous slices (``I_PART``, ``A_PART``, ``S_PART``), so per-part channel mixing and
message passing touch 1 + 3 + 5 numbers per channel instead of three full 3x3 matrices.
Matrix products are done on the ``[..., 3, 3, C]`` form (``components_to_matrix``).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from irreps.capture import composed

I_PART = slice(0, 1)
A_PART = slice(1, 4)
S_PART = slice(4, 9)
PARTS = (I_PART, A_PART, S_PART)
PART_SIZES = (1, 3, 5)  # for ``x.split(PART_SIZES, dim)``: one concatenating backward, not a zero-filled one per slice


def vector_to_skew(v: Tensor) -> Tensor:
    """Skew-symmetric matrix ``[v]_x`` with ``[v]_x w = v x w``: ``[..., 3] -> [..., 3, 3]``."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    rows = (torch.stack((zero, -z, y), -1), torch.stack((z, zero, -x), -1), torch.stack((-y, x, zero), -1))
    return torch.stack(rows, -2)


def skew_to_vector(a: Tensor) -> Tensor:
    """Vector of the antisymmetric part of ``a``: inverse of ``vector_to_skew``; ``[..., 3, 3] -> [..., 3]``."""
    return 0.5 * torch.stack(
        (a[..., 2, 1] - a[..., 1, 2], a[..., 0, 2] - a[..., 2, 0], a[..., 1, 0] - a[..., 0, 1]), -1
    )


def decompose(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Split ``x [..., 3, 3]`` into ``(I, A, S)``, each ``[..., 3, 3]``, with ``x = I + A + S``.

    ``I`` is the trace part (l = 0), ``A`` the antisymmetric part (l = 1) and ``S`` the
    symmetric traceless part (l = 2); each is invariant as a subspace under ``R x R^T``.
    """
    eye = torch.eye(3, dtype=x.dtype, device=x.device)
    i = x.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None] * eye
    xt = x.transpose(-2, -1)
    return i, 0.5 * (x - xt), 0.5 * (x + xt) - i


def frobenius_norm_sq(x: Tensor) -> Tensor:
    """Squared Frobenius norm ``tr(x^T x)``: ``[..., 3, 3] -> [...]`` (TensorNet's "norm")."""
    return x.square().sum((-2, -1))


def rank2_basis(dtype: torch.dtype | None = None, device: torch.device | None = None) -> Tensor:
    """The orthonormal basis described in the module docstring, ``[9, 3, 3]``."""
    b = torch.zeros(9, 3, 3, dtype=torch.float64)
    b[0] = torch.eye(3, dtype=torch.float64) / math.sqrt(3.0)
    b[1:4] = vector_to_skew(torch.eye(3, dtype=torch.float64)) / math.sqrt(2.0)
    r2, r6 = math.sqrt(2.0), math.sqrt(6.0)
    for k, (p, q) in enumerate(((0, 1), (1, 2), (0, 2))):
        b[4 + k, p, q] = b[4 + k, q, p] = 1.0 / r2
    b[7, 0, 0], b[7, 1, 1] = 1.0 / r2, -1.0 / r2
    b[8, 0, 0], b[8, 1, 1], b[8, 2, 2] = -1.0 / r6, -1.0 / r6, 2.0 / r6
    return b.to(dtype=dtype or torch.get_default_dtype(), device=device)


@functools.lru_cache(maxsize=16)
def _basis_matrices(dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """``(B^T, B)`` for the ``[9, 9]`` basis matrix ``B`` (row k = component k), built once per dtype and device."""
    with torch.inference_mode(False):  # a normal tensor even when first asked for under inference mode
        basis = rank2_basis(dtype, device).reshape(9, 9)
        return basis.T.contiguous(), basis


def _nonzero_terms(rows: Tensor) -> tuple[tuple[tuple[int, float], ...], ...]:
    """For each row of a ``[9, 9]`` conversion matrix, its ``(column, coefficient)`` pairs with a
    nonzero coefficient."""
    return tuple(tuple((k, value) for k, value in enumerate(row.tolist()) if value != 0.0) for row in rows)


# Built at import: a tracer recording the conversions must find plain Python numbers.
_TO_MATRIX_TERMS = _nonzero_terms(rank2_basis(torch.float64).reshape(9, 9).T)
_TO_COMPONENT_TERMS = _nonzero_terms(rank2_basis(torch.float64).reshape(9, 9))


def _sparse_convert(x: Tensor, to_matrix: bool) -> Tensor:
    """``[..., 9, C] -> [..., 9, C]`` through the 20 nonzero coefficients of the basis, as plain
    elementwise ops: a compiler fuses them with the products around them, where the dense
    ``[9, 9]`` matmul would be a separate batched-matmul call per conversion."""
    rows = x.unbind(-2)
    out = []
    for terms in _TO_MATRIX_TERMS if to_matrix else _TO_COMPONENT_TERMS:
        total = rows[terms[0][0]] * terms[0][1]
        for k, value in terms[1:]:
            total = total + rows[k] * value
        out.append(total)
    return torch.stack(out, -2)


def components_to_matrix(x: Tensor) -> Tensor:
    """``[..., 9, C]`` components to ``[..., 3, 3, C]`` matrices (channels last)."""
    if composed():
        return _sparse_convert(x, True).unflatten(-2, (3, 3))
    return torch.matmul(_basis_matrices(x.dtype, x.device)[0], x).unflatten(-2, (3, 3))


def matrix_to_components(m: Tensor) -> Tensor:
    """``[..., 3, 3, C]`` matrices to ``[..., 9, C]`` components (projection on the basis)."""
    if composed():
        return _sparse_convert(m.flatten(-3, -2), False)
    return torch.matmul(_basis_matrices(m.dtype, m.device)[1], m.flatten(-3, -2))


def edge_components(u: Tensor) -> Tensor:
    """Components of ``1``, ``[u]_x`` and ``u u^T - |u|^2/3 1`` for edge directions ``u``.

    Parameters
    ----------
    u : Tensor [E, 3]
        Edge vectors (unit vectors in TensorNet's embedding).

    Returns
    -------
    Tensor [E, 9]
        Component 0 is the I part of the identity, 1..3 the A part of ``[u]_x`` and
        4..8 the S part of ``u u^T``: what TensorNet's embedding weights per edge.
    """
    x, y, z = u.unbind(-1)
    r2, r6 = math.sqrt(2.0), math.sqrt(6.0)
    one = torch.full_like(x, math.sqrt(3.0))
    return torch.stack(
        (one, r2 * x, r2 * y, r2 * z,
         r2 * x * y, r2 * y * z, r2 * x * z, (x * x - y * y) / r2, (2 * z * z - x * x - y * y) / r6),
        -1,
    )


def _matmul_kernel(pairs: tuple[tuple[Tensor, Tensor], ...]) -> Tensor:
    """``sum_k x_k @ y_k`` per channel, accumulated into one buffer (3 ops per product)."""
    terms = [(x[..., :, k, None, :], y[..., None, k, :, :]) for x, y in pairs for k in range(3)]
    out = terms[0][0] * terms[0][1]
    for a, b in terms[1:]:
        out.addcmul_(a, b)
    return out


def _transpose(x: Tensor) -> Tensor:
    return x.transpose(-3, -2)


class _ChannelMatmul(torch.autograd.Function):
    # A dedicated function: autograd through the broadcast slices above would allocate a
    # full-size zero gradient per slice and reduce every broadcast dimension.
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return _matmul_kernel(((x, y),))

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        grad_x = channel_matmul(grad, _transpose(y)) if ctx.needs_input_grad[0] else None
        grad_y = channel_matmul(_transpose(x), grad) if ctx.needs_input_grad[1] else None
        return grad_x, grad_y


class _Anticommutator(torch.autograd.Function):
    # m y + y m in one buffer; both gradients are anticommutators again (g m^T + m^T g and
    # g y^T + y^T g), so the backward is the same fused function and differentiable to any order.
    @staticmethod
    def forward(ctx, y, m):
        ctx.save_for_backward(y, m)
        return _matmul_kernel(((m, y), (y, m)))

    @staticmethod
    def backward(ctx, grad):
        y, m = ctx.saved_tensors
        grad_y = o3_product(grad, _transpose(m)) if ctx.needs_input_grad[0] else None
        grad_m = o3_product(grad, _transpose(y)) if ctx.needs_input_grad[1] else None
        return grad_y, grad_m


class _Square(torch.autograd.Function):
    # x @ x; its gradient g x^T + x^T g is an anticommutator (one fused call, no accumulation).
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _matmul_kernel(((x, x),))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return o3_product(grad, _transpose(x))


def channel_matmul(x: Tensor, y: Tensor) -> Tensor:
    """Per-channel 3x3 matrix product ``x @ y`` of ``[..., 3, 3, C]`` tensors (same shapes).

    Differentiable to any order (the backward is made of the same products).
    """
    if composed():  # plain ops a tracer can record (see irreps.capture.capturing)
        return _matmul_kernel(((x, y),))
    return _ChannelMatmul.apply(x, y)


def matrix_square(x: Tensor) -> Tensor:
    """``x @ x`` per channel, ``[..., 3, 3, C]`` (differentiable to any order)."""
    if composed():
        return _matmul_kernel(((x, x),))
    return _Square.apply(x)


def o3_product(y: Tensor, m: Tensor) -> Tensor:
    """``m @ y + y @ m`` per channel, ``[..., 3, 3, C]`` (same shapes; differentiable to any order).

    Under inversion TensorNet's tensors transpose (A flips sign), and this symmetric
    combination commutes with transposition, so the update is O(3)-equivariant.
    """
    if composed():
        return _matmul_kernel(((m, y), (y, m)))
    return _Anticommutator.apply(y, m)


def so3_product(y: Tensor, m: Tensor) -> Tensor:
    """``2 y @ m`` per channel, ``[..., 3, 3, C]``: rotation- but not reflection-equivariant."""
    return 2.0 * channel_matmul(y, m)
