"""`EquivariantLinear`: the G-equivariant linear layer (R^n)^{⊗k} -> (R^n)^{⊗l}, channels in and out."""

from __future__ import annotations

import math

import torch

from .basis import BasisKind, HomBasis, hom_basis
from .dense import basis_matrices
from .fast import DiagramOperator, diagram_weights


def _input_only_blocks(definition, l: int) -> int:
    labels = definition[1] if definition[0] == "orbit" else definition[1].labels
    return len(set(labels[l:]) - set(labels[:l]))


class EquivariantLinear(torch.nn.Module):
    """Every G-equivariant linear map between tensor powers, one coefficient per basis element.

    ``y[b, o] = sum_e sum_i lambda[e, o, i] s_e B_e x[b, i] + bias[o]`` where ``B_e`` runs over
    `hom_basis(group, n, k, l, basis)`, ``s_e = n^-(blocks of B_e touching only the input)``
    keeps sums over n from growing with n, and the bias is a combination of the k = 0 basis
    (the G-invariant tensors of order l). The forward pass uses the fast diagram algorithm
    (`fast.DiagramOperator`); `forward_dense` multiplies by the dense weight for testing.

    Parameters
    ----------
    group : {"S", "A", "O", "SO", "Sp"}
    n : int
        Size of each tensor axis (even for Sp).
    k, l : int
        Input and output tensor orders.
    channels_in, channels_out : int
    bias : bool
        Add a learned invariant bias (from Hom_G(R, (R^n)^{⊗l})).
    basis : {"diagram", "orbit", "spanning_set"}
        Which `hom_basis` parametrises the layer.
    dtype : torch.dtype, optional
        Parameter dtype (float32 by default).

    Shapes
    ------
    input ``[batch, channels_in] + [n] * k``, output ``[batch, channels_out] + [n] * l``.
    """

    def __init__(self, group: str, n: int, k: int, l: int, channels_in: int, channels_out: int,
                 bias: bool = True, basis: BasisKind = "diagram", dtype: torch.dtype | None = None):
        super().__init__()
        if channels_in < 1 or channels_out < 1:
            raise ValueError(f"channel counts must be positive, got {channels_in}, {channels_out}")
        self.group, self.n, self.k, self.l = group, n, k, l
        self.channels_in, self.channels_out = channels_in, channels_out
        self.basis = hom_basis(group, n, k, l, basis)
        self.operator = DiagramOperator(self.basis.terms, n, k, l)
        self.register_buffer("coefficients", self._scaled(self.basis), persistent=False)
        dtype = dtype or torch.get_default_dtype()
        std = 1.0 / math.sqrt(channels_in * max(len(self.basis), 1))
        self.weight = torch.nn.Parameter(torch.randn(len(self.basis), channels_out, channels_in, dtype=dtype) * std)
        if bias:
            self.bias_basis = hom_basis(group, n, 0, l, basis)
            self.bias_operator = DiagramOperator(self.bias_basis.terms, n, 0, l)
            self.register_buffer("bias_coefficients", self._scaled(self.bias_basis), persistent=False)
            self.bias = torch.nn.Parameter(torch.zeros(len(self.bias_basis), channels_out, 1, dtype=dtype))
        else:
            self.bias_basis = None
            self.register_parameter("bias", None)

    def _element_scales(self, basis: HomBasis) -> torch.Tensor:
        """``s_e`` of each basis element, ``[num_basis]`` float64."""
        return torch.tensor([float(self.n) ** -_input_only_blocks(d, basis.l) for d in basis.definitions],
                            dtype=torch.float64)

    def _scaled(self, basis: HomBasis) -> torch.Tensor:
        return torch.from_numpy(basis.coefficients) * self._element_scales(basis)[:, None]

    def _check(self, x: torch.Tensor) -> None:
        expected = (self.channels_in,) + (self.n,) * self.k
        if x.dim() != 2 + self.k or tuple(x.shape[1:]) != expected:
            raise ValueError(f"expected input [batch, {', '.join(map(str, expected))}], got {list(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        y = self.operator(x, diagram_weights(self.coefficients, self.weight).to(x.dtype))
        if self.bias is not None:
            ones = x.new_ones(1, 1)
            bias_weight = diagram_weights(self.bias_coefficients, self.bias).to(x.dtype)
            y = y + self.bias_operator(ones, bias_weight)
        return y

    def dense_weight(self) -> torch.Tensor:
        """``[channels_out * n^l, channels_in * n^k]``: the full matrix (small n only)."""
        mats = torch.from_numpy(basis_matrices(self.basis)).to(self.weight)
        mats = mats * self._element_scales(self.basis).to(mats)[:, None, None]
        w = torch.einsum("eoi,epq->opiq", self.weight, mats)
        return w.reshape(self.channels_out * self.n**self.l, self.channels_in * self.n**self.k)

    def dense_bias(self) -> torch.Tensor:
        """``[channels_out * n^l]`` (zeros without bias)."""
        if self.bias is None:
            return self.weight.new_zeros(self.channels_out * self.n**self.l)
        mats = torch.from_numpy(basis_matrices(self.bias_basis)).to(self.bias)[..., 0]
        mats = mats * self._element_scales(self.bias_basis).to(mats)[:, None]
        return torch.einsum("eo,ep->op", self.bias[..., 0], mats).reshape(-1)

    def forward_dense(self, x: torch.Tensor, weight: torch.Tensor | None = None,
                      bias: torch.Tensor | None = None) -> torch.Tensor:
        """The same map as `forward` by a dense matvec (pass precomputed `dense_weight` and
        `dense_bias` to time the matvec alone)."""
        self._check(x)
        weight = self.dense_weight() if weight is None else weight
        bias = self.dense_bias() if bias is None else bias
        y = x.reshape(x.shape[0], -1) @ weight.T + bias.to(x.dtype)
        return y.reshape((x.shape[0], self.channels_out) + (self.n,) * self.l)
