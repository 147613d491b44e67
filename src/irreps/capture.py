"""Whether a graph is being captured: fast kernels then run as plain, recordable torch ops.

Several operations have a fast eager form that a graph tracer cannot record faithfully: custom
autograd functions (``torch.jit.trace`` cannot serialise them; one taking a module argument
fails outright), ``out=`` and in-place writes into preallocated buffers (chosen because the input
does not require gradients at recording time, they then break when it does), and loops over
chunks of edges (a tracer unrolls them for the recorded edge count). Inside :func:`capturing`, or
under ``torch.compile``, those operations take a plain differentiable path instead, with the same
results up to rounding. It is a leaf module so that every layer, ``o3`` included, can ask.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

_capturing = False


@contextmanager
def capturing() -> Iterator[None]:
    """Run fast kernels as plain torch ops while a graph is being captured.

    A tracer such as ``make_fx`` or ``torch.jit.trace`` then records ordinary differentiable ops
    with symbolic sizes (numbers of atoms and edges), and a compiler fuses them itself.
    """
    global _capturing
    previous, _capturing = _capturing, True
    try:
        yield
    finally:
        _capturing = previous


def composed() -> bool:
    """True inside :func:`capturing` or ``torch.compile``: fast kernels then run as plain torch ops."""
    return _capturing or torch.compiler.is_compiling()
