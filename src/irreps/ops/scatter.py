"""Scatter reductions over an index (sum over the edges of a receiver, the atoms of a structure)."""

from __future__ import annotations

import torch
from torch import Tensor


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
    out = src.new_zeros((dim_size,) + tuple(src.shape[1:]))
    return out.index_add_(0, index, src)
