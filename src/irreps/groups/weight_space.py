"""Deep weight-space layers (DWSNets, Navon et al.): linear maps on MLP weights that commute with
permutations of hidden neurons.

An MLP with layer sizes ``dims = (d_0, ..., d_L)`` is stored as ``weights[i]`` ``[batch, channels,
d_{i+1}, d_i]`` and ``biases[i]`` ``[batch, channels, d_{i+1}]``. The group is
``S_{d_1} x ... x S_{d_{L-1}}`` (input and output neurons stay fixed): permuting hidden layer j by
P_j maps ``W_i -> P_{i+1} W_i P_i^T``, ``b_i -> P_{i+1} b_i`` and leaves the function unchanged.

Every block (a weight matrix or bias vector) is a tensor product of natural representations of
the hidden-layer factors, each appearing at most once, times a fixed (trivial) part from the
input/output neurons and the channels. So every equivariant map from block s to block t factors
over hidden layers: a hidden layer only in s is pooled (mean), one only in t is broadcast, one in
both is either kept (identity) or pooled and broadcast; the fixed parts are mixed by a full
matrix. With ``f_s`` the fixed size of s (channels times fixed neurons) the dimension is

    sum_{s, t} f_s f_t prod_{j in both} (2 if d_j > 1 else 1),

the two options coinciding for a hidden layer of one neuron (`dws_dimension`).
"""

from __future__ import annotations

import math
from itertools import combinations

import torch


def _blocks(dims: tuple[int, ...]) -> list[tuple[str, int, tuple[int, ...]]]:
    """Blocks as (kind, layer index, neuron layers of its axes): W_i has (i+1, i), b_i has (i+1,)."""
    out = []
    for i in range(len(dims) - 1):
        out.append(("W", i, (i + 1, i)))
        out.append(("b", i, (i + 1,)))
    return out


def _check_dims(dims) -> tuple[int, ...]:
    dims = tuple(dims)
    if len(dims) < 2 or any((not isinstance(d, int)) or d < 1 for d in dims):
        raise ValueError(f"dims must be at least two positive layer sizes, got {dims}")
    return dims


def dws_dimension(dims, channels_in: int = 1, channels_out: int = 1) -> int:
    """Number of independent equivariant linear maps (without bias) on the weight space of ``dims``."""
    layer_plan = _plan(_check_dims(dims))
    return sum(channels_in * fs * channels_out * ft for _, _, _, fs, ft in layer_plan)


def _plan(dims: tuple[int, ...]):
    """(source block, target block, kept hidden layers, fixed size of s, fixed size of t) per map."""
    hidden = set(range(1, len(dims) - 1))
    blocks = _blocks(dims)
    plan = []
    for s, (_, _, axes_s) in enumerate(blocks):
        for t, (_, _, axes_t) in enumerate(blocks):
            common = sorted(set(axes_s) & set(axes_t) & hidden)
            forced = [j for j in common if dims[j] == 1]  # keep == pool-broadcast for one neuron
            free = [j for j in common if dims[j] > 1]
            fs = math.prod(dims[j] for j in axes_s if j not in hidden)
            ft = math.prod(dims[j] for j in axes_t if j not in hidden)
            for r in range(len(free) + 1):
                for kept in combinations(free, r):
                    plan.append((s, t, tuple(sorted(forced + list(kept))), fs, ft))
    return plan


