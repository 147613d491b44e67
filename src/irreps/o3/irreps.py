"""``Irrep`` and ``Irreps``: labels of O(3) irreducible representations and their direct sums.

An irrep of O(3) is a degree ``l >= 0`` (dimension ``2l+1``) and a parity ``p = +1`` ("e", even)
or ``p = -1`` ("o", odd) telling how it transforms under the inversion ``-I``.
``Irreps`` is an immutable, hashable direct sum written e3nn-style, e.g. ``"16x0e+8x1o+4x2e"``.
Features laid out by an ``Irreps`` are the concatenation of ``mul`` copies of each irrep, each copy
a contiguous block of ``2l+1`` components (the "mul-major" layout of e3nn).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Iterator, NamedTuple, Union

import torch
from torch import Tensor

LMAX_LIMIT = 64
_IRREP_RE = re.compile(r"^(\d+)([eo])$")
_TERM_RE = re.compile(r"^(?:(\d+)x)?(\d+)([eo])$")


class Irrep:
    """One irreducible representation of O(3).

    Parameters
    ----------
    l : int or str or Irrep or tuple
        The degree (``0 <= l <= 64``) or a string such as ``"1o"`` (then ``p`` must be omitted).
    p : int, optional
        Parity, ``+1`` or ``-1``.
    """

    __slots__ = ("_l", "_p")

    def __init__(self, l: Union[int, str, "Irrep", tuple], p: int | None = None) -> None:
        if isinstance(l, Irrep):
            l, p = l.l, l.p
        elif isinstance(l, str):
            if p is not None:
                raise ValueError("Irrep: give either a string like '1o' or (l, p), not both")
            match = _IRREP_RE.match(l.strip())
            if match is None:
                raise ValueError(f"Irrep: cannot parse {l!r}; expected '<l><e|o>' such as '0e' or '1o'")
            l, p = int(match.group(1)), 1 if match.group(2) == "e" else -1
        elif isinstance(l, tuple):
            if p is not None or len(l) != 2:
                raise ValueError(f"Irrep: expected a pair (l, p), got {l!r}")
            l, p = l
        if isinstance(l, bool) or not isinstance(l, int):
            raise ValueError(f"Irrep: l must be an int, got {l!r}")
        if not 0 <= l <= LMAX_LIMIT:
            raise ValueError(f"Irrep: l={l} outside the supported range 0..{LMAX_LIMIT}")
        if p not in (1, -1):
            raise ValueError(f"Irrep: parity must be +1 or -1, got {p!r}")
        object.__setattr__(self, "_l", l)
        object.__setattr__(self, "_p", int(p))

    def __setattr__(self, name, value):
        raise AttributeError("Irrep is immutable")

    def __reduce__(self):
        # rebuilt through the constructor: the default slot-state protocol would have to setattr
        # (copy.deepcopy of modules holding irreps, e.g. a trainer's EMA copy, goes through here)
        return (Irrep, (self._l, self._p))

    @property
    def l(self) -> int:  # noqa: E743
        """Degree."""
        return self._l

    @property
    def p(self) -> int:
        """Parity (+1 even, -1 odd)."""
        return self._p

    @property
    def dim(self) -> int:
        """Dimension ``2l+1``."""
        return 2 * self._l + 1

    def is_scalar(self) -> bool:
        """True for ``0e``."""
        return self._l == 0 and self._p == 1

    def __iter__(self) -> Iterator[int]:
        yield self._l
        yield self._p

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Irrep(other)
            except ValueError:
                return False
        return isinstance(other, Irrep) and (self._l, self._p) == (other._l, other._p)

    def __hash__(self) -> int:
        return hash((self._l, self._p))

    def _key(self) -> tuple[int, int]:
        # Even before odd at equal l: "0e" < "0o" < "1e" < "1o".
        return (self._l, -self._p)

    def __lt__(self, other: "Irrep") -> bool:
        return self._key() < Irrep(other)._key()

    def __repr__(self) -> str:
        return f"{self._l}{'e' if self._p == 1 else 'o'}"

    def __mul__(self, other: "Irrep") -> Iterator["Irrep"]:
        """Irreps in the tensor product ``self x other`` (|l1-l2| .. l1+l2, parity p1 p2)."""
        other = Irrep(other)
        p = self._p * other._p
        for l in range(abs(self._l - other._l), min(self._l + other._l, LMAX_LIMIT) + 1):
            yield Irrep(l, p)

    def __rmul__(self, mul: int) -> "Irreps":
        """``3 * Irrep('1o')`` is ``Irreps('3x1o')``."""
        return Irreps([(mul, self)])

    @staticmethod
    def iterator(lmax: int) -> Iterator["Irrep"]:
        """All irreps with ``l <= lmax`` in sorted order (0e, 0o, 1e, 1o, ...)."""
        for l in range(lmax + 1):
            yield Irrep(l, 1)
            yield Irrep(l, -1)

    def D_from_matrix(self, R: Tensor) -> Tensor:
        """Representation matrix of an orthogonal matrix.

        Parameters
        ----------
        R : Tensor [..., 3, 3]
            Orthogonal matrices; ``det(R) = -1`` is handled as a proper rotation times ``-I``,
            which acts as the parity ``p``.

        Returns
        -------
        Tensor [..., 2l+1, 2l+1]
        """
        from irreps.o3.wigner import wigner_D_from_matrix

        det = torch.linalg.det(R)
        sign = torch.where(det < 0, -1.0, 1.0).to(R.dtype)
        D = wigner_D_from_matrix(self._l, R * sign[..., None, None])
        if self._p == -1:
            D = D * sign[..., None, None]
        return D

    def D_from_angles(self, alpha: Tensor, beta: Tensor, gamma: Tensor, k: Tensor | int = 0) -> Tensor:
        """``D(alpha, beta, gamma) p^k`` for YXY Euler angles and ``k`` inversions, [..., 2l+1, 2l+1]."""
        from irreps.o3.wigner import wigner_D

        D = wigner_D(self._l, alpha, beta, gamma)
        k = torch.as_tensor(k, dtype=D.dtype, device=D.device)
        return D * (self._p**k)[..., None, None] if self._p == -1 else D


IrrepLike = Union[Irrep, str, tuple]


class MulIrrep(NamedTuple):
    """``mul`` copies of ``ir``; unpacks as ``mul, ir``."""

    mul: int
    ir: Irrep

    @property
    def dim(self) -> int:
        return self.mul * self.ir.dim

    def __repr__(self) -> str:
        return f"{self.mul}x{self.ir}"


class SortResult(NamedTuple):
    """Result of :meth:`Irreps.sort`: sorted irreps, ``p[i]`` = new position of entry ``i``, and ``inv = p^-1``."""

    irreps: "Irreps"
    p: tuple[int, ...]
    inv: tuple[int, ...]


def _parse_string(text: str) -> list[MulIrrep]:
    text = text.strip()
    if text == "":
        return []
    out = []
    for term in text.split("+"):
        term = term.strip().replace(" ", "")
        if term.startswith("-"):
            raise ValueError(f"Irreps: negative multiplicity in term {term!r} of {text!r}")
        match = _TERM_RE.match(term)
        if match is None:
            raise ValueError(
                f"Irreps: cannot parse term {term!r} of {text!r}; expected '<mul>x<l><e|o>' such as '16x0e' or '1o'"
            )
        mul = 1 if match.group(1) is None else int(match.group(1))
        out.append(MulIrrep(mul, Irrep(int(match.group(2)), 1 if match.group(3) == "e" else -1)))
    return out


def _parse_entry(entry) -> MulIrrep:
    if isinstance(entry, (Irrep, str)):
        return MulIrrep(1, Irrep(entry))
    if isinstance(entry, tuple) and len(entry) == 2:
        mul, ir = entry
        if isinstance(mul, bool) or not isinstance(mul, int):
            raise ValueError(f"Irreps: multiplicity must be an int, got {mul!r}")
        if mul < 0:
            raise ValueError(f"Irreps: negative multiplicity {mul} for {ir!r}")
        return MulIrrep(mul, Irrep(ir))
    raise ValueError(f"Irreps: cannot interpret {entry!r} as (mul, irrep)")


class Irreps:
    """Immutable direct sum of O(3) irreps, e.g. ``Irreps("16x0e+8x1o+4x2e")``.

    Parameters
    ----------
    irreps : str, Irreps, Irrep or iterable of (mul, irrep) / irrep entries
        Order is kept as given (see :meth:`sort` and :meth:`simplify`).
    """

    __slots__ = ("_data",)

    def __init__(self, irreps: Union[str, "Irreps", Irrep, Iterable, None] = None) -> None:
        if irreps is None:
            data: list[MulIrrep] = []
        elif isinstance(irreps, Irreps):
            data = list(irreps._data)
        elif isinstance(irreps, Irrep):
            data = [MulIrrep(1, irreps)]
        elif isinstance(irreps, str):
            data = _parse_string(irreps)
        else:
            data = [_parse_entry(e) for e in irreps]
        for mul, _ in data:
            if mul < 0:
                raise ValueError(f"Irreps: negative multiplicity in {irreps!r}")
        object.__setattr__(self, "_data", tuple(data))

    def __setattr__(self, name, value):
        raise AttributeError("Irreps is immutable")

    def __reduce__(self):
        # through the constructor, as Irrep (copy.deepcopy, pickle)
        return (Irreps, (list(self._data),))

    @staticmethod
    def spherical_harmonics(lmax: int, p: int = -1) -> "Irreps":
        """``1x0e+1x1o+1x2e+...`` up to ``lmax``: the irreps of :func:`spherical_harmonics` (parity ``p^l``)."""
        return Irreps([(1, Irrep(l, p**l)) for l in range(lmax + 1)])

    # --- sizes -----------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Total dimension ``sum mul (2l+1)``."""
        return sum(m.dim for m in self._data)

    @property
    def num_irreps(self) -> int:
        """Total number of irrep copies ``sum mul``."""
        return sum(m.mul for m in self._data)

    @property
    def lmax(self) -> int:
        """Largest degree; ValueError when empty."""
        if not self._data:
            raise ValueError("Irreps: lmax of an empty Irreps is undefined")
        return max(ir.l for _, ir in self._data)

    @property
    def ls(self) -> list[int]:
        """Degree of every irrep copy, in order (length ``num_irreps``)."""
        return [ir.l for mul, ir in self._data for _ in range(mul)]

    def slices(self) -> list[slice]:
        """Slice of each entry in a feature vector of size ``dim``."""
        out, start = [], 0
        for m in self._data:
            out.append(slice(start, start + m.dim))
            start += m.dim
        return out

    def count(self, ir: IrrepLike) -> int:
        """Total multiplicity of ``ir``."""
        ir = Irrep(ir)
        return sum(mul for mul, i in self._data if i == ir)

    def __contains__(self, ir) -> bool:
        return self.count(ir) > 0

    # --- transformations -------------------------------------------------------------------
    def simplify(self) -> "Irreps":
        """Merge consecutive equal irreps and drop zero multiplicities (order otherwise kept)."""
        out: list[list] = []
        for mul, ir in self._data:
            if mul == 0:
                continue
            if out and out[-1][1] == ir:
                out[-1][0] += mul
            else:
                out.append([mul, ir])
        return Irreps([(m, i) for m, i in out])

    def sort(self) -> SortResult:
        """Stable sort by irrep (0e, 0o, 1e, 1o, ...).

        Returns ``(irreps, p, inv)`` with ``sorted.entries[p[i]] == self.entries[i]`` and ``inv[j]`` the
        original index of sorted entry ``j``.
        """
        inv = tuple(sorted(range(len(self._data)), key=lambda i: self._data[i].ir._key()))
        p = [0] * len(inv)
        for new, old in enumerate(inv):
            p[old] = new
        return SortResult(Irreps([self._data[i] for i in inv]), tuple(p), inv)

    def filter(
        self,
        keep: Union["Irreps", Iterable, Callable[[MulIrrep], bool], None] = None,
        drop: Union["Irreps", Iterable, Callable[[MulIrrep], bool], None] = None,
        lmax: int | None = None,
    ) -> "Irreps":
        """Entries whose irrep is in ``keep`` (or passes ``keep(mul_ir)``), not in ``drop``, with ``l <= lmax``."""

        def as_test(spec):
            if callable(spec):
                return spec
            irs = {ir for _, ir in Irreps(spec)} if isinstance(spec, (str, Irreps)) else {Irrep(i) for i in spec}
            return lambda m: m.ir in irs

        out = list(self._data)
        if keep is not None:
            out = [m for m in out if as_test(keep)(m)]
        if drop is not None:
            out = [m for m in out if not as_test(drop)(m)]
        if lmax is not None:
            out = [m for m in out if m.ir.l <= lmax]
        return Irreps(out)

    def D_from_matrix(self, R: Tensor) -> Tensor:
        """Block-diagonal representation of orthogonal matrices ``R`` [..., 3, 3] -> [..., dim, dim]."""
        det = torch.linalg.det(R)
        sign = torch.where(det < 0, -1.0, 1.0).to(R.dtype)
        proper = R * sign[..., None, None]
        from irreps.o3.wigner import wigner_D_from_matrix

        out = R.new_zeros(*R.shape[:-2], self.dim, self.dim)
        blocks: dict[int, Tensor] = {}
        for (mul, ir), sl in zip(self._data, self.slices()):
            if ir.l not in blocks:
                blocks[ir.l] = wigner_D_from_matrix(ir.l, proper)
            D = blocks[ir.l] * sign[..., None, None] if ir.p == -1 else blocks[ir.l]
            for k in range(mul):
                s = sl.start + k * ir.dim
                out[..., s : s + ir.dim, s : s + ir.dim] = D
        return out

    def randn(self, *shape: int, generator: torch.Generator | None = None, dtype=None, device=None) -> Tensor:
        """Standard normal features ``[*shape, dim]``."""
        return torch.randn(*shape, self.dim, generator=generator, dtype=dtype, device=device)

    # --- container protocol ----------------------------------------------------------------
    def __iter__(self) -> Iterator[MulIrrep]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Irreps(self._data[index])
        return self._data[index]

    def __add__(self, other) -> "Irreps":
        return Irreps(self._data + Irreps(other)._data)

    def __radd__(self, other) -> "Irreps":
        return Irreps(Irreps(other)._data + self._data)

    def __mul__(self, times: int) -> "Irreps":
        """Repeat the list ``times`` times (``Irreps('0e') * 2 == Irreps('0e+0e')``)."""
        if isinstance(times, bool) or not isinstance(times, int) or times < 0:
            raise ValueError(f"Irreps: can only repeat a non-negative int number of times, got {times!r}")
        return Irreps(self._data * times)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (str, list, tuple)):
            try:
                other = Irreps(other)
            except ValueError:
                return False
        return isinstance(other, Irreps) and self._data == other._data

    def __hash__(self) -> int:
        return hash(self._data)

    def __repr__(self) -> str:
        return "+".join(repr(m) for m in self._data)

    def __str__(self) -> str:
        return repr(self)
