"""Learned canonicalisation: the polar frame is the orbit-distance minimiser and equivariant (O(d), SO(d),
O(1, 3)); wrapped backbones are exactly E(d)- and permutation-invariant or equivariant."""

import numpy as np
import pytest
import scipy.linalg
import torch

from groups_helpers import random_element
from point_cloud_helpers import FlatMLP
from irreps.groups.clifford import CliffordAlgebra, random_pseudo_orthogonal
from irreps.groups.symmetrize import Canonicalized, PointCloudCanonicalizer, orbit_distance, polar_frame

N = 7
LORENTZ = torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=torch.float64)


def _g(group, d, seed):
    return torch.from_numpy(random_element(group, d, np.random.default_rng(seed)))


def test_polar_frame_is_the_nearest_orthogonal_matrix():
    z = torch.randn(5, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    h = polar_frame(z)
    for i in range(5):
        torch.testing.assert_close(h[i], torch.from_numpy(scipy.linalg.polar(z[i].numpy())[0]), atol=1e-12, rtol=0)
    best = ((z - h) ** 2).sum((-1, -2))
    for seed in range(20):  # no other orthogonal matrix is closer
        assert (((z - _g("O", 3, seed)) ** 2).sum((-1, -2)) >= best - 1e-12).all()
    torch.testing.assert_close(orbit_distance(z, h), ((torch.linalg.solve(h, z) - torch.eye(3)) ** 2).sum((-1, -2)))


@pytest.mark.parametrize("group", ["O", "SO"])
def test_polar_frame_is_equivariant(group):
    z = torch.randn(4, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    g = _g(group, 3, 2)
    h = polar_frame(z, group=group)
    torch.testing.assert_close(polar_frame(g @ z, group=group), g @ h, atol=1e-12, rtol=0)
    if group == "SO":
        torch.testing.assert_close(torch.linalg.det(h), torch.ones(4, dtype=torch.float64))


def test_generalised_polar_frame_for_the_lorentz_group():
    alg = CliffordAlgebra(1, 3)
    eta = torch.diag(LORENTZ)
    base = random_pseudo_orthogonal(alg, torch.Generator().manual_seed(3))
    z = base @ (torch.eye(4, dtype=torch.float64) + 0.2 * torch.randn(3, 4, 4, dtype=torch.float64,
                                                                        generator=torch.Generator().manual_seed(4)))
    h = polar_frame(z, LORENTZ)
    torch.testing.assert_close(h.transpose(1, 2) @ eta @ h, eta.expand(3, 4, 4), atol=1e-10, rtol=0)
    for seed in range(3):  # boosts and reflections
        g = random_pseudo_orthogonal(alg, torch.Generator().manual_seed(10 + seed))
        torch.testing.assert_close(polar_frame(g @ z, LORENTZ), g @ h, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(polar_frame(base[None], LORENTZ)[0], base, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(orbit_distance(base, base), torch.tensor(0.0, dtype=torch.float64), atol=1e-20, rtol=0)


def _model(d=3, out=5, **kwargs):
    torch.manual_seed(1)
    return Canonicalized(FlatMLP(d, out), PointCloudCanonicalizer(d).double(), **kwargs)


@pytest.mark.parametrize("group", ["O", "SO"])
def test_canonicalized_backbone_is_exactly_e3_and_permutation_invariant(group):
    pos = torch.randn(4, N, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    model = _model(group=group, sort_points=True)
    g, shift, perm = _g(group, 3, 6), torch.randn(3, dtype=torch.float64), torch.randperm(N)
    torch.testing.assert_close(model(pos[:, perm] @ g.T + shift), model(pos), atol=1e-10, rtol=0)
    if group == "SO":  # chirality is kept
        assert (model(pos * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)) - model(pos)).abs().max() > 1e-4


def test_equivariant_mode_rotates_outputs_back():
    pos = torch.randn(3, N, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    model = _model(out=2 * 3, mode="equivariant", sort_points=True)
    model.backbone.net.append(torch.nn.Unflatten(1, (2, 3)))
    g, shift = _g("O", 3, 8), torch.randn(3, dtype=torch.float64)
    torch.testing.assert_close(model(pos @ g.T + shift), model(pos) @ g.T, atol=1e-10, rtol=0)


def test_without_canonicalisation_or_sorting_the_backbone_is_not_invariant():
    pos = torch.randn(2, N, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    model = _model()
    assert (model(pos[:, torch.randperm(N)]) - model(pos)).abs().max() > 1e-4  # sort_points=False
    g = _g("O", 3, 10)
    assert (model.backbone(pos @ g.T) - model.backbone(pos)).abs().max() > 1e-3


def test_gradients_reach_the_canonicalizer_through_task_and_orbit_distance_losses():
    pos = torch.randn(4, N, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    model = _model(sort_points=True)
    z, h = model.frame(pos)
    (model(pos).pow(2).mean() + orbit_distance(z, h).mean()).backward()
    grads = [p.grad for p in model.canonicalizer.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_bad_input_raises():
    with pytest.raises(ValueError, match="singular"):
        polar_frame(torch.zeros(3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="metric must be"):
        polar_frame(torch.eye(3), torch.tensor([1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="Euclidean metric"):
        polar_frame(torch.eye(4, dtype=torch.float64), LORENTZ, group="SO")
    with pytest.raises(ValueError, match="did not converge"):
        polar_frame(torch.eye(4, dtype=torch.float64)[[1, 0, 2, 3]], LORENTZ)  # swaps time and space: no frame
    with pytest.raises(ValueError, match="mode must be"):
        _model(mode="both")
    with pytest.raises(ValueError, match="NaN"):
        _model()(torch.full((1, N, 3), float("nan"), dtype=torch.float64))
    collinear = torch.linspace(0, 1, N, dtype=torch.float64)[None, :, None] * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="singular"):
        _model()(collinear)


@pytest.mark.parametrize("metric", [None, LORENTZ])
def test_frame_gradients_match_finite_differences(metric):
    d = 3 if metric is None else 4
    z = torch.eye(d, dtype=torch.float64) + 0.3 * torch.randn(1, d, d, dtype=torch.float64,
                                                              generator=torch.Generator().manual_seed(12))
    z.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda m: polar_frame(m, metric), (z,))
