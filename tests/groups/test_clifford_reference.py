"""Cl(p, q, r) against the `clifford` package (pygae), an independent implementation.

`clifford` is not a test dependency (it pulls numba, whose first calls compile for ~1 minute): this
module skips without it and is marked slow. Run it with ``pip install '.[clifford-reference]'`` (in
a virtualenv of its own if numba would change the environment) and ``pytest -m slow``.
"""

import numpy as np
import pytest
import torch

from irreps.groups.clifford import CliffordAlgebra

clifford = pytest.importorskip("clifford")

SIGNATURES = [(3, 0, 0), (1, 3, 0), (2, 2, 0), (0, 3, 0), (3, 0, 1), (2, 1, 2), (5, 0, 0)]


def _reference(sig):
    p, q, r = sig
    layout, _ = clifford.Cl(sig=[1] * p + [-1] * q + [0] * r, firstIdx=0)
    alg = CliffordAlgebra(*sig)
    # clifford's blade order may differ: map our index -> theirs through the blade tuples
    theirs = {tuple(t): i for i, t in enumerate(layout.bladeTupList)}
    perm = np.array([theirs[b] for b in alg.blades])
    return alg, layout, perm


def _to_ours(mv, perm):
    return torch.from_numpy(np.asarray(mv.value)[perm].astype(np.float64))


@pytest.mark.slow
@pytest.mark.parametrize("sig", SIGNATURES)
def test_products_and_involutions_match_clifford(sig):
    alg, layout, perm = _reference(sig)
    rng = np.random.default_rng(0)
    for _ in range(3):
        a_np, b_np = rng.normal(size=(2, alg.num_blades))
        a_ref, b_ref = layout.MultiVector(np.zeros(alg.num_blades)), layout.MultiVector(np.zeros(alg.num_blades))
        a_ref.value[perm], b_ref.value[perm] = a_np, b_np
        a, b = torch.from_numpy(a_np), torch.from_numpy(b_np)
        checks = [
            (alg.geometric_product(a, b), a_ref * b_ref),
            (alg.outer_product(a, b), a_ref ^ b_ref),
            (alg.inner_product(a, b), a_ref << b_ref),
            (alg.reversion(a), ~a_ref),
            (alg.grade_involution(a), a_ref.gradeInvol()),
        ]
        for ours, ref in checks:
            torch.testing.assert_close(ours, _to_ours(ref, perm), atol=1e-12, rtol=1e-12)
