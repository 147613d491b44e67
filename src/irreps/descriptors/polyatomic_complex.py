"""Polyatomic complexes (Khorana, Noack & Qian 2024), the "fast" representation of the published code.

Each element is an *atomic complex*: 0-cells for its Z protons and N neutrons (points drawn in
3D balls of radius 1 fm and 0.8 fm) and its Z electrons (points on a line within 2.8 fm); the
complex is stored as the sorted set of all its cell coordinates (``3 Z + 3 N + Z`` numbers), as
the published code does with ``np.union1d``. A structure's polyatomic complex is the disjoint
union of its atoms' complexes: their vectors concatenated.

What the published code does and this follows (github.com/rahulkhorana/PolyatomicComplexes,
``PolyAtomComplex.fast_build_complex``): the complex of an element is a fixed random draw kept in
a lookup table, and a structure's complex is built from its list of element symbols alone.
Atomic positions never enter, so the representation is exactly invariant to rotations,
translations and permutations of like atoms, and it is the same for every conformer of a
molecule. Differences from the published code, each named here:

- The lookup table is drawn here from a seeded generator (seed + Z), not loaded from the
  published pickle; neutron numbers are ``round(standard atomic mass) - Z`` (ASE's masses).
- Coordinates are in fm (the published values are in metres, ~1e-15); only a scale.
- Atoms are concatenated in order of atomic number (stable), not in the input's order, so any
  permutation of the atoms (not only of like atoms) leaves the vector unchanged.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from ase.data import atomic_masses

PROTON_RADIUS_FM = 1.0
NEUTRON_RADIUS_FM = 0.8
ELECTRON_RADIUS_FM = 2.8


def _ball(rng: np.random.Generator, num: int, dim: int, radius: float) -> np.ndarray:
    """``num`` points uniform in a ``dim``-ball of ``radius``."""
    v = rng.standard_normal((num, dim))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v * radius * rng.random((num, 1)) ** (1.0 / dim)


@lru_cache(maxsize=None)
def atomic_complex(z: int, seed: int = 0) -> np.ndarray:
    """Sorted cell coordinates (fm) of element ``z``'s atomic complex, length ``3 Z + 3 N + Z``."""
    if not isinstance(z, (int, np.integer)) or not 1 <= z < len(atomic_masses):
        raise ValueError(f"atomic number must be an integer in [1, {len(atomic_masses) - 1}], got {z!r}")
    z = int(z)
    neutrons = max(int(round(float(atomic_masses[z]))) - z, 0)
    rng = np.random.default_rng(seed * 1000 + z)
    cells = [_ball(rng, z, 3, PROTON_RADIUS_FM).ravel(), _ball(rng, neutrons, 3, NEUTRON_RADIUS_FM).ravel(),
             _ball(rng, z, 1, ELECTRON_RADIUS_FM).ravel()]
    out = np.sort(np.concatenate(cells))
    out.setflags(write=False)
    return out


def polyatomic_complex(numbers, seed: int = 0) -> torch.Tensor:
    """The polyatomic complex of one structure from its atomic numbers ``[num_atoms]``: float64
    ``[sum over atoms of 3 Z + 3 N + Z]``. Positions are not an input (see module docstring)."""
    numbers = np.asarray(numbers)
    if numbers.ndim != 1 or numbers.size == 0:
        raise ValueError(f"numbers must be a non-empty 1D sequence of atomic numbers, got shape {numbers.shape}")
    return torch.from_numpy(np.concatenate([atomic_complex(int(z), seed) for z in np.sort(numbers, kind="stable")]))


def polyatomic_complex_features(structures, seed: int = 0) -> torch.Tensor:
    """``[num_structures, max_length]`` float64: each structure's complex, zero-padded to the longest.

    ``structures``: ASE ``Atoms`` objects or sequences of atomic numbers."""
    vectors = [polyatomic_complex(getattr(s, "numbers", s), seed) for s in structures]
    if not vectors:
        raise ValueError("need at least one structure")
    out = torch.zeros(len(vectors), max(v.shape[0] for v in vectors), dtype=torch.float64)
    for i, v in enumerate(vectors):
        out[i, : v.shape[0]] = v
    return out
