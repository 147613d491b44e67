"""SO(2) convolution (eSCN, Passaro & Zitnick 2023): the SH-filter convolution done in edge frames.

For an edge ``r_ij``, rotate the features into the frame where ``r_ij`` points along the polar
axis ``+y`` (``R = rotation_to_polar_axis(r_ij)``, ``x' = D(R) x``). There ``Y^l(r_ij)`` is non-zero
only at ``m = 0`` and every equivariant kernel ``l_in -> l_out`` commutes with rotations about ``y``
("m" counts rotations about ``y``): for each ``m > 0`` it acts on the pair ``(x'_{+m}, x'_{-m})`` as

    y'_{+m} = a x'_{+m} - b x'_{-m},   y'_{-m} = b x'_{+m} + a x'_{-m},

and for ``m = 0`` as a plain scalar ``a``; the output is rotated back, ``y = D(R)^T y'``.
Parity (the reflections that fix ``y``) keeps exactly one of ``a`` (*symmetric* pairs: both irreps
"natural", parity ``(-1)^l``, or both pseudo) or ``b`` (*antisymmetric* pairs: one natural, one
pseudo; these have no ``m = 0`` term). Per channel and edge a pair ``l_in -> l_out`` thus has one
weight for each ``m <= min(l_in, l_out, m_max)`` — exactly as many as CG paths through filters
of degree up to ``l_in + l_out``, and :meth:`SO2Convolution.weights_from_cg` maps CG weights to
these so both engines agree. ``m_max < lmax`` truncates (eSCN's cheaper variant, still equivariant).

Cost per edge and channel: the Wigner-D rotations (``O(L^3)``, shared by the channels) and one
batched matmul over all ``m`` at once, ``O(L^3)``, versus ``O(L^6)`` for the CG product.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from irreps.capture import composed
from irreps.o3 import Irreps, rotation_to_polar_axis, wigner_3j, wigner_D_stack
from irreps.ops.tensor_product.cg import CGConvolution
from irreps.ops.tensor_product.checks import check_edge_inputs

_BLOCK_ELEMENTS = 1 << 22


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward makes the gradient contiguous.

    Batched matmuls whose output is later transposed would otherwise receive gradients with
    strides that BLAS cannot batch, and fall back to one small product per edge.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.contiguous()


def _natural(ir) -> bool:
    return ir.p == (-1) ** ir.l


def _check_uniform(name: str, irreps: Irreps) -> int:
    muls = {mul for mul, _ in irreps}
    if len(muls) != 1 or len({ir for _, ir in irreps}) != len(irreps):
        raise ValueError(f"SO2Convolution: {name} must list distinct irreps with one common multiplicity, got {irreps}")
    return muls.pop()


class SO2Convolution(torch.nn.Module):
    """eSCN edge convolution with per-edge, per-channel SO(2) weights (channel-wise, like CG 'uvu').

    Parameters
    ----------
    irreps_in, irreps_out : Irreps or str
        Distinct irreps sharing one multiplicity (the channels), e.g. ``"16x0e+16x1o+16x2e"``.
    m_max : int, optional
        Largest ``|m|`` kept in the edge frame (default: all, which equals the CG convolution).

    Weight layout: ``weights[e].view(num_params, channels)`` (like the CG paths); parameter ``k`` is
    the ``a`` or ``b`` of ``params[k] = (m, i_out, i_in, antisymmetric)``.
    """

    def __init__(self, irreps_in: Irreps | str, irreps_out: Irreps | str, m_max: int | None = None) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        self.channels = _check_uniform("irreps_in", self.irreps_in)
        if _check_uniform("irreps_out", self.irreps_out) != self.channels:
            raise ValueError(f"SO2Convolution: irreps_in {self.irreps_in} and irreps_out {self.irreps_out} differ in channels")
        self.lmax = max(self.irreps_in.lmax, self.irreps_out.lmax)
        self.m_max = self.lmax if m_max is None else m_max
        if not 0 <= self.m_max:
            raise ValueError(f"SO2Convolution: m_max must be >= 0, got {m_max}")
        m1 = self.m_max + 1
        # params: (m, i_out, i_in, antisymmetric)
        self.params = [
            (m, o, i, _natural(ir_i) != _natural(ir_o))
            for m in range(m1)
            for o, (_, ir_o) in enumerate(self.irreps_out)
            for i, (_, ir_i) in enumerate(self.irreps_in)
            if m <= min(ir_i.l, ir_o.l) and not (m == 0 and _natural(ir_i) != _natural(ir_o))
        ]
        if not self.params:
            raise ValueError(f"SO2Convolution: no equivariant map from {self.irreps_in} to {self.irreps_out}")
        self.num_params = len(self.params)
        self.weight_numel = self.channels * self.num_params
        self._build_terms()

    def _build_terms(self) -> None:
        """Index maps of the per-``m`` block products done by :meth:`_block`.

        In the edge frame the kernel at one ``m`` maps the input pairs ``(x'_{+m}, x'_{-m})`` of the
        input irreps with ``l >= m`` to the output pairs. For consecutive outputs of one parity kind
        (natural or pseudo), each input enters either as its pair (symmetric weights ``a``) or as
        its quarter turn ``(-x'_{-m}, x'_{+m})`` (antisymmetric ``b``), the same for all of them:
        their weights are one contiguous, dense ``[outputs, inputs]`` block of the parameter list
        (ordered ``m, output, input``), applied per edge and channel to an ``[inputs, 2]`` matrix
        of pairs (``[inputs, 1]`` at ``m = 0``, which has symmetric pairs only). Component indices
        count per channel, over the kept rows (``|m| <= m_max``) of the rotated input and output.
        """
        ins, outs = list(self.irreps_in), list(self.irreps_out)
        # only the rows |m| <= m_max of each irrep are rotated into and out of the edge frame
        self._kept_in = [min(ir.l, self.m_max) for _, ir in ins]
        self._kept_out = [min(ir.l, self.m_max) for _, ir in outs]
        centre_in = [sum(2 * k + 1 for k in self._kept_in[:i]) + k for i, k in enumerate(self._kept_in)]
        centre_out = [sum(2 * k + 1 for k in self._kept_out[:o]) + k for o, k in enumerate(self._kept_out)]
        v_index, v_sign, y_index, blocks = [], [], [], []
        for m in range(self.m_max + 1):
            o_set = [o for o, (_, ir) in enumerate(outs) if ir.l >= m]
            runs = [[o_set[0]]] if o_set else []
            for o in o_set[1:]:
                if _natural(outs[o][1]) == _natural(outs[runs[-1][0]][1]):
                    runs[-1].append(o)
                else:
                    runs.append([o])
            for run in runs:
                natural = _natural(outs[run[0]][1])
                i_set = [i for i, (_, ir) in enumerate(ins) if ir.l >= m and (m > 0 or _natural(ir) == natural)]
                if not i_set:
                    continue
                blocks.append((len(run), len(i_set), 1 if m == 0 else 2))
                for i in i_set:
                    c = centre_in[i]
                    if m == 0:
                        v_index.append(c)
                        v_sign.append(1.0)
                    elif _natural(ins[i][1]) == natural:  # symmetric: (x'_{+m}, x'_{-m})
                        v_index += [c + m, c - m]
                        v_sign += [1.0, 1.0]
                    else:  # antisymmetric: the quarter turn (-x'_{-m}, x'_{+m})
                        v_index += [c - m, c + m]
                        v_sign += [-1.0, 1.0]
                for o in run:
                    y_index += [centre_out[o]] if m == 0 else [centre_out[o] + m, centre_out[o] - m]
        if sum(n_o * n_i for n_o, n_i, _ in blocks) != self.num_params:
            raise AssertionError("SO2Convolution: the blocks do not cover the parameter list")
        # edge-frame output component j <- row y_source[j] of the block products (the last: zero)
        y_source = [len(y_index)] * sum(2 * k + 1 for k in self._kept_out)
        for row, j in enumerate(y_index):
            y_source[j] = row
        self._blocks = blocks  # (outputs, inputs, pair width), in parameter order
        self.register_buffer("_v_index", torch.tensor(v_index), persistent=False)
        self.register_buffer("_v_sign", torch.tensor(v_sign, dtype=torch.float64)[:, None], persistent=False)
        self.register_buffer("_y_source", torch.tensor(y_source), persistent=False)

    def forward(self, x: Tensor, edge_vec: Tensor, weights: Tensor) -> Tensor:
        """Convolve.

        Parameters
        ----------
        x : Tensor [num_edges, irreps_in.dim]
        edge_vec : Tensor [num_edges, 3]
            ``r_ij = pos[j] - pos[i] + shift``; only its direction matters. A zero vector uses the
            identity frame (the kernel's value at ``+y``).
        weights : Tensor [num_edges, weight_numel]

        Returns
        -------
        Tensor [num_edges, irreps_out.dim]
        """
        check_edge_inputs("SO2Convolution", x, edge_vec, weights, self.irreps_in.dim, self.weight_numel)
        # Edge blocks keep the [outputs, inputs, 2, block * channels] products cache-sized (a few MB).
        # split, not slices: the backward of a slice is a full-size zero tensor per block
        if composed():  # a recorded graph takes every edge at once (a tracer would unroll the blocks for one size)
            return self._block(x, edge_vec, weights)
        block = max(1, _BLOCK_ELEMENTS // (2 * self.weight_numel))
        outs = [self._block(*args) for args in zip(x.split(block), edge_vec.split(block), weights.split(block))]
        return torch.cat(outs) if len(outs) != 1 else outs[0]

    def _block(self, x: Tensor, edge_vec: Tensor, weights: Tensor) -> Tensor:
        e, c = x.shape[0], self.channels
        D = wigner_D_stack(rotation_to_polar_axis(edge_vec), self.lmax)
        # component-major [component, edge * channel]: the block products below run on long rows
        rotated = [
            _ContiguousGrad.apply(D[ir.l][:, ir.l - k : ir.l + k + 1] @ xi.reshape(e, c, ir.dim).transpose(1, 2)).transpose(0, 1)
            for xi, (_, ir), k in zip(x.split([m.dim for m in self.irreps_in], dim=1), self.irreps_in, self._kept_in)
        ]
        rotated = torch.cat(rotated).reshape(sum(2 * k + 1 for k in self._kept_in), e * c)  # not -1: e may be 0
        v = rotated.index_select(0, self._v_index) * self._v_sign.to(x.dtype)
        w = weights.reshape(e, self.num_params, c).transpose(0, 1).reshape(self.num_params, e * c)
        y = [
            (wb.reshape(n_o, n_i, 1, e * c) * vb.reshape(1, n_i, s, e * c)).sum(1).reshape(n_o * s, e * c)
            for wb, vb, (n_o, n_i, s) in zip(
                w.split([n_o * n_i for n_o, n_i, _ in self._blocks]), v.split([n_i * s for _, n_i, s in self._blocks]), self._blocks
            )
        ]
        y = torch.cat(y + [x.new_zeros(1, e * c)]).index_select(0, self._y_source).reshape(len(self._y_source), e, c)
        out = [
            _ContiguousGrad.apply(D[ir.l][:, ir.l - k : ir.l + k + 1].transpose(1, 2) @ yo.transpose(0, 1)).transpose(1, 2).reshape(e, c * ir.dim)
            for yo, (_, ir), k in zip(y.split([2 * k + 1 for k in self._kept_out]), self.irreps_out, self._kept_out)
        ]
        return torch.cat(out, dim=1)

    def weights_from_cg(self, cg: CGConvolution, cg_weights: Tensor) -> Tensor:
        """SO(2) weights giving the same map as ``cg`` with ``cg_weights`` (needs ``m_max = lmax``).

        Parameters
        ----------
        cg : CGConvolution
            With the same ``irreps_in`` and ``irreps_out``.
        cg_weights : Tensor [..., cg.weight_numel]

        Returns
        -------
        Tensor [..., weight_numel]
        """
        if (cg.irreps_in, cg.irreps_out) != (self.irreps_in, self.irreps_out):
            raise ValueError("weights_from_cg: the CG convolution must have the same irreps_in and irreps_out")
        if self.m_max < self.lmax:
            raise ValueError("weights_from_cg: the CG convolution has all m; build this one with m_max = lmax")
        index = {(m, o, i): k for k, (m, o, i, _) in enumerate(self.params)}
        A = torch.zeros(self.num_params, len(cg.tp.instructions), dtype=torch.float64)
        for p, ins in enumerate(cg.tp.instructions):
            l1, l2 = self.irreps_in[ins.i_in1].ir.l, cg.irreps_filter[ins.i_in2].ir.l
            lo = self.irreps_out[ins.i_out].ir.l
            # kernel in the edge frame: Y^l2(+y) = sqrt(2 l2 + 1) at m = 0 only
            M = wigner_3j(l1, l2, lo, dtype=torch.float64)[:, l2, :].T * math.sqrt(2 * l2 + 1) * ins.path_weight
            for m in range(min(l1, lo) + 1):
                k = index.get((m, ins.i_out, ins.i_in1))
                if k is None:
                    continue
                anti = self.params[k][3]
                A[k, p] = M[lo - m, l1 + m] if anti else M[lo + m, l1 + m]
        cw = cg_weights.reshape(*cg_weights.shape[:-1], len(cg.tp.instructions), self.channels)
        out = torch.einsum("kp,...pu->...ku", A.to(cw.dtype), cw)
        return out.reshape(*cg_weights.shape[:-1], self.weight_numel)
