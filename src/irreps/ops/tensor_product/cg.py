"""Clebsch-Gordan tensor product ``irreps_in1 x irreps_in2 -> irreps_out`` (e3nn-compatible).

Each *instruction* ``(i_in1, i_in2, i_out, mode, has_weight[, path_weight])`` couples entry
``i_in1`` of the first input with entry ``i_in2`` of the second into entry ``i_out`` of the output
through the real Clebsch-Gordan coefficients ``C[m1, m2, m3]`` of the core (e3nn's ``wigner_3j``):

* ``"uvw"`` (fully connected): ``z_w = sum_uv W_uvw  c (x1_u (x) x2_v)``, weights ``[mul1, mul2, mul_out]``;
* ``"uvu"`` (channel-wise, the NequIP/MACE convolution): ``z_u = sum_v W_uv  c (x1_u (x) x2_v)``,
  ``mul_out == mul1``, weights ``[mul1, mul2]``.

``c`` is the path-normalisation constant, computed exactly as e3nn's ``TensorProduct`` does
(``irrep_normalization`` 'component'/'norm'/'none', ``path_normalization`` 'element'/'path'/'none').
The flat weight vector is the concatenation over weighted instructions, in order, of each path's
weights flattened C-contiguously — the same layout as e3nn, so e3nn weights load unchanged.

Computation: instructions are grouped by the pair of inputs they read. For each pair the input
with fewer channels is contracted with the concatenated, pre-scaled CG blocks ``[d1, d2, sum d_out]``
of all its paths (one GEMM), then a batched matmul contracts the other input; weights are applied
per path. No ``d1 x d2 x d_out`` tensor is formed per channel and nothing loops over the batch.
Small convolution-shaped products (filter multiplicity 1, all paths weighted 'uvu') go instead
through :class:`~irreps.ops.tensor_product.cg_small.SmallChannelwiseProduct`: one contraction with
a hand-written backward.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, Sequence

import torch
from torch import Tensor

from irreps.o3 import Irreps, spherical_harmonics, wigner_3j
from irreps.ops.tensor_product.cg_small import SmallChannelwiseProduct

Mode = Literal["uvw", "uvu"]
IrrepNormalization = Literal["component", "norm", "none"]
PathNormalization = Literal["element", "path", "none"]


class Instruction(NamedTuple):
    """One coupling path, with its derived ``path_shape`` (weights) and normalisation ``path_weight``."""

    i_in1: int
    i_in2: int
    i_out: int
    mode: str
    has_weight: bool
    path_weight: float
    path_shape: tuple[int, ...]


def _path_shape(mode: str, mul1: int, mul2: int, mul_out: int) -> tuple[int, ...]:
    return (mul1, mul2, mul_out) if mode == "uvw" else (mul1, mul2)


def _validate(irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps, ins: tuple) -> None:
    if len(ins) not in (5, 6):
        raise ValueError(f"TensorProduct: instruction {ins!r} must be (i_in1, i_in2, i_out, mode, has_weight[, path_weight])")
    i1, i2, io, mode = ins[:4]
    for name, idx, irreps in (("i_in1", i1, irreps_in1), ("i_in2", i2, irreps_in2), ("i_out", io, irreps_out)):
        if not 0 <= idx < len(irreps):
            raise ValueError(f"TensorProduct: {name}={idx} out of range for {irreps}")
    (mul1, ir1), (_, ir2), (mul_out, ir_out) = irreps_in1[i1], irreps_in2[i2], irreps_out[io]
    if ir_out not in list(ir1 * ir2):
        raise ValueError(f"TensorProduct: {ir1} x {ir2} cannot produce {ir_out} (instruction {ins!r})")
    if mode not in ("uvw", "uvu"):
        raise ValueError(f"TensorProduct: mode {mode!r} not supported; use 'uvw' or 'uvu'")
    if mode == "uvu" and mul_out != mul1:
        raise ValueError(f"TensorProduct: 'uvu' needs mul_out == mul1, got {mul_out} and {mul1} in {ins!r}")
    if mode == "uvw" and not ins[4]:
        raise ValueError(f"TensorProduct: 'uvw' paths need weights (has_weight=True) in {ins!r}")


def _normalization(irreps_in1, irreps_in2, irreps_out, raw, irrep_normalization, path_normalization) -> list[float]:
    """e3nn's path normalisation (unit input/output variances)."""

    def num_elements(ins) -> int:
        return irreps_in1[ins[0]].mul * irreps_in2[ins[1]].mul if ins[3] == "uvw" else irreps_in2[ins[1]].mul

    out = []
    for ins in raw:
        ir1, ir2, ir_out = irreps_in1[ins[0]].ir, irreps_in2[ins[1]].ir, irreps_out[ins[2]].ir
        alpha = {"component": ir_out.dim, "norm": ir1.dim * ir2.dim, "none": 1}[irrep_normalization]
        same_out = [i for i in raw if i[2] == ins[2]]
        if path_normalization == "element":
            x = sum(num_elements(i) for i in same_out)
        elif path_normalization == "path":
            x = num_elements(ins) * len(same_out)
        else:
            x = 1
        if x > 0:
            alpha /= x
        alpha *= ins[5] if len(ins) == 6 else 1.0
        out.append(math.sqrt(alpha))
    return out