def permute_hidden(weights: list[torch.Tensor], biases: list[torch.Tensor], perms: list[torch.Tensor]
                   ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Apply hidden-neuron permutations: ``perms[j-1]`` reorders hidden layer j (an index tensor)."""
    full = [None] + list(perms) + [None]
    new_w, new_b = [], []
    for i, (w, b) in enumerate(zip(weights, biases)):
        if full[i + 1] is not None:
            w, b = w[:, :, full[i + 1]], b[:, :, full[i + 1]]
        if full[i] is not None:
            w = w[:, :, :, full[i]]
        new_w.append(w)
        new_b.append(b)
    return new_w, new_b


class DWSLayer(torch.nn.Module):
    """The general equivariant linear layer on the weight space of an MLP with layer sizes ``dims``.

    Parameters
    ----------
    dims : sequence of int
        MLP layer sizes ``(d_0, ..., d_L)``.
    channels_in, channels_out : int
    bias : bool
        Add an invariant bias per output block (constant over hidden neurons).

    Shapes
    ------
    ``weights[i]`` ``[batch, channels, d_{i+1}, d_i]``, ``biases[i]`` ``[batch, channels, d_{i+1}]``
    in and out (channels_in in, channels_out out).
    """

    def __init__(self, dims, channels_in: int, channels_out: int, bias: bool = True):
        super().__init__()
        self.dims = _check_dims(dims)
        self.channels_in, self.channels_out = channels_in, channels_out
        self._hidden = set(range(1, len(self.dims) - 1))
        self._blocks = _blocks(self.dims)
        self._maps = _plan(self.dims)
        self.weight = torch.nn.ParameterList()
        for _, t, _, fs, ft in self._maps:
            fan_in = channels_in * sum(m[3] for m in self._maps if m[1] == t)
            self.weight.append(torch.nn.Parameter(torch.randn(channels_out * ft, channels_in * fs) / math.sqrt(fan_in)))
        self.bias = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.zeros(channels_out * self._fixed(axes))) for _, _, axes in self._blocks]
        ) if bias else None

    def _fixed(self, axes) -> int:
        return math.prod(self.dims[j] for j in axes if j not in self._hidden)

    def _to_channels(self, x: torch.Tensor, axes) -> tuple[torch.Tensor, list[int]]:
        """Move fixed-neuron axes into the channel axis: returns [batch, c * fixed, hidden axes...]."""
        fixed = [2 + a for a, j in enumerate(axes) if j not in self._hidden]
        hidden = [j for j in axes if j in self._hidden]
        x = x.permute(0, 1, *fixed, *[2 + a for a, j in enumerate(axes) if j in self._hidden])
        return x.reshape(x.shape[0], -1, *[self.dims[j] for j in hidden]), hidden

    def forward(self, weights: list[torch.Tensor], biases: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Map (weights, biases) to (weights, biases) with channels_out channels."""
        tensors = [t for pair in zip(weights, biases) for t in pair]
        if len(tensors) != len(self._blocks):
            raise ValueError(f"expected {len(self._blocks) // 2} weights and biases for dims {self.dims}")
        inputs = []
        for x, (_, _, axes) in zip(tensors, self._blocks):
            expected = [self.channels_in] + [self.dims[j] for j in axes]
            if list(x.shape[1:]) != expected:
                raise ValueError(f"block with neuron layers {axes}: expected [batch, {expected}], got {list(x.shape)}")
            inputs.append(self._to_channels(x, axes))
        batch = tensors[0].shape[0]
        acc: list[torch.Tensor | None] = [None] * len(self._blocks)
        for (s, t, kept, _, _), w in zip(self._maps, self.weight):
            x, hidden_s = inputs[s]
            pooled = [2 + a for a, j in enumerate(hidden_s) if j not in kept]
            r = x.mean(pooled) if pooled else x
            kept_order = [j for j in hidden_s if j in kept]
            z = torch.einsum("oi,bi...->bo...", w, r)
            hidden_t = [j for j in self._blocks[t][2] if j in self._hidden]
            z = z.permute(0, 1, *[2 + kept_order.index(j) for j in hidden_t if j in kept])
            z = z.reshape(batch, z.shape[1], *[self.dims[j] if j in kept else 1 for j in hidden_t])
            acc[t] = z if acc[t] is None else acc[t] + z
        outputs = []
        for t, (_, _, axes) in enumerate(self._blocks):
            y = acc[t]
            if self.bias is not None:
                y = y + self.bias[t].reshape(1, -1, *[1] * (y.dim() - 2))
            outputs.append(self._from_channels(y, axes, batch))
        return outputs[0::2], outputs[1::2]

    def _from_channels(self, y: torch.Tensor, axes, batch: int) -> torch.Tensor:
        fixed = [j for j in axes if j not in self._hidden]
        hidden = [j for j in axes if j in self._hidden]
        y = y.expand(batch, y.shape[1], *[self.dims[j] for j in hidden])
        y = y.reshape(batch, self.channels_out, *[self.dims[j] for j in fixed], *[self.dims[j] for j in hidden])
        order = fixed + hidden
        return y.permute(0, 1, *[2 + order.index(j) for j in axes])


class DWSNet(torch.nn.Module):
    """Invariant DWSNet: DWS layers with ReLU, then mean-pooling over hidden neurons and an MLP.

    ``forward(weights, biases)`` takes one-channel weight-space inputs (``[batch, 1, ...]``)
    and returns ``[batch, out_features]``, unchanged under hidden-neuron permutations.
    """

    def __init__(self, dims, hidden_channels: int = 8, num_layers: int = 3, out_features: int = 1):
        super().__init__()
        self.dims = _check_dims(dims)
        channels = [1] + [hidden_channels] * num_layers
        self.layers = torch.nn.ModuleList(DWSLayer(self.dims, a, b) for a, b in zip(channels[:-1], channels[1:]))
        hidden = set(range(1, len(self.dims) - 1))
        pooled = sum(hidden_channels * math.prod(self.dims[j] for j in axes if j not in hidden)
                     for _, _, axes in _blocks(self.dims))
        self.head = torch.nn.Sequential(torch.nn.Linear(pooled, 64), torch.nn.ReLU(), torch.nn.Linear(64, out_features))

    def forward(self, weights: list[torch.Tensor], biases: list[torch.Tensor]) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            weights, biases = layer(weights, biases)
            if i < len(self.layers) - 1:
                weights = [torch.relu(w) for w in weights]
                biases = [torch.relu(b) for b in biases]
        hidden = set(range(1, len(self.dims) - 1))
        feats = []
        for x, (_, _, axes) in zip([t for pair in zip(weights, biases) for t in pair], _blocks(self.dims)):
            pooled = [2 + a for a, j in enumerate(axes) if j in hidden]
            x = x.mean(pooled) if pooled else x
            feats.append(x.reshape(x.shape[0], -1))
        return self.head(torch.cat(feats, dim=1))


def flatten_params(weights: list[torch.Tensor], biases: list[torch.Tensor]) -> torch.Tensor:
    """``[batch, channels, num_params]``: blocks in order W_0, b_0, W_1, b_1, ..., row-major."""
    tensors = [t for pair in zip(weights, biases) for t in pair]
    return torch.cat([t.reshape(t.shape[0], t.shape[1], -1) for t in tensors], dim=2)


def unflatten_params(flat: torch.Tensor, dims) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Inverse of `flatten_params` for an MLP with layer sizes ``dims``."""
    dims = _check_dims(dims)
    shapes = [s for i in range(len(dims) - 1) for s in ((dims[i + 1], dims[i]), (dims[i + 1],))]
    total = sum(math.prod(s) for s in shapes)
    if flat.dim() != 3 or flat.shape[2] != total:
        raise ValueError(f"expected [batch, channels, {total}] parameters for dims {dims}, got {list(flat.shape)}")
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(flat[:, :, start : start + size].reshape(flat.shape[0], flat.shape[1], *shape))
        start += size
    return out[0::2], out[1::2]
