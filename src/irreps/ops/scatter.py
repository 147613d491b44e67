"""Scatter reductions over an index (sum over the edges of a receiver, the atoms of a structure)."""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.capture import composed


def scatter_sum(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Sum the rows of ``src`` that share an ``index`` value.

    Parameters
    ----------
    src : Tensor [M, ...]
        Values to reduce (e.g. per-edge messages).
    index : Tensor [M] (int64)
        Destination row of each source row, in ``[0, dim_size)``.
    dim_size : int
        Number of destination rows (rows that receive nothing are zero).

    Returns
    -------
    Tensor [dim_size, ...]
        ``out[k] = sum_{m: index[m] == k} src[m]``; differentiable in ``src``.
    """
    if isinstance(dim_size, int) and dim_size == 1:
        # every row goes to row 0 (one structure). A plain sum, not index_add: inductor's
        # multi-threaded CPU code for an index_add into one row fails to generate (torch 2.13,
        # its vectorised atomic add wants a vector of indices, here a constant 0).
        return src.sum(0, keepdim=True)
    out = src.new_zeros((dim_size,) + tuple(src.shape[1:]))
    return out.index_add_(0, index, src)


_CHUNK_ELEMENTS = 1 << 18  # ~1 MB chunks (float32): gather, scale and scatter while in cache


def _chunks(num_edges: int, row_size: int):
    step = max(1, _CHUNK_ELEMENTS // max(row_size, 1))
    return ((start, min(start + step, num_edges)) for start in range(0, num_edges, step))


EDGE_CHUNK_ELEMENTS = 1 << 20


def edge_chunks(num_edges: int, row_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` bounds of consecutive edge chunks of about ``EDGE_CHUNK_ELEMENTS / row_size``
    edges each (at least one edge; one empty chunk when there are no edges), for layers that run
    their per-edge work chunk by chunk so that intermediates stay a few MB."""
    step = max(1, EDGE_CHUNK_ELEMENTS // max(row_size, 1))
    return [(start, min(start + step, num_edges)) for start in range(0, num_edges, step)] or [(0, 0)]


def _edge_weights(weights: Tensor, weight_index: Tensor | None, a: int, b: int) -> Tensor:
    return weights[a:b] if weight_index is None else weights.index_select(0, weight_index[a:b])


class _GatherScaleScatter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values, weights, gather_index, scatter_index, dim_size, weight_index):
        ctx.save_for_backward(values, weights, gather_index, scatter_index, weight_index)
        out = values.new_zeros(dim_size, values.shape[1], weights.shape[1])
        for a, b in _chunks(gather_index.shape[0], values.shape[1] * weights.shape[1]):
            chunk = values.index_select(0, gather_index[a:b])
            w = _edge_weights(weights, weight_index, a, b)[:, None, :]
            chunk = chunk.mul_(w) if chunk.shape[-1] > 1 else chunk * w
            out.index_add_(0, scatter_index[a:b], chunk)
        return out

    @staticmethod
    def backward(ctx, grad):
        values, weights, gather_index, scatter_index, weight_index = ctx.saved_tensors
        if not torch.is_grad_enabled() and all(ctx.needs_input_grad[:2]):
            grads = _fused_backward(grad, values, weights, gather_index, scatter_index, weight_index)
            return grads + (None, None, None, None)
        grad_values = grad_weights = None
        if ctx.needs_input_grad[0]:
            grad_values = gather_scale_scatter(
                grad, weights, scatter_index, gather_index, values.shape[0], weight_index
            )
            if values.shape[-1] == 1:  # values were broadcast over the channels
                grad_values = grad_values.sum(-1, keepdim=True)
        if ctx.needs_input_grad[1]:
            grad_weights = gather_dot(grad, values, scatter_index, gather_index)
            if weight_index is not None:
                grad_weights = scatter_sum(grad_weights, weight_index, weights.shape[0])
        return grad_values, grad_weights, None, None, None, None


def _fused_backward(grad, values, weights, gather_index, scatter_index, weight_index):
    """Both first-order gradients of gather-scale-scatter with one gather of ``grad`` per chunk."""
    grad_values = torch.zeros_like(values)
    grad_weights = torch.zeros_like(weights)
    for a, b in _chunks(gather_index.shape[0], values.shape[1] * weights.shape[1]):
        g = grad.index_select(0, scatter_index[a:b])
        chunk_grad = (values.index_select(0, gather_index[a:b]) * g).sum(1)
        if weight_index is None:
            grad_weights[a:b] = chunk_grad
        else:
            grad_weights.index_add_(0, weight_index[a:b], chunk_grad)
        g.mul_(_edge_weights(weights, weight_index, a, b)[:, None, :])
        grad_values.index_add_(0, gather_index[a:b], g.sum(-1, keepdim=True) if values.shape[-1] == 1 else g)
    return grad_values, grad_weights


class _GatherDot(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, index_a, index_b):
        ctx.save_for_backward(a, b, index_a, index_b)
        channels = max(a.shape[-1], b.shape[-1])
        out = a.new_empty(index_a.shape[0], channels)
        for s, e in _chunks(index_a.shape[0], a.shape[1] * channels):
            out[s:e] = (a.index_select(0, index_a[s:e]) * b.index_select(0, index_b[s:e])).sum(1)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, index_a, index_b = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = gather_scale_scatter(b, grad, index_b, index_a, a.shape[0])
        if ctx.needs_input_grad[1]:
            grad_b = gather_scale_scatter(a, grad, index_a, index_b, b.shape[0])
        return grad_a, grad_b, None, None


def gather_scale_scatter(
    values: Tensor, weights: Tensor, gather_index: Tensor, scatter_index: Tensor, dim_size: int,
    weight_index: Tensor | None = None,
) -> Tensor:
    """Message passing ``out[n] = sum_{e: scatter_index[e] = n} weights[e] * values[gather_index[e]]``.

    Equal to ``scatter_sum(values[gather_index] * weights[:, None, :], scatter_index, dim_size)``
    but processed in chunks of edges, with gradients that recompute the gathers instead of
    storing ``[E, K, C]`` intermediates (differentiable to any order).

    Parameters
    ----------
    values : Tensor [N_in, K, C] or [N_in, K, 1]
        Node features (e.g. the K components of a tensor part, C channels); a last
        dimension of 1 is broadcast over the channels of ``weights``.
    weights : Tensor [E, C] (or [W, C] with ``weight_index``)
        Per-edge, per-channel scalars.
    gather_index, scatter_index : Tensor [E] (int64)
        Source node and destination node of every edge (``edge_index[1]``, ``edge_index[0]``).
    dim_size : int
        Number of destination nodes.
    weight_index : Tensor [E] (int64), optional
        Row of ``weights`` for each edge, when edges share weights (e.g. the two directions
        of a pair): the gather happens chunk by chunk instead of materialising ``[E, C]``.

    Returns
    -------
    Tensor [dim_size, K, C]
    """
    if composed():
        w = weights if weight_index is None else weights.index_select(0, weight_index)
        return scatter_sum(values.index_select(0, gather_index) * w[:, None, :], scatter_index, dim_size)
    return _GatherScaleScatter.apply(values, weights, gather_index, scatter_index, dim_size, weight_index)


def gather_dot(a: Tensor, b: Tensor, index_a: Tensor, index_b: Tensor) -> Tensor:
    """``out[e, c] = sum_k a[index_a[e], k, c] * b[index_b[e], k, c]``: ``[E, C]`` (chunked, differentiable)."""
    if composed():
        return (a.index_select(0, index_a) * b.index_select(0, index_b)).sum(1)
    return _GatherDot.apply(a, b, index_a, index_b)


def scatter_softmax(logits: Tensor, index: Tensor, dim_size: int, weights: Tensor | None = None) -> Tensor:
    """Softmax of ``logits [E, ...]`` over the rows sharing an ``index`` (the edges of one receiver).

    With ``weights [E]`` (e.g. a cutoff envelope) each term is weighted inside the normalisation,
    ``w_e exp(a_e) / sum_k w_k exp(a_k)``, so an edge with weight zero drops out continuously; a
    receiver whose weights all vanish gets zeros, not NaN. The per-receiver maximum is
    subtracted first (it cancels) for overflow safety.
    """
    top = logits.new_full((dim_size,) + tuple(logits.shape[1:]), -torch.inf)
    expanded = index.reshape((-1,) + (1,) * (logits.dim() - 1)).expand_as(logits)
    top = top.scatter_reduce_(0, expanded, logits.detach(), "amax", include_self=True)
    terms = torch.exp(logits - top.index_select(0, index))
    if weights is not None:
        terms = terms * weights.reshape((-1,) + (1,) * (logits.dim() - 1))
    total = scatter_sum(terms, index, dim_size).index_select(0, index)
    return terms / torch.where(total > 0, total, torch.ones_like(total))