class TensorProduct(torch.nn.Module):
    """Clebsch-Gordan tensor product with e3nn's instructions, normalisation and weight layout.

    Parameters
    ----------
    irreps_in1, irreps_in2, irreps_out : Irreps or str
    instructions : sequence of tuples
        ``(i_in1, i_in2, i_out, mode, has_weight)`` or with a trailing ``path_weight`` multiplier.
    irrep_normalization : {'component', 'norm', 'none'}
    path_normalization : {'element', 'path', 'none'}
    shared_weights : bool
        One weight vector for the whole batch (``[weight_numel]``) or one per sample (``[..., weight_numel]``).
    internal_weights : bool, optional
        Hold the shared weights as a parameter (default: ``shared_weights``), initialised ``N(0, 1)``.
    """

    def __init__(
        self,
        irreps_in1: Irreps | str,
        irreps_in2: Irreps | str,
        irreps_out: Irreps | str,
        instructions: Sequence[tuple],
        irrep_normalization: IrrepNormalization = "component",
        path_normalization: PathNormalization = "element",
        shared_weights: bool = True,
        internal_weights: bool | None = None,
    ) -> None:
        super().__init__()
        self.irreps_in1, self.irreps_in2, self.irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
        if irrep_normalization not in ("component", "norm", "none"):
            raise ValueError(f"TensorProduct: unknown irrep_normalization {irrep_normalization!r}")
        if path_normalization not in ("element", "path", "none"):
            raise ValueError(f"TensorProduct: unknown path_normalization {path_normalization!r}")
        internal_weights = shared_weights if internal_weights is None else internal_weights
        if internal_weights and not shared_weights:
            raise ValueError("TensorProduct: internal weights must be shared")
        raw = [tuple(i) for i in instructions]
        for ins in raw:
            _validate(self.irreps_in1, self.irreps_in2, self.irreps_out, ins)
        coeffs = _normalization(self.irreps_in1, self.irreps_in2, self.irreps_out, raw, irrep_normalization, path_normalization)
        self.instructions = [
            Instruction(
                i[0], i[1], i[2], i[3], bool(i[4]), c,
                _path_shape(i[3], self.irreps_in1[i[0]].mul, self.irreps_in2[i[1]].mul, self.irreps_out[i[2]].mul),
            )
            for i, c in zip(raw, coeffs)
        ]
        self.shared_weights = shared_weights
        self.weight_numel = sum(math.prod(i.path_shape) for i in self.instructions if i.has_weight)
        self._build_groups()
        # small convolution-shaped products: one contraction with a hand-written backward
        self._small = SmallChannelwiseProduct.build(self.irreps_in1, self.irreps_in2, self.irreps_out, self.instructions)
        if internal_weights:
            self.weight = torch.nn.Parameter(torch.randn(self.weight_numel))
        else:
            self.register_parameter("weight", None)

    def _build_groups(self) -> None:
        """Group paths by the input pair; one pre-scaled CG tensor ``[d1, d2, sum d_out]`` per group.

        Kept in float64 and cast on use, so float64 runs see exact coefficients.
        """
        groups: dict[tuple[int, int], list[int]] = {}
        for k, ins in enumerate(self.instructions):
            groups.setdefault((ins.i_in1, ins.i_in2), []).append(k)
        self._weight_sizes = [math.prod(i.path_shape) if i.has_weight else 0 for i in self.instructions]
        self._groups = []
        for g, ((i1, i2), members) in enumerate(groups.items()):
            l1, l2 = self.irreps_in1[i1].ir.l, self.irreps_in2[i2].ir.l
            blocks, paths = [], []
            for k in members:
                ins = self.instructions[k]
                l_out = self.irreps_out[ins.i_out].ir.l
                cg = wigner_3j(l1, l2, l_out, dtype=torch.float64) * ins.path_weight
                blocks.append(cg)
                paths.append((k, 2 * l_out + 1))
            self.register_buffer(f"_cg{g}", torch.cat(blocks, dim=2), persistent=False)
            self._groups.append((i1, i2, paths))

    def forward(self, x1: Tensor, x2: Tensor, weight: Tensor | None = None) -> Tensor:
        """Tensor product.

        Parameters
        ----------
        x1 : Tensor [..., irreps_in1.dim]
        x2 : Tensor [..., irreps_in2.dim]
            Leading dimensions broadcast against each other.
        weight : Tensor [weight_numel] (shared) or [..., weight_numel] (per sample), optional
            Required unless the module holds internal weights.

        Returns
        -------
        Tensor [..., irreps_out.dim]
        """
        if x1.shape[-1] != self.irreps_in1.dim or x2.shape[-1] != self.irreps_in2.dim:
            raise ValueError(
                f"TensorProduct: inputs have sizes {x1.shape[-1]}, {x2.shape[-1]}; expected "
                f"{self.irreps_in1.dim} ({self.irreps_in1}) and {self.irreps_in2.dim} ({self.irreps_in2})"
            )
        weight = self.weight if weight is None else weight
        if weight is None and self.weight_numel > 0:
            raise ValueError("TensorProduct: this product has no internal weights; pass weight=")
        batch = torch.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
        if weight is not None and weight.shape[-1] != self.weight_numel:
            raise ValueError(f"TensorProduct: weight has last size {weight.shape[-1]}, expected {self.weight_numel}")
        per_sample = weight is not None and not self.shared_weights
        if per_sample:
            batch = torch.broadcast_shapes(batch, weight.shape[:-1])
            weight = weight.expand(*batch, self.weight_numel).reshape(-1, self.weight_numel)
        elif weight is not None and weight.dim() != 1:
            raise ValueError(f"TensorProduct: shared weights must have shape [{self.weight_numel}], got {tuple(weight.shape)}")
        x1 = x1.expand(*batch, x1.shape[-1]).reshape(-1, x1.shape[-1])
        x2 = x2.expand(*batch, x2.shape[-1]).reshape(-1, x2.shape[-1])
        z = x1.shape[0]
        if self._small is not None:
            return self._small(x1, x2, weight).reshape(*batch, self.irreps_out.dim)
        out: list[Tensor | None] = [None] * len(self.irreps_out)
        # split (not slice): the backward of one split is one cat, of many slices many zero-filled copies
        # contiguous [z, mul, d] blocks, once per entry: a batch stride other than the matrix size
        # sends bmm (and its backward) to a per-sample loop
        xs1 = [t.reshape(z, m.mul, m.ir.dim).contiguous() for t, m in zip(x1.split([m.dim for m in self.irreps_in1], dim=1), self.irreps_in1)]
        xs2 = [t.reshape(z, m.mul, m.ir.dim).contiguous() for t, m in zip(x2.split([m.dim for m in self.irreps_in2], dim=1), self.irreps_in2)]
        ws = weight.split(self._weight_sizes, dim=-1) if weight is not None else [None] * len(self.instructions)
        for g, (i1, i2, paths) in enumerate(self._groups):
            cg = getattr(self, f"_cg{g}").to(x1.dtype)
            y = _bilinear(xs1[i1], xs2[i2], cg)
            for (k, _), yk in zip(paths, y.split([dk for _, dk in paths], dim=-1)):
                ins = self.instructions[k]
                res = _apply_weights(yk, ws[k] if ins.has_weight else None, ins, per_sample)
                out[ins.i_out] = res if out[ins.i_out] is None else out[ins.i_out] + res
        parts = [
            x1.new_zeros(z, mul_ir.dim) if o is None else o.reshape(z, mul_ir.dim)
            for o, mul_ir in zip(out, self.irreps_out)
        ]
        result = torch.cat(parts, dim=1) if parts else x1.new_zeros(z, 0)
        return result.reshape(*batch, self.irreps_out.dim)

    def extra_repr(self) -> str:
        return f"{self.irreps_in1} x {self.irreps_in2} -> {self.irreps_out}, {len(self.instructions)} paths, weight_numel={self.weight_numel}"


