"""Universal neural functionals (Zhou, Finn & Harrison 2024): permutation-equivariant linear layers
built automatically for any `WeightSpace`.

The group is a product of symmetric groups, one per label, each acting on all axes with its
label. An equivariant linear map from tensor s to tensor t therefore factors: for every label,
a partition diagram of that label's axes in s (inputs) and in t (outputs) — axes in one block
share an index, a block of inputs only is averaged over, a block of outputs only is broadcast —
and a full matrix on the fixed axes and channels. The layer holds one learned
``[channels_out * fixed_t, channels_in * fixed_s]`` matrix per (s, t, one diagram per label);
each term is one ``einsum`` (repeated input letters read a diagonal, identity operands write
one; broadcast axes stay size 1 until the terms are summed). With each label on at most one axis per tensor (MLPs, CNNs,
residual networks) this is the DWSNets / NFN layer; with a label on several axes of one tensor
(recurrent weights) the diagrams include the diagonals. The diagrams span the equivariant maps
and are independent when every label has at least as many neurons as the axes it meets in s
and t together (`unf_dimension` counts them).

The bias of t is the same construction from a constant input with no axes.
"""

from __future__ import annotations

import math
import string
from itertools import product

import torch

from .weight_space_spec import WeightSpace


def _set_partitions(items: list) -> list[list[list]]:
    """All set partitions of ``items`` (Bell(len(items)) of them), blocks in order of first item."""
    if not items:
        return [[]]
    first, rest = items[0], items[1:]
    out = []
    for part in _set_partitions(rest):
        out.append([[first]] + part)
        for k in range(len(part)):
            out.append(part[:k] + [[first] + part[k]] + part[k + 1:])
    return out


def _permuted(axes) -> list[int]:
    return [a for a, label in enumerate(axes) if label is not None]


def _term_equation(axes_s, axes_t, blocks_per_label, sizes) -> tuple[str, list[int], tuple[bool, ...], float]:
    """The einsum for one diagram: ``(equation, sizes of its identity operands, broadcast mask, scale)``.

    Operand 0 is the weight ``oi``, operand 1 the source ``Zi<letters of its permuted axes>``, then
    identity matrices (diagonal writes). Output axes of blocks without inputs are left out of the
    equation and broadcast afterwards (``broadcast[k]`` for the k-th permuted axis of t)."""
    letters = iter(c for c in string.ascii_letters if c not in "ioZ")
    in_sub = {a: None for a in _permuted(axes_s)}
    out_sub = {b: "" for b in _permuted(axes_t)}
    eyes, eye_subs, scale = [], [], 1.0
    for label, blocks in blocks_per_label:
        for block in blocks:
            letter = next(letters)
            ins = [a for kind, a in block if kind == "in"]
            outs = [b for kind, b in block if kind == "out"]
            for a in ins:
                in_sub[a] = letter
            if not outs:
                scale /= sizes[label]
                continue
            if not ins and len(outs) == 1:
                continue  # a plain broadcast, done after the einsum
            if not ins:  # a constant diagonal: the identity's diagonal (ones) gives the common index
                eyes.append(sizes[label])
                eye_subs.append(letter + letter)
            out_sub[outs[0]] = letter
            for b in outs[1:]:
                other = next(letters)
                out_sub[b] = other
                eyes.append(sizes[label])
                eye_subs.append(letter + other)
    broadcast = tuple(not sub for sub in out_sub.values())
    equation = ",".join(["oi", "Zi" + "".join(in_sub.values())] + eye_subs) + "->Zo" + "".join(out_sub.values())
    return equation, eyes, broadcast, scale


def _diagrams(axes_s, axes_t) -> list[list[tuple[str, list]]]:
    """Per diagram: [(label, blocks)] with blocks of ("in", axis of s) / ("out", axis of t)."""
    labels = list(dict.fromkeys([x for x in (*axes_s, *axes_t) if x is not None]))
    per_label = []
    for label in labels:
        items = [("in", a) for a, x in enumerate(axes_s) if x == label]
        items += [("out", b) for b, x in enumerate(axes_t) if x == label]
        per_label.append([(label, p) for p in _set_partitions(items)])
    return [list(choice) for choice in product(*per_label)]


def unf_dimension(space: WeightSpace, channels_in: int = 1, channels_out: int = 1) -> int:
    """Number of learned scalars of `UNFLayer` without bias (the diagram count times the fixed-axis
    matrices); the equivariant-map dimension wherever the diagrams are independent."""
    return sum(len(_diagrams(space.axes[s], space.axes[t])) * channels_in * space.fixed_size(s)
               * channels_out * space.fixed_size(t) for s in range(len(space.names)) for t in range(len(space.names)))


