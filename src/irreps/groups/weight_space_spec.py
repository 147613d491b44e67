"""Weight-space descriptions: which axes of which parameter tensors share a neuron permutation.

A network's parameters are a list of tensors; each axis either carries a named permutation label
(the neurons of one hidden layer, or a residual stream shared by several layers) or is fixed
(input and output neurons, convolution filter positions). The group is the product of one
symmetric group per label, acting on every axis with that label at once. This is the
``perm_spec`` of universal neural functionals (Zhou, Finn & Harrison 2024): from it the
equivariant layers (`UNFLayer`) and the permutation action (`WeightSpace.permute`) follow.

Tensors are carried with a leading ``[batch, channels]``: tensor i is ``[batch, channels,
*shapes[i]]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class WeightSpace:
    """Parameter tensors ``names``, their ``shapes`` and, per axis, a permutation label or None.

    Examples
    --------
    A 2 -> 8 -> 1 MLP: ``WeightSpace(("W0", "b0", "W1", "b1"), ((8, 2), (8,), (1, 8), (1,)),
    (("h1", None), ("h1",), (None, "h1"), (None,)))``; `mlp_space` builds it.
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    axes: tuple[tuple[str | None, ...], ...]

    def __post_init__(self):
        if not (len(self.names) == len(self.shapes) == len(self.axes)) or not self.names:
            raise ValueError(f"names, shapes and axes must be non-empty and of one length, got "
                             f"{len(self.names)}, {len(self.shapes)}, {len(self.axes)}")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"tensor names must be distinct, got {self.names}")
        sizes: dict[str, int] = {}
        for name, shape, axes in zip(self.names, self.shapes, self.axes):
            if len(shape) != len(axes) or any((not isinstance(n, int)) or n < 1 for n in shape):
                raise ValueError(f"tensor {name!r}: shape {shape} needs positive sizes and one label per axis, got {axes}")
            for n, label in zip(shape, axes):
                if label is not None and sizes.setdefault(label, n) != n:
                    raise ValueError(f"permutation {label!r} acts on axes of sizes {sizes[label]} and {n} (tensor {name!r})")
        object.__setattr__(self, "_sizes", sizes)

    @property
    def sizes(self) -> dict[str, int]:
        """Label -> number of neurons it permutes, in order of first appearance."""
        return dict(self._sizes)

    def fixed_size(self, i: int) -> int:
        """Product of the fixed (unpermuted) axis sizes of tensor i."""
        out = 1
        for n, label in zip(self.shapes[i], self.axes[i]):
            out *= n if label is None else 1
        return out

    def check(self, tensors: list[torch.Tensor], channels: int | None = None) -> None:
        """Raise ValueError unless ``tensors`` are ``[batch, channels, *shape]`` for this space."""
        if len(tensors) != len(self.names):
            raise ValueError(f"expected {len(self.names)} tensors {self.names}, got {len(tensors)}")
        batch = tensors[0].shape[0] if tensors[0].dim() else None
        for x, name, shape in zip(tensors, self.names, self.shapes):
            if x.dim() != len(shape) + 2 or tuple(x.shape[2:]) != shape or x.shape[0] != batch or \
                    (channels is not None and x.shape[1] != channels):
                expected = f"[{batch}, {channels if channels is not None else 'channels'}, {', '.join(map(str, shape))}]"
                raise ValueError(f"tensor {name!r}: expected {expected}, got {list(x.shape)}")

    def permute(self, tensors: list[torch.Tensor], perms: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Apply ``perms[label]`` (an index tensor: new neuron a is old neuron ``perm[a]``) to every
        axis carrying that label; labels missing from ``perms`` stay put."""
        unknown = set(perms) - set(self._sizes)
        if unknown:
            raise ValueError(f"unknown permutation labels {sorted(unknown)}; this space has {list(self._sizes)}")
        out = []
        for x, axes in zip(tensors, self.axes):
            for a, label in enumerate(axes):
                if label in perms:
                    x = x.index_select(2 + a, perms[label].to(x.device))
            out.append(x)
        return out

    def random_permutations(self, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """One uniformly random permutation per label."""
        return {label: torch.randperm(n, generator=generator) for label, n in self._sizes.items()}


def mlp_space(dims) -> WeightSpace:
    """MLP with layer sizes ``(d_0, ..., d_L)``; weights ``W_i [d_{i+1}, d_i]``, biases ``b_i``; hidden
    layer j carries label ``"h{j}"``, input and output neurons are fixed."""
    dims = tuple(dims)
    if len(dims) < 2 or any((not isinstance(d, int)) or d < 1 for d in dims):
        raise ValueError(f"dims must be at least two positive layer sizes, got {dims}")
    label = [None] + [f"h{j}" for j in range(1, len(dims) - 1)] + [None]
    names, shapes, axes = [], [], []
    for i in range(len(dims) - 1):
        names += [f"W{i}", f"b{i}"]
        shapes += [(dims[i + 1], dims[i]), (dims[i + 1],)]
        axes += [(label[i + 1], label[i]), (label[i + 1],)]
    return WeightSpace(tuple(names), tuple(shapes), tuple(axes))


def cnn_space(in_channels: int, channels, kernel_size: int, num_classes: int) -> WeightSpace:
    """Conv2d stack (``channels`` per layer, square kernels) -> global average pooling -> Linear.

    Conv weights ``[c_{i+1}, c_i, k, k]`` carry labels on the two channel axes and fixed filter
    positions; the classifier's input axis shares the last conv layer's label (pooling keeps the
    channel order)."""
    dims = (in_channels, *channels)
    if len(dims) < 2 or any((not isinstance(d, int)) or d < 1 for d in (*dims, kernel_size, num_classes)):
        raise ValueError(f"channels, kernel_size and num_classes must be positive, got {dims}, {kernel_size}, {num_classes}")
    label = [None] + [f"c{j}" for j in range(1, len(dims))]
    names, shapes, axes = [], [], []
    for i in range(len(dims) - 1):
        names += [f"conv{i}.weight", f"conv{i}.bias"]
        shapes += [(dims[i + 1], dims[i], kernel_size, kernel_size), (dims[i + 1],)]
        axes += [(label[i + 1], label[i], None, None), (label[i + 1],)]
    names += ["fc.weight", "fc.bias"]
    shapes += [(num_classes, dims[-1]), (num_classes,)]
    axes += [(None, label[-1]), (None,)]
    return WeightSpace(tuple(names), tuple(shapes), tuple(axes))


def residual_mlp_space(in_features: int, width: int, hidden, out_features: int) -> WeightSpace:
    """``x -> W_in x + b_in``, then per block ``x <- x + W_b relu(W_a x + b_a) + b_b``, then ``W_out x + b_out``.

    The residual stream (``width`` neurons) carries one label ``"r"`` on every tensor that reads or
    writes it: a permutation must move all of them together, since the skip connections add them
    neuron by neuron. Block k's hidden neurons carry ``"h{k}"``."""
    hidden = tuple(hidden)
    if any((not isinstance(d, int)) or d < 1 for d in (in_features, width, out_features, *hidden)):
        raise ValueError(f"sizes must be positive integers, got {in_features}, {width}, {hidden}, {out_features}")
    names = ["in.weight", "in.bias"]
    shapes = [(width, in_features), (width,)]
    axes = [("r", None), ("r",)]
    for k, h in enumerate(hidden):
        names += [f"block{k}.a.weight", f"block{k}.a.bias", f"block{k}.b.weight", f"block{k}.b.bias"]
        shapes += [(h, width), (h,), (width, h), (width,)]
        axes += [(f"h{k}", "r"), (f"h{k}",), ("r", f"h{k}"), ("r",)]
    names += ["out.weight", "out.bias"]
    shapes += [(out_features, width), (out_features,)]
    axes += [(None, "r"), (None,)]
    return WeightSpace(tuple(names), tuple(shapes), tuple(axes))


def sequential_space(module: torch.nn.Module) -> WeightSpace:
    """The weight space of a feed-forward ``torch.nn.Sequential`` of Linear / Conv2d layers (with
    parameter-free activations, pooling and Flatten between them), in ``named_parameters`` order.

    Each layer's output neurons (channels) are one hidden label, except the last layer's; the
    next layer must read exactly those neurons (in_features == previous out size), else the
    permutation would not act on whole axes and this raises."""
    layers = [m for m in module.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    other = [m for m in module.modules() if not isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))
             and any(True for _ in m.parameters(recurse=False))]
    if not layers or other:
        raise ValueError(f"expected a stack of Linear/Conv2d layers with parameter-free modules between them, "
                         f"got {type(module).__name__} with {[type(m).__name__ for m in other] or 'no layers'}")
    names, shapes, axes = [], [], []
    prefix = {id(m): name for name, m in module.named_modules()}
    prev_out = None
    for i, layer in enumerate(layers):
        n_in = layer.in_features if isinstance(layer, torch.nn.Linear) else layer.in_channels
        n_out = layer.out_features if isinstance(layer, torch.nn.Linear) else layer.out_channels
        if prev_out is not None and prev_out != n_in:
            raise ValueError(f"layer {prefix[id(layer)]!r} reads {n_in} inputs but the previous layer has {prev_out} "
                             f"outputs (flattened spatial features do not share one neuron permutation; pool to 1x1 first)")
        prev_out = n_out
        if isinstance(layer, torch.nn.Conv2d) and layer.groups != 1:
            raise ValueError(f"grouped convolution {prefix[id(layer)]!r} is not supported")
        out_label = f"h{i + 1}" if i < len(layers) - 1 else None
        in_label = f"h{i}" if i > 0 else None
        spatial = tuple(layer.weight.shape[2:])
        names.append(f"{prefix[id(layer)]}.weight")
        shapes.append(tuple(layer.weight.shape))
        axes.append((out_label, in_label) + (None,) * len(spatial))
        if layer.bias is not None:
            names.append(f"{prefix[id(layer)]}.bias")
            shapes.append((n_out,))
            axes.append((out_label,))
    return WeightSpace(tuple(names), tuple(shapes), tuple(axes))


def sequential_tensors(module: torch.nn.Module) -> list[torch.Tensor]:
    """The parameters of `sequential_space` (same order) as ``[1, 1, *shape]`` tensors."""
    layers = [m for m in module.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    return [p.detach()[None, None] for m in layers for p in (m.weight, m.bias) if p is not None]