def _bilinear(a: Tensor, b: Tensor, cg: Tensor) -> Tensor:
    """``y[z, u, v, k] = sum_ij cg[i, j, k] a[z, u, i] b[z, v, j]`` for ``a [z, mul1, d1]``, ``b [z, mul2, d2]``.

    The input with fewer channels is contracted with the CG tensor first (one GEMM shared by all
    channels of the other), then a batched matmul over the remaining index: cost
    ``min(mul1, mul2) d1 d2 K + mul1 mul2 d K`` instead of ``mul1 mul2 d1 d2 K`` for the outer product.
    """
    z, mul1, d1 = a.shape
    mul2, d2, k = b.shape[1], b.shape[2], cg.shape[2]
    if mul2 <= mul1:
        m = (b.reshape(z * mul2, d2) @ cg.permute(1, 0, 2).reshape(d2, d1 * k)).reshape(z, mul2, d1, k)
        y = a @ m.permute(0, 2, 1, 3).reshape(z, d1, mul2 * k)
        return y.reshape(z, mul1, mul2, k)
    m = (a.reshape(z * mul1, d1) @ cg.reshape(d1, d2 * k)).reshape(z, mul1, d2, k)
    y = b @ m.permute(0, 2, 1, 3).reshape(z, d2, mul1 * k)
    return y.reshape(z, mul2, mul1, k).transpose(1, 2)


