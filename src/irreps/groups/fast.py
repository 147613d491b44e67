"""Fast application of diagram maps: read generalised diagonals, mix channels, write diagonals.

For a diagram with labels on ``l + k`` points, ``y = D x`` is computed as

1. *read*: one ``torch.einsum`` over the input, with repeated letters for input points in
   one block (a generalised diagonal), letters absent from the result for blocks touching no
   output (summed), and the vertex tensors (epsilon, J) as extra operands. The result has one
   axis per block that touches both the input and the output.
2. *mix*: a channel matrix per diagram, on that small tensor.
3. *write*: added into a strided view of the output in which the output points of one block
   share one axis (a generalised diagonal), blocks without input points broadcast.

Diagrams with the same read share it, and results with the same write pattern are summed before
one write, so the cost is a few passes over tensors of size ``n^(blocks)``, never ``n^(l+k)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .dense import vertex_tensor
from .diagrams import Diagram

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class _Read:
    equation: str
    tensor_names: tuple[str, ...]


@dataclass(frozen=True)
class _Write:
    out_labels: tuple[int, ...]  # canonical label of each output point
    fed: tuple[int, ...]  # output blocks (labels) fed by the read, in result-axis order


def _plan(diagram: Diagram, k: int, l: int) -> tuple[_Read, _Write]:
    labels = diagram.labels
    if len(labels) != k + l:
        raise ValueError(f"diagram has {len(labels)} points, expected k + l = {k + l}")
    if len(set(labels)) > len(_LETTERS):
        raise ValueError("diagrams with more than 26 blocks are not supported")
    out_part, in_part = labels[:l], labels[l:]
    sources = set(in_part) | {leg for _, legs in diagram.tensors for leg in legs}
    relabel: dict[int, int] = {}
    for lab in out_part:
        relabel.setdefault(lab, len(relabel))
    fed = tuple(dict.fromkeys(lab for lab in out_part if lab in sources))
    operands = ["ZY" + "".join(_LETTERS[x] for x in in_part)]
    operands += ["".join(_LETTERS[x] for x in legs) for _, legs in diagram.tensors]
    equation = ",".join(operands) + "->ZY" + "".join(_LETTERS[x] for x in fed)
    read = _Read(equation, tuple(name for name, _ in diagram.tensors))
    write = _Write(tuple(relabel[x] for x in out_part), tuple(relabel[x] for x in fed))
    return read, write


class DiagramOperator(torch.nn.Module):
    """Applies ``y[b, o] = sum_t sum_i weight[t, o, i] (D_t x[b, i])`` for a list of diagrams.

    Parameters
    ----------
    diagrams : sequence of Diagram
        The terms ``D_t``, each on ``l + k`` points (outputs first).
    n : int
        Size of each tensor axis.
    k, l : int
        Input and output tensor orders.
    """

    def __init__(self, diagrams, n: int, k: int, l: int):
        super().__init__()
        self.n, self.k, self.l = n, k, l
        reads: dict[_Read, list[tuple[int, _Write]]] = {}
        writes: list[_Write] = []
        names: set[str] = set()
        for t, diagram in enumerate(diagrams):
            read, write = _plan(diagram, k, l)
            reads.setdefault(read, []).append((t, write))
            names.update(read.tensor_names)
            if write not in writes:
                writes.append(write)
        self._reads = [(read, [t for t, _ in users], [writes.index(w) for _, w in users])
                       for read, users in reads.items()]
        self._writes = writes
        self.num_terms = len(diagrams)
        for name in sorted(names):
            self.register_buffer(f"vertex_{name}", torch.from_numpy(vertex_tensor(name, n)), persistent=False)

    def forward(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Apply the weighted diagrams.

        Parameters
        ----------
        x : Tensor
            ``[batch, channels_in, n, ..., n]`` with k axes of size n.
        weight : Tensor
            ``[num_terms, channels_out, channels_in]``.

        Returns
        -------
        Tensor
            ``[batch, channels_out, n, ..., n]`` with l axes of size n.
        """
        n, l = self.n, self.l
        batch, c_in = x.shape[:2]
        c_out = weight.shape[1]
        acc: list[torch.Tensor | None] = [None] * len(self._writes)
        for read, terms, write_ids in self._reads:
            tensors = [getattr(self, f"vertex_{name}").to(x.dtype) for name in read.tensor_names]
            r = torch.einsum(read.equation, x, *tensors)
            fed_shape = r.shape[2:]
            w = weight[terms].reshape(len(terms) * c_out, c_in)
            z = torch.matmul(w, r.reshape(batch, c_in, -1)).reshape(batch, len(terms), c_out, *fed_shape)
            for j, wid in enumerate(write_ids):
                acc[wid] = z[:, j] if acc[wid] is None else acc[wid] + z[:, j]
        out = x.new_zeros((batch, c_out) + (n,) * l)
        strides = out.stride()
        for write, value in zip(self._writes, acc):
            num = max(write.out_labels, default=-1) + 1
            size = [batch, c_out] + [n] * num
            stride = [strides[0], strides[1]] + [0] * num
            for point, lab in enumerate(write.out_labels):
                stride[2 + lab] += strides[2 + point]
            shape = [batch, c_out] + [n if lab in write.fed else 1 for lab in range(num)]
            order = [write.fed.index(lab) for lab in range(num) if lab in write.fed]
            value = value.permute(0, 1, *[2 + i for i in order]).reshape(shape)
            out.as_strided(size, stride).add_(value)
        return out


def diagram_weights(coefficients: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Per-term channel matrices from per-basis-element ones: ``[num_terms, c_out, c_in]``.

    ``coefficients`` is ``HomBasis.coefficients`` ``[num_basis, num_terms]``; ``lam`` is
    ``[num_basis, c_out, c_in]``.
    """
    return torch.einsum("bt,boi->toi", coefficients.to(lam), lam)
