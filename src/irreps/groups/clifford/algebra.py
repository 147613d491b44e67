"""The Clifford (geometric) algebra Cl(p, q, r) of a diagonal metric, with tables computed from blades.

Basis vectors ``e_0 .. e_{n-1}`` (n = p + q + r) square to +1 (the first p), -1 (the next q) and
0 (the last r). A basis blade ``e_A = e_{a_1} ... e_{a_k}`` (``a_1 < ... < a_k``) is stored as the
bitmap of A; blades are ordered by grade, then lexicographically, so a multivector is a tensor
``[..., 2^n]`` whose grade-k part is one contiguous slice.

The product of two blades is ``e_A e_B = sign(A, B) * prod_{i in A & B} m_i * e_{A xor B}``, where
``sign`` is ``(-1)`` to the number of pairs ``(i in A, j in B, i > j)`` (the swaps that sort the
concatenated word). Every bilinear product here is a list of such (left, right, out, coefficient)
entries, never a typed table: the outer product keeps the entries with ``A & B = 0``, the inner
product (left contraction ``a ⌋ b``) those with ``A ⊆ B``.

The Clifford group acts by twisted conjugation ``rho(w)(x) = w alpha^{|w|}(x) w^{-1}`` (alpha the
grade involution, |w| the parity of w); on vectors this is the reflection/rotation/boost that w
represents, and on the whole algebra it is an automorphism that preserves grades (Ruhe, Brandstetter
& Forré 2023), which is why grade projections and geometric products are equivariant.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import torch

MAX_DIM = 10  # 2^10 blades and 2^20 product entries: beyond this dense multivectors are impractical


def _reorder_sign(a: int, b: int) -> int:
    """(-1)^(number of pairs i in a, j in b with i > j) for blade bitmaps a, b."""
    swaps, a = 0, a >> 1
    while a:
        swaps += bin(a & b).count("1")
        a >>= 1
    return -1 if swaps % 2 else 1


class CliffordAlgebra:
    """Cl(p, q, r): products, grade projections, involutions, the extended quadratic form, versors.

    Parameters
    ----------
    p, q, r : int
        Numbers of basis vectors squaring to +1, -1 and 0 (in that order).

    Attributes
    ----------
    dim : int
        n = p + q + r, the dimension of the vector space.
    num_blades : int
        2^n, the dimension of the algebra (last axis of a multivector).
    blades : list[tuple[int, ...]]
        The basis vectors of each blade, in storage order.
    grades : Tensor
        ``[num_blades]`` long, the grade of each blade.
    metric : Tensor
        ``[n]`` float64, the squares of the basis vectors.
    blade_squares : Tensor
        ``[num_blades]`` float64, ``<reverse(e_A) e_A>_0 = prod_{i in A} m_i``: the weight of
        ``x_A^2`` in the extended quadratic form (0 for blades with a null vector).
    """

    def __init__(self, p: int, q: int = 0, r: int = 0):
        for name, value in (("p", p), ("q", q), ("r", r)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"signature entry {name} must be a non-negative integer, got {value!r}")
        n = p + q + r
        if not 1 <= n <= MAX_DIM:
            raise ValueError(f"p + q + r must be between 1 and {MAX_DIM}, got {n}")
        self.signature = (p, q, r)
        self.dim = n
        self.num_blades = 2**n
        self.metric = torch.tensor([1.0] * p + [-1.0] * q + [0.0] * r, dtype=torch.float64)
        self.blades = [c for k in range(n + 1) for c in combinations(range(n), k)]
        bitmaps = [sum(1 << i for i in blade) for blade in self.blades]
        index = {bm: i for i, bm in enumerate(bitmaps)}
        self.grades = torch.tensor([len(b) for b in self.blades])
        self.grade_sizes = [comb(n, k) for k in range(n + 1)]
        metric = [float(m) for m in self.metric]
        left, right, out, coeff, kind = [], [], [], [], []
        for i, a in enumerate(bitmaps):
            for j, b in enumerate(bitmaps):
                factor = float(_reorder_sign(a, b))
                for k in range(n):
                    if a & b & (1 << k):
                        factor *= metric[k]
                if factor == 0.0:
                    continue  # a shared null vector
                left.append(i), right.append(j), out.append(index[a ^ b]), coeff.append(factor)
                kind.append((a & b == 0, a & b == a))
        self._left, self._right, self._out = torch.tensor(left), torch.tensor(right), torch.tensor(out)
        self._coeff = torch.tensor(coeff, dtype=torch.float64)
        kinds = torch.tensor(kind, dtype=torch.bool).reshape(-1, 2)
        self._outer, self._inner = kinds[:, 0], kinds[:, 1]
        g = self.grades.to(torch.float64)
        self._alpha = (-1.0) ** g
        self._beta = (-1.0) ** (g * (g - 1) / 2)
        self.blade_squares = torch.tensor([float(torch.prod(self.metric[list(b)])) for b in self.blades],
                                          dtype=torch.float64)

    def __repr__(self) -> str:
        return f"CliffordAlgebra(p={self.signature[0]}, q={self.signature[1]}, r={self.signature[2]})"

    # ---------------------------------------------------------------- layout
    def grade_slice(self, k: int) -> slice:
        """The slice of the last axis that holds grade k."""
        if not 0 <= k <= self.dim:
            raise ValueError(f"grade must be between 0 and {self.dim}, got {k}")
        start = sum(self.grade_sizes[:k])
        return slice(start, start + self.grade_sizes[k])

    def product_entries(self, kind: str = "geometric") -> tuple[torch.Tensor, ...]:
        """``(left, right, out, coefficient)`` of every non-zero entry of a product.

        ``kind`` is ``"geometric"``, ``"outer"`` or ``"inner"`` (left contraction).
        """
        masks = {"geometric": None, "outer": self._outer, "inner": self._inner}
        if kind not in masks:
            raise ValueError(f"product kind must be one of {sorted(masks)}, got {kind!r}")
        mask = masks[kind]
        entries = (self._left, self._right, self._out, self._coeff)
        return entries if mask is None else tuple(t[mask] for t in entries)

    def cayley_table(self, kind: str = "geometric") -> torch.Tensor:
        """Dense ``[num_blades, num_blades, num_blades]`` float64 table: ``e_i e_j = sum_k T[i, j, k] e_k``."""
        left, right, out, coeff = self.product_entries(kind)
        table = torch.zeros((self.num_blades,) * 3, dtype=torch.float64)
        table[left, right, out] = coeff
        return table

    def _check(self, x: torch.Tensor, name: str = "multivector") -> None:
        if x.shape[-1:] != (self.num_blades,):
            raise ValueError(f"{name} must end in {self.num_blades} blade components for {self!r}, "
                             f"got shape {list(x.shape)}")

    # ---------------------------------------------------------------- products
    def _bilinear(self, a: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
        self._check(a, "left operand")
        self._check(b, "right operand")
        a, b = torch.broadcast_tensors(a, b)
        left, right, out, coeff = (t.to(a.device) for t in self.product_entries(kind))
        terms = a[..., left] * b[..., right] * coeff.to(a.dtype)
        return torch.zeros_like(a).index_add_(-1, out, terms)

    def geometric_product(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``a b`` for multivectors ``[..., 2^n]`` (leading axes broadcast)."""
        return self._bilinear(a, b, "geometric")

    def outer_product(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``a ∧ b``: the grade-(k+l) part of the product of the grade-k and grade-l parts."""
        return self._bilinear(a, b, "outer")

    def inner_product(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The left contraction ``a ⌋ b``: the grade-(l-k) part of the product of grade-k and grade-l parts."""
        return self._bilinear(a, b, "inner")

    # ---------------------------------------------------------------- grades and involutions
    def grade_projection(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """``<x>_k``, the grade-k part (same shape as x, other grades zeroed)."""
        self._check(x)
        if not 0 <= k <= self.dim:
            raise ValueError(f"grade must be between 0 and {self.dim}, got {k}")
        return x * (self.grades.to(x.device) == k).to(x.dtype)

    def _signed(self, x: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return x * signs.to(device=x.device, dtype=x.dtype)

    def grade_involution(self, x: torch.Tensor) -> torch.Tensor:
        """``alpha(x)``: grade k scaled by (-1)^k."""
        return self._signed(x, self._alpha)

    def reversion(self, x: torch.Tensor) -> torch.Tensor:
        """``beta(x)``: the order of vectors in each blade reversed, grade k scaled by (-1)^(k(k-1)/2)."""
        return self._signed(x, self._beta)

    def clifford_conjugation(self, x: torch.Tensor) -> torch.Tensor:
        """``alpha(beta(x))``."""
        return self._signed(x, self._alpha * self._beta)

    def quadratic_form(self, x: torch.Tensor) -> torch.Tensor:
        """The extended quadratic form ``<beta(x) x>_0`` ``[...]`` (indefinite for q > 0; blind to null blades)."""
        self._check(x)
        return (x * x * self.blade_squares.to(device=x.device, dtype=x.dtype)).sum(-1)

    def grade_quadratic_forms(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., n+1]``: the extended quadratic form of each grade part (each one invariant)."""
        self._check(x)
        terms = x * x * self.blade_squares.to(device=x.device, dtype=x.dtype)
        out = torch.zeros(*x.shape[:-1], self.dim + 1, dtype=x.dtype, device=x.device)
        return out.index_add_(-1, self.grades.to(x.device), terms)

    # ---------------------------------------------------------------- vectors and versors
    def embed_vectors(self, v: torch.Tensor) -> torch.Tensor:
        """``[..., n]`` vectors -> ``[..., 2^n]`` grade-1 multivectors."""
        if v.shape[-1:] != (self.dim,):
            raise ValueError(f"vectors must end in n={self.dim} components, got shape {list(v.shape)}")
        x = v.new_zeros(*v.shape[:-1], self.num_blades)
        x[..., self.grade_slice(1)] = v
        return x

    def vector_part(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., 2^n]`` -> ``[..., n]``, the grade-1 components."""
        self._check(x)
        return x[..., self.grade_slice(1)]

    def versor(self, vectors: torch.Tensor) -> torch.Tensor:
        """The product ``v_1 v_2 ... v_k`` of ``[k, n]`` vectors (each should be non-null)."""
        if vectors.dim() != 2 or vectors.shape[0] < 1:
            raise ValueError(f"expected vectors [k >= 1, n], got shape {list(vectors.shape)}")
        mvs = self.embed_vectors(vectors)
        result = mvs[0]
        for v in mvs[1:]:
            result = self.geometric_product(result, v)
        return result

    def versor_inverse(self, w: torch.Tensor) -> torch.Tensor:
        """``w^{-1} = beta(w) / <w beta(w)>_0`` for a versor w ``[2^n]`` (w beta(w) is then a scalar)."""
        rev = self.reversion(w)
        norm = self.geometric_product(w, rev)
        if not torch.allclose(norm[..., 1:], torch.zeros_like(norm[..., 1:]), atol=1e-9 * norm.abs().max()):
            raise ValueError("w beta(w) is not a scalar: w is not a versor (a product of non-null vectors)")
        if (norm[..., 0] == 0).any():
            raise ValueError("w beta(w) = 0: the versor is not invertible (a factor is a null vector)")
        return rev / norm[..., :1]

    def versor_action(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Twisted conjugation ``rho(w)(x) = w alpha^{|w|}(x) w^{-1}`` of multivectors ``[..., 2^n]``.

        ``w`` ``[2^n]`` must be a versor of definite parity (all odd-grade or all even-grade).
        """
        self._check(w, "versor")
        odd = (self.grades % 2 == 1).to(w.device)
        has_odd, has_even = bool((w[odd] != 0).any()), bool((w[~odd] != 0).any())
        if has_odd == has_even:
            raise ValueError("the versor must be purely even or purely odd (a product of vectors)")
        inner = self.grade_involution(x) if has_odd else x
        return self.geometric_product(self.geometric_product(w, inner), self.versor_inverse(w))
