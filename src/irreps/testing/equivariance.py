"""Public helpers that check O(3) equivariance numerically (float64, random rotations and inversion).

Use them in tests of any layer or model::

    from irreps.testing import assert_equivariant
    assert_equivariant(layer, layer.irreps_in, layer.irreps_out)
"""

from __future__ import annotations

from typing import Callable, Sequence, Union

import torch
from torch import Tensor

from irreps.o3 import Irreps, random_rotation

IrrepsSpec = Union[Irreps, str, None]
CartesianSpec = Union[Irreps, str]


def _as_list(spec, n: int | None = None) -> list:
    if isinstance(spec, (list, tuple)):
        return list(spec)
    return [spec] if n is None else [spec] * n


def _transform(x: Tensor, irreps: IrrepsSpec, R: Tensor) -> Tensor:
    if irreps is None:
        return x
    irreps = Irreps(irreps)
    if x.shape[-1] != irreps.dim:
        raise ValueError(f"tensor of last dimension {x.shape[-1]} does not match irreps {irreps} (dim {irreps.dim})")
    return x @ irreps.D_from_matrix(R).to(x.dtype).T


def _group_elements(num: int, inversion: bool, generator: torch.Generator, dtype) -> list[Tensor]:
    rotations = list(random_rotation(num, generator=generator, dtype=dtype))
    elements = rotations
    if inversion:
        elements = elements + [-torch.eye(3, dtype=dtype)] + [-R for R in rotations]
    return elements


def _compare(actual, expected, atol: float, what: str) -> float:
    actual = _as_list(actual) if isinstance(actual, (list, tuple)) else [actual]
    expected = _as_list(expected) if isinstance(expected, (list, tuple)) else [expected]
    worst = 0.0
    for i, (a, e) in enumerate(zip(actual, expected)):
        err = (a - e).abs().max().item() if a.numel() else 0.0
        worst = max(worst, err)
        if not err <= atol:
            raise AssertionError(f"not equivariant under {what}: output {i} differs by {err:.3e} (atol {atol:.1e})")
    return worst


def assert_equivariant(
    fn: Callable[..., Union[Tensor, Sequence[Tensor]]],
    irreps_in: Union[IrrepsSpec, Sequence[IrrepsSpec]],
    irreps_out: Union[IrrepsSpec, Sequence[IrrepsSpec]],
    inputs: Sequence[Tensor] | None = None,
    *,
    batch_size: int = 4,
    num_rotations: int = 3,
    inversion: bool = True,
    atol: float = 1e-10,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> float:
    """Check ``fn(D_in(g) x) == D_out(g) fn(x)`` for random rotations, the inversion and rotoinversions.

    Parameters
    ----------
    fn : callable
        Takes one tensor per entry of ``irreps_in`` and returns a tensor or a tuple of tensors.
        A module must already be in ``dtype`` (e.g. ``module.double()``).
    irreps_in, irreps_out : Irreps, str, None or a sequence of them
        Layout of the last dimension of each input/output; ``None`` marks an argument/output that
        does not transform (indices, invariant metadata).
    inputs : sequence of Tensor, optional
        Inputs to use; by default standard normal ``[batch_size, dim]`` tensors.
    num_rotations : int
        Random rotations ``R`` tried; with ``inversion`` also ``-I`` and every ``-R``.
    atol : float
        Absolute tolerance (float64 default 1e-10; use ~1e-5 for float32).

    Returns
    -------
    float
        The largest deviation seen (raises ``AssertionError`` naming the failing element otherwise).
    """
    generator = generator or torch.Generator().manual_seed(0)
    specs_in = _as_list(irreps_in)
    if inputs is None:
        if any(s is None for s in specs_in):
            raise ValueError("assert_equivariant: pass `inputs` when an input has irreps None")
        inputs = [Irreps(s).randn(batch_size, generator=generator, dtype=dtype) for s in specs_in]
    if len(inputs) != len(specs_in):
        raise ValueError(f"assert_equivariant: {len(inputs)} inputs for {len(specs_in)} irreps_in entries")
    out = fn(*inputs)
    multi = isinstance(out, (list, tuple))
    outs = list(out) if multi else [out]
    specs_out = _as_list(irreps_out, len(outs) if not isinstance(irreps_out, (list, tuple)) else None)
    if len(specs_out) != len(outs):
        raise ValueError(f"assert_equivariant: {len(outs)} outputs for {len(specs_out)} irreps_out entries")
    worst = 0.0
    for k, g in enumerate(_group_elements(num_rotations, inversion, generator, dtype)):
        moved = fn(*[_transform(x, s, g) for x, s in zip(inputs, specs_in)])
        moved = list(moved) if multi else [moved]
        expected = [_transform(y, s, g) for y, s in zip(outs, specs_out)]
        what = f"group element {k} (det {torch.linalg.det(g).item():+.0f})"
        worst = max(worst, _compare(moved, expected, atol, what))
    return worst


def assert_equivariant_positions(
    fn: Callable[[Tensor], Union[Tensor, Sequence[Tensor]]],
    positions: Tensor,
    outputs: Union[CartesianSpec, Sequence[CartesianSpec]],
    *,
    num_rotations: int = 3,
    inversion: bool = True,
    translation: bool = True,
    atol: float = 1e-10,
    generator: torch.Generator | None = None,
) -> float:
    """Check a function of Cartesian positions: rotation, inversion and translation behaviour.

    Parameters
    ----------
    fn : callable
        ``fn(positions [num_atoms, 3]) -> tensor or tuple of tensors``.
    positions : Tensor [num_atoms, 3]
        Float64 positions to test at.
    outputs : spec or sequence of specs, one per output
        ``Irreps`` (or string) for the last dimension (``"0e"`` energy, ``"1o"`` forces/dipoles);
        ``"cartesian2"`` for a rank-2 Cartesian tensor in the last two dimensions, transforming as
        ``R T R^T`` (stress, polarisability, Hessian blocks).
    translation : bool
        Also check that every output is unchanged by a random translation.

    Returns
    -------
    float
        Largest deviation seen (``AssertionError`` otherwise).
    """
    generator = generator or torch.Generator().manual_seed(0)
    if positions.shape[-1:] != (3,):
        raise ValueError(f"assert_equivariant_positions: positions must be [num_atoms, 3], got {tuple(positions.shape)}")
    out = fn(positions)
    multi = isinstance(out, (list, tuple))
    outs = list(out) if multi else [out]
    specs = _as_list(outputs, len(outs) if not isinstance(outputs, (list, tuple)) else None)
    if len(specs) != len(outs):
        raise ValueError(f"assert_equivariant_positions: {len(outs)} outputs for {len(specs)} specs")

    def transform(y: Tensor, spec: CartesianSpec, R: Tensor) -> Tensor:
        if spec == "cartesian2":
            return R @ y @ R.T
        return _transform(y, spec, R)

    worst = 0.0
    for k, g in enumerate(_group_elements(num_rotations, inversion, generator, positions.dtype)):
        moved = fn(positions @ g.T)
        moved = list(moved) if multi else [moved]
        expected = [transform(y, s, g) for y, s in zip(outs, specs)]
        worst = max(worst, _compare(moved, expected, atol, f"group element {k} (det {torch.linalg.det(g).item():+.0f})"))
    if translation:
        shift = torch.randn(3, generator=generator, dtype=positions.dtype)
        moved = fn(positions + shift)
        worst = max(worst, _compare(list(moved) if multi else moved, outs if multi else outs[0], atol, "translation"))
    return worst
