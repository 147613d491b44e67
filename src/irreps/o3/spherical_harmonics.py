"""Real spherical harmonics for any degree, e3nn conventions, by Cartesian recurrences.

Axes: the polar axis is ``y``; the l=1 harmonics are proportional to ``(x, y, z)`` so that
``D^1(R) = R``. In the standard z-polar formulas read ``(X, Y, Z) = (z, x, y)``: component ``m`` of
degree ``l`` sits at index ``l + m`` and is (no Condon-Shortley phase)

    Y_lm = N_lm Q_l^|m|(Z, r^2) * { C_m (m > 0), 1 (m = 0), S_|m| (m < 0) },
    C_m + i S_m = (X + i Y)^m,
    (l - m) Q_l^m = (2l - 1) Z Q_{l-1}^m - (l + m - 1) r^2 Q_{l-2}^m,  Q_m^m = (2m - 1)!!,

which are homogeneous polynomials of degree ``l`` (solid harmonics, as in sphericart).
Because ``C_m``/``S_m`` do not depend on ``l``, the whole block ``Y^l`` obeys the same
three-term recurrence: ``Y^l = a Z Y^(l-1) - b r^2 Y^(l-2)`` on its inner rows ``|m| < l``, and
its two outer rows are the scaled ``C_l``, ``S_l``. All rows of one degree are updated at once,
component-major ``[rows, N]``, so every operation is a long contiguous vector operation written
into one preallocated output; normalisation constants are folded into ``a`` and ``b``.
The backward pass is the hand-written adjoint of that recurrence (same cost class as the
forward). Higher derivatives (``create_graph=True``) go through a differentiable reference
implementation of the same recurrence, so Hessians work.

Normalisations (on unit vectors): ``'integral'``: orthonormal, ``int Y_lm Y_l'm' dOmega = delta``;
``'component'`` (default): ``sum_m Y_lm^2 = 2l + 1``; ``'norm'``: ``sum_m Y_lm^2 = 1``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, Literal, Union

import torch
from torch import Tensor

from irreps.capture import composed
from irreps.o3.irreps import Irreps

Normalization = Literal["integral", "component", "norm"]
_NORMALIZATIONS = ("integral", "component", "norm")


@lru_cache(maxsize=None)
def _coefficients(lmax: int, normalization: str) -> tuple:
    """Recurrence constants per degree, ``(a, b, rho)`` with ``k0 = Y^0`` stored at index 0.

    For ``l >= 1``: ``a`` [2l-1] multiplies ``Z Y^(l-1)`` on rows ``|m| <= l-1``, ``b`` [2l-3]
    multiplies ``r^2 Y^(l-2)`` on rows ``|m| <= l-2`` (subtracted), and the outer rows are
    ``C~_l = rho (X C~_(l-1) - Y S~_(l-1))``, ``S~_l = rho (X S~_(l-1) + Y C~_(l-1))`` with
    ``C~_0 = k0``, ``S~_0 = 0``.
    """

    def norm(l: int, m: int) -> float:
        squared = {"integral": (2 * l + 1) / (4 * math.pi), "component": 2 * l + 1, "norm": 1}[normalization]
        squared *= math.exp(math.lgamma(l - m + 1) - math.lgamma(l + m + 1)) * (2 if m > 0 else 1)
        return math.sqrt(squared)

    def corner(l: int) -> float:
        return norm(l, l) * math.prod(range(2 * l - 1, 0, -2))

    out = [(None, None, corner(0))]
    for l in range(1, lmax + 1):
        a = [norm(l, abs(m)) / norm(l - 1, abs(m)) * (2 * l - 1) / (l - abs(m)) for m in range(1 - l, l)]
        b = [norm(l, abs(m)) / norm(l - 2, abs(m)) * (l + abs(m) - 1) / (l - abs(m)) for m in range(2 - l, l - 1)]
        out.append((a, b, corner(l) / corner(l - 1)))
    return tuple(out)


@lru_cache(maxsize=None)
def _columns(lmax: int, normalization: str, dtype: torch.dtype, device: torch.device) -> tuple:
    """``(k0, [(a [2l-1, 1], -b [2l-3, 1], rho)])`` as tensors, cached per dtype/device."""
    coeffs = _coefficients(lmax, normalization)
    cols = [None]
    for a, b, rho in coeffs[1:]:
        cols.append((torch.tensor(a, dtype=dtype, device=device)[:, None], -torch.tensor(b, dtype=dtype, device=device)[:, None], rho))
    return coeffs[0][2], cols


def _parse_ls(l: Union[int, Iterable[int], str, Irreps]) -> list[int]:
    if isinstance(l, (str, Irreps)):
        irreps = Irreps(l)
        ls = []
        for mul, ir in irreps:
            if ir.p != (-1) ** ir.l:
                raise ValueError(f"spherical_harmonics: {ir} has parity {ir.p}, spherical harmonics have (-1)^l")
            ls.extend([ir.l] * mul)
        return ls
    if isinstance(l, int):
        return [l]
    return [int(v) for v in l]


def _forward_rows(lmax: int, xyz: Tensor, c0: Tensor | None, normalization: str) -> Tensor:
    """Fast forward (no autograd): all degrees ``0..lmax`` of ``xyz`` [3, N] -> [(lmax+1)^2, N].

    ``c0`` [N] is given for unit inputs (``r^2 = 1`` in the recurrence): 1, or 0 for a (near-)zero
    input vector, where it makes every ``l >= 1`` block vanish. ``None``: homogeneous polynomials.
    """
    X, Y, Z = xyz[2], xyz[0], xyz[1]
    k0, cols = _columns(lmax, normalization, xyz.dtype, xyz.device)
    out = xyz.new_empty((lmax + 1) ** 2, xyz.shape[1])
    out[0].fill_(k0)
    r2 = None if c0 is not None else (xyz * xyz).sum(0)
    for l in range(1, lmax + 1):
        a, neg_b, rho = cols[l]
        blk, prev = out[l * l : (l + 1) * (l + 1)], out[(l - 1) ** 2 : l * l]
        inner = blk[1 : 2 * l]
        torch.mul(prev, Z, out=inner)
        inner.mul_(a)
        if l >= 2:
            prev2 = out[(l - 2) ** 2 : (l - 1) ** 2]
            if r2 is not None:
                inner[1:-1].addcmul_(neg_b * prev2, r2)
            elif l == 2:  # Y^0 enters as k0 * c0 so that the zero vector gives 0
                inner[1].add_(c0, alpha=-_coefficients(lmax, normalization)[2][1][0] * k0)
            else:
                inner[1:-1].addcmul_(neg_b, prev2)
        cos_prev, sin_prev = prev[-1], (prev[0] if l > 1 else None)
        torch.mul(X, cos_prev, out=blk[-1])
        torch.mul(Y, cos_prev, out=blk[0])
        if sin_prev is not None:
            blk[-1].addcmul_(Y, sin_prev, value=-1.0)
            blk[0].addcmul_(X, sin_prev)
        blk[0].mul_(rho)
        blk[-1].mul_(rho)
    return out


def _backward_rows(lmax: int, xyz: Tensor, c0: Tensor | None, normalization: str, out: Tensor, grad: Tensor) -> Tensor:
    """Adjoint of :func:`_forward_rows`: ``grad`` [(lmax+1)^2, N] (overwritten) -> gradient [3, N]."""
    X, Y, Z = xyz[2], xyz[0], xyz[1]
    k0, cols = _columns(lmax, normalization, xyz.dtype, xyz.device)
    gX, gY, gZ = (torch.zeros_like(X) for _ in range(3))
    r2 = None if c0 is not None else (xyz * xyz).sum(0)
    g_r2 = None if c0 is not None else torch.zeros_like(X)
    for l in range(lmax, 0, -1):
        a, neg_b, rho = cols[l]
        g_blk, g_prev = grad[l * l : (l + 1) * (l + 1)], grad[(l - 1) ** 2 : l * l]
        prev = out[(l - 1) ** 2 : l * l]
        g_inner = g_blk[1 : 2 * l]
        # outer rows: C~_l = rho (X C - Y S), S~_l = rho (X S + Y C) from the previous outer rows
        gc, gs = g_blk[-1] * rho, g_blk[0] * rho
        cos_prev = prev[-1]
        gX.addcmul_(gc, cos_prev)
        gY.addcmul_(gs, cos_prev)
        if l > 1:
            sin_prev = prev[0]
            gX.addcmul_(gs, sin_prev)
            gY.addcmul_(gc, sin_prev, value=-1.0)
            g_prev[0].addcmul_(X, gs).addcmul_(Y, gc, value=-1.0)
        g_prev[-1].addcmul_(X, gc).addcmul_(Y, gs)  # for l = 1 this is Y^0, whose gradient is unused
        # inner rows: a Z Y^(l-1) - b r^2 Y^(l-2)
        weighted = g_inner * a
        gZ.add_((weighted * prev).sum(0))
        g_prev.addcmul_(weighted, Z)
        if l >= 2:
            g_prev2 = grad[(l - 2) ** 2 : (l - 1) ** 2]
            if r2 is not None:
                scaled = g_inner[1:-1] * neg_b
                g_r2.add_((scaled * out[(l - 2) ** 2 : (l - 1) ** 2]).sum(0))
                g_prev2.addcmul_(scaled, r2)
            elif l > 2:
                g_prev2.addcmul_(g_inner[1:-1], neg_b)
    if g_r2 is not None:
        gX.addcmul_(g_r2, X, value=2.0)
        gY.addcmul_(g_r2, Y, value=2.0)
        gZ.addcmul_(g_r2, Z, value=2.0)
    return torch.stack([gY, gZ, gX])


def _reference_rows(lmax: int, xyz: Tensor, c0: Tensor | None, normalization: str) -> Tensor:
    """Differentiable (autograd) version of :func:`_forward_rows`, used for higher derivatives."""
    X, Y, Z = xyz[2], xyz[0], xyz[1]
    k0, cols = _columns(lmax, normalization, xyz.dtype, xyz.device)
    r2 = (xyz * xyz).sum(0) if c0 is None else None
    seed = torch.full_like(X, k0)[None]
    blocks = [seed]
    for l in range(1, lmax + 1):
        a, neg_b, rho = cols[l]
        prev = blocks[l - 1]
        inner = a * (Z * prev)
        if l >= 2:
            prev2 = seed * c0 if (l == 2 and c0 is not None) else blocks[l - 2]
            inner = inner + torch.nn.functional.pad(neg_b * (prev2 if r2 is None else r2 * prev2), (0, 0, 1, 1))
        sin_prev = prev[0] if l > 1 else torch.zeros_like(X)
        cos_new = rho * (X * prev[-1] - Y * sin_prev)
        sin_new = rho * (X * sin_prev + Y * prev[-1])
        blocks.append(torch.cat([sin_new[None], inner, cos_new[None]]))
    return torch.cat(blocks)


_EPS = 1e-12  # |x| below this counts as the zero vector when normalising


def _unit_rows(flat: Tensor, normalize: bool) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """``flat`` [N, 3] -> (component-major xyz [3, N], 1/|x| [N] or None, c0 [N] or None), no autograd."""
    xyz = _to_rows(flat)
    if not normalize:
        return xyz, None, None
    r2 = xyz[0] * xyz[0]
    r2.addcmul_(xyz[1], xyz[1]).addcmul_(xyz[2], xyz[2])
    inv = r2.clamp_min(_EPS**2).rsqrt_()
    xyz.mul_(inv)
    return xyz, inv, (r2 > _EPS**2).to(flat.dtype)


def _transpose(rows: Tensor) -> Tensor:
    """[K, N] -> contiguous [N, K] (a copy into a transposed view beats ``.t().contiguous()`` several-fold)."""
    out = rows.new_empty(rows.shape[1], rows.shape[0])
    out.t().copy_(rows)
    return out


def _to_rows(columns: Tensor) -> Tensor:
    """[N, K] -> contiguous [K, N]; stacking the columns is fastest for few columns (measured)."""
    if columns.shape[1] <= 32:
        return torch.stack(columns.unbind(1))
    return columns.new_empty(columns.shape[1], columns.shape[0]).copy_(columns.t())


def _differentiable_rows(x: Tensor, lmax: int, normalize: bool, normalization: str, c0: Tensor | None) -> Tensor:
    """[(lmax+1)^2, N] of ``x`` [N, 3] from autograd-recorded ops only (``c0`` as :func:`_unit_rows` gives)."""
    # |x|^2 rather than |x|: its derivatives of every order are finite at the zero vector
    # times c0: at the zero vector, where Y is defined as Y^0 only, the gradient is 0
    unit = x.t() * (torch.rsqrt((x * x).sum(1).clamp_min(_EPS**2)) * c0) if normalize else x.t()
    return _reference_rows(lmax, unit, c0, normalization)


class _SphericalHarmonics(torch.autograd.Function):
    """All degrees ``0..lmax`` of ``flat`` [N, 3] -> [N, (lmax+1)^2].

    Fast forward and adjoint backward; with ``create_graph=True`` the backward is rebuilt from the
    differentiable reference so that second (and higher) derivatives are exact.
    """

    @staticmethod
    def forward(ctx, flat: Tensor, lmax: int, normalize: bool, normalization: str) -> Tensor:
        xyz, inv, c0 = _unit_rows(flat, normalize)
        rows = _forward_rows(lmax, xyz, c0, normalization)
        ctx.save_for_backward(flat, xyz, inv, c0, rows)
        ctx.args = (lmax, normalize, normalization)
        return _transpose(rows)

    @staticmethod
    def backward(ctx, grad: Tensor):
        flat, xyz, inv, c0, rows = ctx.saved_tensors
        lmax, normalize, normalization = ctx.args
        if torch.is_grad_enabled():  # create_graph=True: build a differentiable gradient
            with torch.enable_grad():
                x = flat if flat.requires_grad else flat.detach().requires_grad_()
                ref = _differentiable_rows(x, lmax, normalize, normalization, c0)
                if not ref.requires_grad:  # lmax = 0: constant
                    return torch.zeros_like(flat), None, None, None
                (g,) = torch.autograd.grad(ref, x, grad.t(), create_graph=True)
            return g, None, None, None
        g = _backward_rows(lmax, xyz, c0, normalization, rows, _to_rows(grad))
        if normalize:  # through x / |x|: remove the radial part, divide by |x| (0 at the zero vector)
            g = (g - xyz * (g * xyz).sum(0)) * (inv * c0)
        return _transpose(g), None, None, None


def spherical_harmonics(
    l: Union[int, Iterable[int], str, Irreps],
    x: Tensor,
    normalize: bool = True,
    normalization: Normalization = "component",
) -> Tensor:
    """Real spherical harmonics ``Y^l(x)`` (e3nn conventions).

    Parameters
    ----------
    l : int, list of int, str or Irreps
        Degree(s). An int gives that degree only (e3nn semantics); a list or irreps such as
        ``"0e+1o+2e"`` gives the concatenation. Irreps must have parity ``(-1)^l``.
    x : Tensor [..., 3]
        Vectors, Cartesian ``(x, y, z)``.
    normalize : bool
        Project ``x`` onto the unit sphere first. The zero vector then gives ``Y^0`` only
        (all ``l >= 1`` components are 0) with finite gradients. Without it, ``Y^l`` is a
        homogeneous polynomial of degree ``l`` (``|x|^l`` times the unit-vector value).
    normalization : {'component', 'integral', 'norm'}
        ``'component'``: ``|Y^l|^2 = 2l+1`` on the sphere; ``'integral'``: orthonormal on the sphere;
        ``'norm'``: ``|Y^l| = 1``.

    Returns
    -------
    Tensor [..., sum_l (2l+1)]
        Same dtype and device as ``x``; differentiable (twice and more) through autograd.
    """
    if normalization not in _NORMALIZATIONS:
        raise ValueError(f"spherical_harmonics: normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
    if x.shape[-1:] != (3,):
        raise ValueError(f"spherical_harmonics: x must have shape [..., 3], got {tuple(x.shape)}")
    ls = _parse_ls(l)
    if not ls:
        raise ValueError("spherical_harmonics: no degree requested")
    if min(ls) < 0:
        raise ValueError(f"spherical_harmonics: negative degree in {ls}")
    lmax = max(ls)
    batch_shape = x.shape[:-1]
    flat = x.reshape(-1, 3)
    if composed():  # a graph is being recorded: plain ops, whether or not x requires grad now
        c0 = (flat * flat).sum(1).gt(_EPS**2).to(flat.dtype) if normalize else None
        out = _differentiable_rows(flat, lmax, normalize, normalization, c0).t()
    elif torch.is_grad_enabled() and flat.requires_grad:
        out = _SphericalHarmonics.apply(flat, lmax, normalize, normalization)
    else:
        xyz, _, c0 = _unit_rows(flat, normalize)
        out = _transpose(_forward_rows(lmax, xyz, c0, normalization))
    if ls != list(range(lmax + 1)):
        out = torch.cat([out[:, d * d : (d + 1) * (d + 1)] for d in ls], dim=1)
    return out.reshape(*batch_shape, out.shape[1])
