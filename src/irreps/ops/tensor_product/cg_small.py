"""Small channel-wise Clebsch-Gordan products as one batched contraction with a hand-written backward.

The case: every path ``'uvu'`` and weighted with per-sample (or shared) weights, the first input and
the output one multiplicity ``C`` throughout, the second input multiplicity 1 (the convolution
``x_j (x) Y(r_ij)``), and the combined CG tensor small. For each sample ``z``::

    out[z, k, u] = sum_r M[z, k, r] xw[z, r, u],   M = x2 @ CG,   xw[z, (e, n, i), u] = w[z, p(e, n), u] x1[z, e, u, i]

with rows ``r = (e, n, i)``: the input entry ``e``, its ``n``-th path and a component ``i`` of ``e``;
``k`` runs over the components of all output entries, so paths into one entry sum in the contraction.

At these sizes fresh memory (page faults on every new multi-megabyte buffer) and the number of
passes over the data, not arithmetic, dominate. So the forward builds ``xw`` with one broadcast
product per input entry (channels innermost, no gather of the weights), and the backward is written
out (:class:`_Contraction`): one gather of the output gradient, one batched matmul written over the
forward's ``xw`` buffer, and multiply-add chains straight into the weight and input gradients.
Autograd's own backward of the same forward needs three scatter-adds and several fresh full-size
buffers. With ``create_graph`` (forces training differentiates through the gradient) the backward
re-runs a differentiable formulation (:meth:`SmallChannelwiseProduct.reference`) and differentiates
it, so higher derivatives stay exact.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from irreps.capture import composed
from irreps.o3 import Irreps, wigner_3j

MAX_ELEMENTS = 1 << 14  # combined-CG size [dim2, D, R] above which the general path is faster


class SmallChannelwiseProduct(torch.nn.Module):
    """``x1 (x) x2 -> out`` for small channel-wise products; see the module docstring for when it applies.

    Build it with :meth:`build`, which returns ``None`` when the product is not of this shape.
    The CG buffer is float64, cast on use.

    Parameters
    ----------
    irreps_in1, irreps_in2, irreps_out : Irreps
    paths : sequence of ``(i_in1, i_in2, i_out, path_weight)``
        In weight order: path ``k`` owns weights ``[k C, (k + 1) C)``.
    """

    def __init__(self, irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps, paths: Sequence[tuple]) -> None:
        super().__init__()
        c = irreps_in1[0].mul
        self.mul, self.num_paths = c, len(paths)
        self.dim_in1, self.dim_out = irreps_in1.dim // c, irreps_out.dim // c  # components per channel
        comp1, comp_out = _starts([m.ir.dim for m in irreps_in1]), _starts([m.ir.dim for m in irreps_out])
        # rows grouped by input entry; within an entry, paths in weight order
        order = sorted(range(len(paths)), key=lambda k: (paths[k][0], k))
        self.reordered = order != list(range(len(paths)))
        self.blocks: list[tuple[int, int, int, int, int]] = []  # (row start, n paths, d, x1t start, path start)
        row, pos = 0, 0
        for e, mul_ir in enumerate(irreps_in1):
            n = sum(1 for p in paths if p[0] == e)
            if n:
                self.blocks.append((row, n, mul_ir.ir.dim, comp1[e], pos))
                row, pos = row + n * mul_ir.ir.dim, pos + n
        self.rows, self.covers_in1 = row, len(self.blocks) == len(irreps_in1)
        cg = torch.zeros(irreps_in2.dim, self.dim_out, row, dtype=torch.float64)
        off2, r = irreps_in2.slices(), 0
        for k in order:
            i1, i2, io, path_weight = paths[k]
            l1, l2, lo = irreps_in1[i1].ir.l, irreps_in2[i2].ir.l, irreps_out[io].ir.l
            block = wigner_3j(l1, l2, lo, dtype=torch.float64) * path_weight  # [d1, d2, d_out]
            cg[off2[i2], comp_out[io] : comp_out[io + 1], r : r + 2 * l1 + 1] = block.permute(1, 2, 0)
            r += 2 * l1 + 1
        u = torch.arange(c)
        # x1 [.., (e, u, i)] <-> x1t [.., (j, u)] with j = (e, i) running over the components of a channel
        perm1 = torch.cat([
            (off.start + u[None, :] * m.ir.dim + torch.arange(m.ir.dim)[:, None]).reshape(-1)
            for off, m in zip(irreps_in1.slices(), irreps_in1)
        ])
        # contraction result [.., (k, u)] <-> output [.., (entry, u, i)]
        perm_out = torch.cat([
            ((comp_out[o] + torch.arange(m.ir.dim)[None, :]) * c + u[:, None]).reshape(-1) for o, m in enumerate(irreps_out)
        ])
        self.register_buffer("cg", cg.reshape(irreps_in2.dim, -1), persistent=False)
        self.register_buffer("perm_in1", perm1, persistent=False)
        self.register_buffer("inv_perm_in1", torch.argsort(perm1), persistent=False)
        self.register_buffer("perm_out", perm_out, persistent=False)
        self.register_buffer("inv_perm_out", torch.argsort(perm_out), persistent=False)
        order_t = torch.tensor(order, dtype=torch.int64)
        self.register_buffer("order", order_t, persistent=False)
        self.register_buffer("inv_order", torch.argsort(order_t), persistent=False)

    @classmethod
    def build(cls, irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps, instructions) -> "SmallChannelwiseProduct | None":
        """The fast path for ``instructions`` (:class:`~irreps.ops.tensor_product.cg.Instruction`), or ``None``."""
        muls = {m.mul for m in irreps_in1} | {m.mul for m in irreps_out}
        if (
            not instructions or len(muls) != 1 or any(m.mul != 1 for m in irreps_in2)
            or any(i.mode != "uvu" or not i.has_weight for i in instructions)
        ):
            return None
        rows = sum(irreps_in1[i.i_in1].ir.dim for i in instructions)
        if irreps_in2.dim * rows * (irreps_out.dim // irreps_out[0].mul) > MAX_ELEMENTS:
            return None
        return cls(irreps_in1, irreps_in2, irreps_out, [(i.i_in1, i.i_in2, i.i_out, i.path_weight) for i in instructions])

    def forward(self, x1: Tensor, x2: Tensor, weight: Tensor) -> Tensor:
        """``x1 [Z, dim1]``, ``x2 [Z, dim2]``, ``weight [Z, P C]`` or shared ``[P C]`` -> ``[Z, dim_out]``."""
        weight = weight.expand(x1.shape[0], weight.shape[-1])
        if composed():  # a tracer records plain ops (it cannot record an autograd function taking a module)
            return self.reference(x1, x2, weight)
        return _Contraction.apply(x1, x2, weight, self)

    def _weights(self, weight: Tensor) -> Tensor:
        """``[Z, P C]`` -> ``[Z, P, C]`` in row order (paths grouped by input entry)."""
        w = weight.reshape(weight.shape[0], self.num_paths, self.mul)
        return w.index_select(1, self.order) if self.reordered else w

    def _m(self, x2: Tensor) -> Tensor:
        return (x2 @ self.cg.to(x2.dtype)).view(x2.shape[0], self.dim_out, self.rows)

    def reference(self, x1: Tensor, x2: Tensor, weight: Tensor) -> Tensor:
        """The same product from differentiable operations only (for double backward and tests)."""
        z, c = x1.shape[0], self.mul
        x1t = x1.index_select(1, self.perm_in1).view(z, self.dim_in1, c)
        w = self._weights(weight)
        xw = torch.cat([
            (x1t[:, None, j : j + d] * w[:, p : p + n, None]).reshape(z, n * d, c) for _, n, d, j, p in self.blocks
        ], dim=1)
        y = torch.bmm(self._m(x2), xw)
        return y.view(z, self.dim_out * c).index_select(1, self.perm_out)

    def extra_repr(self) -> str:
        return f"{self.num_paths} paths, {self.rows} rows x {self.dim_out} output components, {self.mul} channels"


def _starts(sizes: Sequence[int]) -> list[int]:
    out = [0]
    for s in sizes:
        out.append(out[-1] + s)
    return out


class _Contraction(torch.autograd.Function):
    """Forward and first derivative of :class:`SmallChannelwiseProduct` with few, reused buffers."""

    @staticmethod
    def forward(ctx, x1: Tensor, x2: Tensor, weight: Tensor, mod: SmallChannelwiseProduct) -> Tensor:
        z, c = x1.shape[0], mod.mul
        x1t = x1.index_select(1, mod.perm_in1).view(z, mod.dim_in1, c)  # channels innermost: fast broadcasts
        w = mod._weights(weight)
        xw = x1.new_empty(z, mod.rows, c)
        for r, n, d, j, p in mod.blocks:
            torch.mul(x1t[:, None, j : j + d], w[:, p : p + n, None], out=xw[:, r : r + n * d].view(z, n, d, c))
        m = mod._m(x2)
        y = torch.bmm(m, xw)
        out = y.view(z, mod.dim_out * c).index_select(1, mod.perm_out)
        ctx.mod = mod
        ctx.save_for_backward(x1, x2, weight, x1t, w, m)
        # kept outside the saved tensors: they are the backward's scratch space, overwritten there (their
        # pages are already mapped; a fresh buffer this size costs more in page faults than the matmul
        # that fills it); xw also feeds the x2 gradient
        if any(ctx.needs_input_grad[:3]):
            ctx.xw, ctx.y = xw, y
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        mod = ctx.mod
        x1, x2, weight, x1t, w, m = ctx.saved_tensors
        need1, need2, need_w = ctx.needs_input_grad[:3]
        if torch.is_grad_enabled():  # create_graph: differentiate a recorded re-run, so higher derivatives exist
            inputs = [t for t, need in zip((x1, x2, weight), (need1, need2, need_w)) if need]
            with torch.enable_grad():
                grads = iter(torch.autograd.grad(mod.reference(x1, x2, weight), inputs, grad, create_graph=True))
            return next(grads) if need1 else None, next(grads) if need2 else None, next(grads) if need_w else None, None
        z, c, xw = grad.shape[0], mod.mul, ctx.xw
        gy = torch.index_select(grad, 1, mod.inv_perm_out, out=ctx.y.view(z, mod.dim_out * c)).view(z, mod.dim_out, c)
        g1 = g2 = gw = None
        if need2:
            gm = torch.bmm(gy, xw.transpose(1, 2))  # [Z, D, R]
            g2 = gm.view(z, gm.shape[1] * gm.shape[2]) @ mod.cg.to(gm.dtype).T
        if need1 or need_w:
            # d out / d xw [Z, R, C], written over xw unless the x2 gradient needs it (again, on a retained graph)
            t = torch.bmm(m.transpose(1, 2), gy) if need2 else torch.bmm(m.transpose(1, 2), gy, out=xw)
            if need_w:  # gw[z, (e, n), u] = sum_i t[z, (e, n, i), u] x1t[z, (e, i), u]
                gw = grad.new_empty(z, mod.num_paths, c)
                for r, n, d, j, p in mod.blocks:
                    te, out_w = t[:, r : r + n * d].view(z, n, d, c), gw[:, p : p + n]
                    torch.mul(te[:, :, 0], x1t[:, None, j], out=out_w)
                    for i in range(1, d):
                        out_w.addcmul_(te[:, :, i], x1t[:, None, j + i])
                if mod.reordered:
                    gw = gw.index_select(1, mod.inv_order)
                gw = gw.view(z, mod.num_paths * c)
            if need1:  # g1t[z, (e, i), u] = sum_n t[z, (e, n, i), u] w[z, (e, n), u]
                g1t = (grad.new_empty if mod.covers_in1 else grad.new_zeros)(z, mod.dim_in1, c)
                for r, n, d, j, p in mod.blocks:
                    te, out_1 = t[:, r : r + n * d].view(z, n, d, c), g1t[:, j : j + d]
                    torch.mul(te[:, 0], w[:, p, None], out=out_1)
                    for k in range(1, n):
                        out_1.addcmul_(te[:, k], w[:, p + k, None])
                g1 = g1t.view(z, mod.dim_in1 * c).index_select(1, mod.inv_perm_in1)
        return g1, g2, gw, None
