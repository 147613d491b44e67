"""Symmetric many-body product of an atomic basis (MACE's product basis) on Gaunt or CG products.

Each atom carries ``C`` channels of an atomic basis ``A`` (MACE's ``A_{i,k l m}``), a sphere function
``A_k = sum_lm A_klm Y_lm`` per channel ``k`` with natural parity (``C x 0e + C x 1o + C x 2e + ...``).
Following Luo, Chen & Krishnapriyan (ICLR 2024, "equivariant many-body interactions"), the
body-order-``nu`` term is a product of ``nu`` such functions, each with its own element-dependent
weight per degree, projected onto harmonics of degree ``<= lmax_out``::

    g_xi = sum_l w[z_i, xi, l, k] A_kl           (xi = 1 .. correlation)
    B_nu = P_{lmax_out}(g_1 g_2 ... g_nu)          (nu = 1 .. correlation)
    out_kLM = sum_nu v[z_i, nu, L, k] B_nu,kLM

The ``nu``-th product reuses the ``(nu-1)``-th, so ``correlation`` orders cost ``correlation``
products, not ``correlation (correlation + 1) / 2``. Compared with MACE's symmetric contraction
(one weight per generalised-CG path) the path weights are factorised per degree, which is what
makes the ``O(L^3)`` Gaunt route possible.

Engines (same weights, same outputs on the paths both make):

* ``"gaunt"``: the products are pointwise products of the functions on one alias-free torus grid
  (:class:`~irreps.ops.tensor_product.GauntProduct`), one projection per order;
* ``"cg"``: the reference; each product by Clebsch-Gordan coupling
  (:class:`~irreps.ops.tensor_product.TensorProduct`) with path constants equal to the Gaunt
  coefficients (:func:`irreps.o3.gaunt`), intermediate degrees kept up to what can still reach
  ``lmax_out``. With ``odd_paths=True`` it also couples through ``l1 + l2 + l3`` odd paths (the
  antisymmetric couplings a product of functions cannot make, carried by pseudo-parity
  intermediates), each with constant ``sqrt(2 l3 + 1)`` (e3nn's 'component' value for one path).

Features use the irreps layout ``[N, C x (2l+1) per l]`` of :mod:`irreps.ops.tensor_product.gaunt`.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from irreps.o3 import Irrep, Irreps, gaunt, wigner_3j
from irreps.ops.tensor_product import GauntProduct, TensorProduct
from irreps.ops.tensor_product.gaunt import from_sphere_layout, sphere_parity, to_sphere_layout

ManyBodyEngine = Literal["gaunt", "cg"]
MANY_BODY_ENGINES = ("gaunt", "cg")
MAX_CORRELATION = 4


def _natural(lmax: int, channels: int) -> Irreps:
    return Irreps([(channels, (l, (-1) ** l)) for l in range(lmax + 1)])


def _degree_index(lmax: int) -> Tensor:
    """``l`` of each harmonic index ``0 .. (lmax+1)^2 - 1``."""
    return torch.tensor([l for l in range(lmax + 1) for _ in range(2 * l + 1)])


class SymmetricProduct(torch.nn.Module):
    """``B = sum_nu v_nu P(g_1 ... g_nu)`` per atom and channel; see the module docstring.

    Parameters
    ----------
    irreps_in : Irreps or str
        ``C x 0e + C x 1o + ... + C x (L, (-1)^L)``: the atomic basis.
    lmax_out : int
        Output irreps ``C x 0e + C x 1o + ... + C x (lmax_out, (-1)^lmax_out)``.
    correlation : int
        Largest body order ``nu`` of the product (1 .. 4); ``nu = 1`` is the weighted basis itself.
    num_elements : int
        Rows of the element-dependent weight tables.
    engine : {'gaunt', 'cg'}
    odd_paths : bool
        'cg' only: also couple through odd ``l1 + l2 + l3`` paths.

    ``forward(x [N, irreps_in.dim], species [N]) -> [N, irreps_out.dim]`` with ``species`` the
    element rows ``0 .. num_elements - 1``.
    """

    def __init__(
        self, irreps_in: Irreps | str, lmax_out: int, correlation: int, num_elements: int,
        engine: ManyBodyEngine = "gaunt", odd_paths: bool = False,
    ) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in)
        self.channels, sign = sphere_parity(self.irreps_in)
        if sign != 1:
            raise ValueError(f"SymmetricProduct: the basis must have natural parity (0e + 1o + ...), got {self.irreps_in}")
        if not 1 <= correlation <= MAX_CORRELATION:
            raise ValueError(f"SymmetricProduct: correlation must be in 1..{MAX_CORRELATION}, got {correlation}")
        if lmax_out < 0 or num_elements < 1:
            raise ValueError(f"SymmetricProduct: need lmax_out >= 0 and num_elements >= 1, got {lmax_out}, {num_elements}")
        if engine not in MANY_BODY_ENGINES:
            raise ValueError(f"SymmetricProduct: unknown engine {engine!r}; choose one of {MANY_BODY_ENGINES}")
        if odd_paths and engine != "cg":
            raise ValueError("SymmetricProduct: odd_paths needs engine='cg' (Gaunt products make even paths only)")
        self.lmax, self.lmax_out, self.correlation = self.irreps_in.lmax, int(lmax_out), int(correlation)
        self.engine, self.odd_paths = engine, bool(odd_paths)
        self.irreps_out = _natural(self.lmax_out, self.channels)
        c, L = self.channels, self.lmax
        # factors start as the basis itself (unit weights); each order's output weight ~ N(0, 1) / correlation
        self.factor_weights = torch.nn.Parameter(torch.ones(num_elements, correlation, L + 1, c))
        self.output_weights = torch.nn.Parameter(torch.randn(num_elements, correlation, self.lmax_out + 1, c) / correlation)
        self.register_buffer("_in_degree", _degree_index(L), persistent=False)
        self.register_buffer("_out_degree", _degree_index(self.lmax_out), persistent=False)
        if engine == "gaunt":
            self.product = GauntProduct([L] * correlation, self.lmax_out)
        else:
            self.chain = CGProductChain(L, self.lmax_out, correlation, odd_paths)

    def forward(self, x: Tensor, species: Tensor) -> Tensor:
        if x.shape[-1] != self.irreps_in.dim or x.dim() != 2:
            raise ValueError(f"SymmetricProduct: expected x of shape [N, {self.irreps_in.dim}] ({self.irreps_in}), got {tuple(x.shape)}")
        if species.shape != x.shape[:1]:
            raise ValueError(f"SymmetricProduct: species must have shape [{x.shape[0]}], got {tuple(species.shape)}")
        n, c = x.shape[0], self.channels
        a = to_sphere_layout(x, self.irreps_in)  # [N, C, D]
        # [N, nu, C, D]: per-degree weights spread over the 2l+1 components
        w = self.factor_weights.index_select(0, species).index_select(2, self._in_degree).transpose(2, 3)
        v = self.output_weights.index_select(0, species).index_select(2, self._out_degree).transpose(2, 3)
        factors = [(a * w[:, k]).reshape(n * c, a.shape[-1]) for k in range(self.correlation)]
        orders = self._orders_gaunt(factors) if self.engine == "gaunt" else self.chain(factors)
        out = sum(b.reshape(n, c, b.shape[-1]) * v[:, k] for k, b in enumerate(orders))
        return from_sphere_layout(out, self.irreps_out)

    def _orders_gaunt(self, factors: list[Tensor]) -> list[Tensor]:
        """``P(g_1 ... g_nu)`` for every order, from running products on the torus grid."""
        p, grid, out = self.product, None, []
        for g in factors:
            values = p.to_grid(g, 0)
            grid = values if grid is None else grid * values
            out.append(p.from_grid(grid))
        return out

    def extra_repr(self) -> str:
        paths = ", odd paths" if self.odd_paths else ""
        return f"{self.irreps_in} -> {self.irreps_out}, correlation={self.correlation}, engine={self.engine}{paths}"


def gaunt_path_constant(l1: int, l2: int, l3: int) -> float:
    """``c`` with ``int Y^l1 Y^l2 Y^l3 dOmega / 4 pi = c C`` ('component' harmonics, ``C`` = :func:`wigner_3j`)."""
    g = gaunt(l1, l2, l3, normalization="component", dtype=torch.float64) / (4 * math.pi)
    return float((g * wigner_3j(l1, l2, l3, dtype=torch.float64)).sum())


class CGProductChain(torch.nn.Module):
    """Running products ``g_1 (x) g_2 (x) ... (x) g_nu`` by Clebsch-Gordan coupling, one row per channel.

    Factors are ``[R, (L+1)^2]`` (each row one channel's sphere function, i.e. ``1x0e + 1x1o + ...``).
    The running product keeps degrees ``l <= min(k L, lmax_out + (correlation - k) L)`` after ``k``
    factors (higher ones cannot reach ``lmax_out``) and, with ``odd_paths``, both parities of each.
    Returns the natural-parity part up to ``lmax_out`` after each factor.
    """

    def __init__(self, lmax: int, lmax_out: int, correlation: int, odd_paths: bool) -> None:
        super().__init__()
        self.lmax_out = lmax_out
        factor = _natural(lmax, 1)
        running = factor
        self.products = torch.nn.ModuleList()
        self._selects = [self._select(running)]
        for k in range(2, correlation + 1):
            degree = min(k * lmax, lmax_out + (correlation - k) * lmax)
            parities = (1, -1) if odd_paths else (1,)
            target = Irreps([(1, (l, s * (-1) ** l)) for l in range(degree + 1) for s in parities])
            instructions, constants = [], []
            for i1, (_, ir1) in enumerate(running):
                for i2, (_, ir2) in enumerate(factor):
                    for io, (_, ir) in enumerate(target):
                        even = (ir1.l + ir2.l + ir.l) % 2 == 0
                        if ir in list(ir1 * ir2) and (even or odd_paths):
                            instructions.append((i1, i2, io, "uvu", True))
                            constants.append(gaunt_path_constant(ir1.l, ir2.l, ir.l) if even else math.sqrt(2 * ir.l + 1))
            tp = TensorProduct(running, factor, target, instructions, irrep_normalization="none",
                               path_normalization="none", shared_weights=True, internal_weights=False)
            tp.register_buffer("constants", torch.tensor(constants, dtype=torch.float64), persistent=False)
            self.products.append(tp)
            running = target
            self._selects.append(self._select(running))
        for k, index in enumerate(self._selects):
            self.register_buffer(f"_select{k}", index, persistent=False)

    def _select(self, irreps: Irreps) -> Tensor:
        """Indices of the natural-parity components with ``l <= lmax_out``, in degree order."""
        slices = irreps.slices()
        pick = {ir.l: slices[i] for i, (_, ir) in enumerate(irreps) if ir == Irrep(ir.l, (-1) ** ir.l) and ir.l <= self.lmax_out}
        return torch.cat([torch.arange(pick[l].start, pick[l].stop) for l in sorted(pick)])

    def forward(self, factors: list[Tensor]) -> list[Tensor]:
        running, out = factors[0], []
        for k, g in enumerate(factors):
            if k:
                tp = self.products[k - 1]
                running = tp(running, g, tp.constants.to(g.dtype))
            picked = running.index_select(1, getattr(self, f"_select{k}"))
            width = (self.lmax_out + 1) ** 2
            out.append(picked if picked.shape[1] == width else torch.nn.functional.pad(picked, (0, width - picked.shape[1])))
        return out