def _apply_weights(y: Tensor, w: Tensor | None, ins: Instruction, per_sample: bool) -> Tensor:
    """Contract ``y [z, mul1, mul2, d_out]`` with one path's weights -> ``[z, mul_out, d_out]``."""
    if ins.mode == "uvu":
        if w is None:
            return y.sum(2)
        w = w.reshape(-1, *ins.path_shape) if per_sample else w.reshape(ins.path_shape)
        if ins.path_shape[1] == 1:
            return y[:, :, 0] * w[..., 0, None]
        return torch.einsum("zuvk,zuv->zuk" if per_sample else "zuvk,uv->zuk", y, w)
    mul1, mul2, mul_out = ins.path_shape
    if per_sample:
        return torch.einsum("zuvk,zuvw->zwk", y, w.reshape(-1, mul1, mul2, mul_out))
    z, dk = y.shape[0], y.shape[-1]
    flat = y.reshape(z, mul1 * mul2, dk).transpose(1, 2) @ w.reshape(mul1 * mul2, mul_out)
    return flat.transpose(1, 2)


def channelwise_instructions(irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps) -> list[tuple]:
    """Every allowed ``'uvu'`` path (weighted) from ``irreps_in1 x irreps_in2`` into ``irreps_out`` entries with ``mul == mul1``."""
    irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    return [
        (i1, i2, io, "uvu", True)
        for i1, (mul1, ir1) in enumerate(irreps_in1)
        for i2, (_, ir2) in enumerate(irreps_in2)
        for io, (mul_out, ir_out) in enumerate(irreps_out)
        if mul_out == mul1 and ir_out in list(ir1 * ir2)
    ]


class CGConvolution(torch.nn.Module):
    """Edge convolution ``x_j (x) Y(r_ij)`` with per-edge, per-path channel-wise weights (NequIP/MACE style).

    Every allowed ``'uvu'`` path ``(l_in, l_filter) -> l_out`` into an ``irreps_out`` entry with the
    input's multiplicity is used, with e3nn's 'component'/'element' normalisation; paths into the same
    output entry are summed.

    Parameters
    ----------
    irreps_in : Irreps or str
        Features being convolved (typically the neighbour's node features gathered on the edges).
    irreps_out : Irreps or str
    lmax_filter : int
        Degree of the spherical-harmonics filter ``Y^0..Y^lmax_filter`` (parity ``(-1)^l``).
    """

    def __init__(self, irreps_in: Irreps | str, irreps_out: Irreps | str, lmax_filter: int) -> None:
        super().__init__()
        if lmax_filter < 0:
            raise ValueError(f"CGConvolution: lmax_filter must be >= 0, got {lmax_filter}")
        self.irreps_in, self.irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        self.irreps_filter = Irreps.spherical_harmonics(lmax_filter)
        instructions = channelwise_instructions(self.irreps_in, self.irreps_filter, self.irreps_out)
        if not instructions:
            raise ValueError(f"CGConvolution: no path from {self.irreps_in} x {self.irreps_filter} to {self.irreps_out}")
        self.tp = TensorProduct(
            self.irreps_in, self.irreps_filter, self.irreps_out, instructions, shared_weights=False, internal_weights=False
        )
        self.weight_numel = self.tp.weight_numel

    def forward(self, x: Tensor, edge_vec: Tensor, weights: Tensor) -> Tensor:
        """Convolve.

        Parameters
        ----------
        x : Tensor [num_edges, irreps_in.dim]
        edge_vec : Tensor [num_edges, 3]
            ``r_ij = pos[j] - pos[i] + shift``; only its direction is used (zero vectors give ``Y^0`` only).
        weights : Tensor [num_edges, weight_numel]
            Radial weights, e.g. an MLP of the edge length; layout of :class:`TensorProduct`.

        Returns
        -------
        Tensor [num_edges, irreps_out.dim]
        """
        return self.tp(x, spherical_harmonics(self.irreps_filter, edge_vec), weights)