class UNFLayer(torch.nn.Module):
    """Equivariant linear layer from ``channels_in`` to ``channels_out`` copies of a weight space.

    Parameters
    ----------
    space : WeightSpace
    channels_in, channels_out : int
    bias : bool
        Add the invariant bias of every output tensor (zero-initialised).

    Shapes
    ------
    ``forward(tensors)``: tensor i ``[batch, channels_in, *space.shapes[i]]`` ->
    ``[batch, channels_out, *space.shapes[i]]``.
    """

    def __init__(self, space: WeightSpace, channels_in: int, channels_out: int, bias: bool = True):
        super().__init__()
        if channels_in < 1 or channels_out < 1:
            raise ValueError(f"channels must be positive, got {channels_in}, {channels_out}")
        self.space, self.channels_in, self.channels_out = space, channels_in, channels_out
        self._terms = []  # (source or None for bias, target, equation, identity sizes, output shape)
        self.weight = torch.nn.ParameterList()
        num = len(space.names)
        sources = list(range(num)) + ([None] if bias else [])
        fan_in = [sum(len(_diagrams(space.axes[s], space.axes[t])) * channels_in * space.fixed_size(s) for s in range(num))
                  for t in range(num)]
        for t in range(num):
            for s in sources:
                axes_s = () if s is None else space.axes[s]
                for diagram in _diagrams(axes_s, space.axes[t]):
                    equation, eyes, broadcast, scale = _term_equation(axes_s, space.axes[t], diagram, space.sizes)
                    rows = channels_out * space.fixed_size(t)
                    if s is None:
                        w = torch.zeros(rows, 1)
                    else:
                        w = torch.randn(rows, channels_in * space.fixed_size(s)) / math.sqrt(fan_in[t])
                    self.weight.append(torch.nn.Parameter(w))
                    shape = [1 if b else space.shapes[t][a] for a, b in zip(_permuted(space.axes[t]), broadcast)]
                    self._terms.append((s, t, equation, eyes, scale, rows, shape))

    def _flatten(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """``[batch, c, *shape]`` -> ``[batch, c * fixed, *permuted axes]`` (fixed axes into channels)."""
        axes = self.space.axes[i]
        fixed = [2 + a for a, label in enumerate(axes) if label is None]
        moved = x.permute(0, 1, *fixed, *[2 + a for a in _permuted(axes)])
        return moved.reshape(x.shape[0], -1, *[self.space.shapes[i][a] for a in _permuted(axes)])

    def _unflatten(self, y: torch.Tensor, i: int) -> torch.Tensor:
        axes, shape = self.space.axes[i], self.space.shapes[i]
        fixed = [a for a, label in enumerate(axes) if label is None]
        order = fixed + _permuted(axes)
        y = y.reshape(y.shape[0], self.channels_out, *[shape[a] for a in order])
        return y.permute(0, 1, *[2 + order.index(a) for a in range(len(axes))])

    def forward(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        self.space.check(tensors, self.channels_in)
        x0 = tensors[0]
        flat = [self._flatten(x, i) for i, x in enumerate(tensors)]
        const = torch.ones(x0.shape[0], 1, dtype=x0.dtype, device=x0.device)
        acc: list[torch.Tensor | None] = [None] * len(tensors)
        eye: dict[int, torch.Tensor] = {}
        for (s, t, equation, eyes, scale, rows, shape), w in zip(self._terms, self.weight):
            ops = [eye.setdefault(n, torch.eye(n, dtype=x0.dtype, device=x0.device)) for n in eyes]
            z = torch.einsum(equation, w * scale if scale != 1.0 else w, const if s is None else flat[s], *ops)
            z = z.reshape(x0.shape[0], rows, *shape)  # size-1 axes broadcast in the sum
            acc[t] = z if acc[t] is None else acc[t] + z
        out = []
        for t, y in enumerate(acc):
            full = [self.space.shapes[t][a] for a in _permuted(self.space.axes[t])]
            out.append(self._unflatten(y.expand(y.shape[0], y.shape[1], *full), t))
        return out


def invariant_pool(space: WeightSpace, tensors: list[torch.Tensor]) -> torch.Tensor:
    """``[batch, sum_i channels * fixed_i]``: each tensor averaged over its permuted axes."""
    feats = []
    for x, axes in zip(tensors, space.axes):
        dims = [2 + a for a in _permuted(axes)]
        x = x.mean(dims) if dims else x
        feats.append(x.reshape(x.shape[0], -1))
    return torch.cat(feats, dim=1)


class UNFNet(torch.nn.Module):
    """Invariant UNF: `UNFLayer` s with ReLU, `invariant_pool`, then an MLP head.

    ``forward(tensors)`` takes one-channel tensors ``[batch, 1, *shape]`` and returns
    ``[batch, out_features]``, unchanged under every permutation of the space.
    """

    def __init__(self, space: WeightSpace, hidden_channels: int = 8, num_layers: int = 3, out_features: int = 1,
                 head_dim: int = 64):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be positive, got {num_layers}")
        self.space = space
        channels = [1] + [hidden_channels] * num_layers
        self.layers = torch.nn.ModuleList(UNFLayer(space, a, b) for a, b in zip(channels[:-1], channels[1:]))
        pooled = hidden_channels * sum(space.fixed_size(i) for i in range(len(space.names)))
        self.head = torch.nn.Sequential(torch.nn.Linear(pooled, head_dim), torch.nn.ReLU(),
                                        torch.nn.Linear(head_dim, out_features))

    def forward(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            tensors = layer(tensors)
            if i < len(self.layers) - 1:
                tensors = [torch.relu(x) for x in tensors]
        return self.head(invariant_pool(self.space, tensors))
