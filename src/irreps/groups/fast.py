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
# Up to this many input channels, channel mixing is done by fused multiply-adds on the strided
# read (no copy); above it by one matrix multiplication per read.
_SMALL_CHANNELS = 2
# The batch is processed in chunks of about this many input/output elements so that the
# dozen passes over each chunk stay in cache (2x faster at n=64, k=l=3 on a busy machine).
_CHUNK_ELEMENTS = 2**19
# Reads at least this large (per batch and channel) are copied once to put their last axis
# contiguous: strided innermost access is several times slower than a copy.
_CONTIGUOUS_FROM = 4096


@dataclass(frozen=True)
class _Read:
    equation: str  # the whole read as one einsum (used when there are vertex tensors)
    tensor_names: tuple[str, ...]
    in_labels: tuple[int, ...]  # input point labels, renumbered in first-occurrence order
    summed: frozenset  # input blocks touching no output
    fed: tuple[int, ...]  # input blocks in result-axis order


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
    local: dict[int, int] = {}
    for lab in in_part:
        local.setdefault(lab, len(local))
    summed = frozenset(local[x] for x in in_part if x not in set(out_part))
    read = _Read(equation, tuple(name for name, _ in diagram.tensors), tuple(local[x] for x in in_part),
                 summed, tuple(local[x] for x in fed if x in local))
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
        # accumulator shape (after batch, channel) of each write: n for fed blocks, 1 to broadcast
        self._shapes = [[n if lab in w.fed else 1 for lab in range(max(w.out_labels, default=-1) + 1)]
                        for w in writes]
        # a write whose fed blocks are a subset of another's with the same output pattern is
        # folded into it (broadcast add on the small side) so the big output is touched once
        self._merges = []
        for i, wi in enumerate(writes):
            supersets = [j for j, wj in enumerate(writes) if j != i and wj.out_labels == wi.out_labels
                         and set(wi.fed) < set(wj.fed)]
            if supersets:
                self._merges.append((i, max(supersets, key=lambda j: len(writes[j].fed))))
        self._merges.sort(key=lambda pair: len(writes[pair[0]].fed))
        identity = _Write(tuple(range(l)), tuple(range(l)))
        self._full_write = writes.index(identity) if identity in writes else None
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
        per_sample = max(x[0].numel(), weight.shape[1] * self.n**self.l)
        chunk = max(1, _CHUNK_ELEMENTS // per_sample)
        if x.shape[0] > chunk:
            return torch.cat([self._forward(part, weight) for part in x.split(chunk)])
        return self._forward(x, weight)

    def _forward(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        batch, c_in = x.shape[:2]
        c_out = weight.shape[1]
        acc: list[torch.Tensor | None] = [None] * len(self._writes)
        owned = [False] * len(self._writes)  # True once acc[w] is a fresh tensor nobody else holds
        cache: dict = {}
        for read, terms, write_ids in self._reads:
            if read.tensor_names:
                tensors = [getattr(self, f"vertex_{name}").to(x.dtype) for name in read.tensor_names]
                r = torch.einsum(read.equation, x, *tensors)
            else:
                r = _read(x, read, cache)
            if c_in <= _SMALL_CHANNELS:
                # per-input-channel fused multiply-adds: no copy of the (possibly strided) read
                for t, wid in zip(terms, write_ids):
                    shape = self._shapes[wid]
                    for i in range(c_in):
                        ri = r[:, i : i + 1].reshape([batch, 1] + shape)
                        wi = weight[t, :, i].reshape([1, c_out] + [1] * len(shape))
                        acc[wid] = ri * wi if acc[wid] is None else torch.addcmul(acc[wid], ri, wi)
                        owned[wid] = True
                continue
            w = weight[terms].reshape(len(terms) * c_out, c_in)
            z = torch.matmul(w, r.reshape(batch, c_in, -1)).reshape(batch, len(terms), c_out, -1)
            for j, wid in enumerate(write_ids):
                zj = z[:, j].reshape([batch, c_out] + self._shapes[wid])
                owned[wid] = acc[wid] is not None
                acc[wid] = zj if acc[wid] is None else acc[wid] + zj
        for small, big in self._merges:
            if acc[small] is not None:
                acc[big] = acc[small] if acc[big] is None else acc[big] + acc[small]
                owned[big] = owned[big] or acc[big] is not acc[small]
                acc[small] = None
        return self._write(acc, owned, x, batch, c_out)

    def _write(self, acc, owned, x, batch, c_out) -> torch.Tensor:
        n, l = self.n, self.l
        full = self._full_write
        if full is not None and owned[full] and acc[full] is not None:
            out = acc[full]  # all output points distinct and fed: the accumulator is the output
            acc = [None if i == full else a for i, a in enumerate(acc)]
        else:
            out = x.new_zeros((batch, c_out) + (n,) * l)
        strides = out.stride()
        for write, value in zip(self._writes, acc):
            if value is None:
                continue
            num = max(write.out_labels, default=-1) + 1
            stride = [strides[0], strides[1]] + [0] * num
            for point, lab in enumerate(write.out_labels):
                stride[2 + lab] += strides[2 + point]
            out.as_strided([batch, c_out] + [n] * num, stride).add_(value)
        return out


def _reduced(x: torch.Tensor, in_labels: tuple, summed: frozenset, cache: dict) -> torch.Tensor:
    """The generalised diagonal of x over ``in_labels`` summed over ``summed``, axes in label order.

    Sums are taken one axis at a time from the cached parent, so many diagrams that reduce the
    same diagonal share one pass over the input.
    """
    key = (in_labels, summed)
    if key in cache:
        return cache[key]
    if not summed:
        num = max(in_labels, default=-1) + 1
        stride = [x.stride(0), x.stride(1)] + [0] * num
        for axis, lab in enumerate(in_labels):
            stride[2 + lab] += x.stride(2 + axis)
        size = list(x.shape[:2]) + [x.shape[-1]] * num
        out = x.as_strided(size, stride, x.storage_offset())
    else:
        lab = next((s for s in sorted(summed) if (in_labels, summed - {s}) in cache), max(summed))
        parent = _reduced(x, in_labels, summed - {lab}, cache)
        remaining = [m for m in range(max(in_labels, default=-1) + 1) if m not in summed - {lab}]
        out = parent.sum(2 + remaining.index(lab))
    cache[key] = out
    return out


def _read(x: torch.Tensor, read: _Read, cache: dict) -> torch.Tensor:
    """Reduced diagonal permuted to the result order; a big result whose last axis would be
    strided is made contiguous once per (diagonal, sum, last axis) and shared."""
    base = _reduced(x, read.in_labels, read.summed, cache)
    kept = [m for m in range(max(read.in_labels, default=-1) + 1) if m not in read.summed]
    order = [2 + kept.index(m) for m in read.fed]
    r = base.permute(0, 1, *order)
    if r.dim() > 2 and r.stride(-1) != 1 and r[0, 0].numel() >= _CONTIGUOUS_FROM:
        key = (read.in_labels, read.summed, "last", order[-1])
        if key not in cache:
            cache[key] = base.movedim(order[-1], -1).contiguous()
        rest = [a for a in range(2, base.dim()) if a != order[-1]]
        r = cache[key].permute(0, 1, *[2 + rest.index(a) for a in order[:-1]], base.dim() - 1)
    return r


def diagram_weights(coefficients: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Per-term channel matrices from per-basis-element ones: ``[num_terms, c_out, c_in]``.

    ``coefficients`` is ``HomBasis.coefficients`` ``[num_basis, num_terms]``; ``lam`` is
    ``[num_basis, c_out, c_in]``.
    """
    return torch.einsum("bt,boi->toi", coefficients.to(lam), lam)
