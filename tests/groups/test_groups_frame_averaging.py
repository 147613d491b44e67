"""Frame averaging: exact O(3)/SO(3) invariance and equivariance on generic clouds, the eigengap guard."""

import numpy as np
import pytest
import torch

from groups_helpers import random_element
from point_cloud_helpers import FlatMLP
from irreps.groups.frame_averaging import FrameAveraging, pca_frames

N = 7


class PointVectors(FlatMLP):
    """Per-point vector output from the flattened cloud."""

    def __init__(self, d: int):
        super().__init__(d, N * d)
        self.d = d

    def forward(self, pos):
        return self.net(pos.reshape(pos.shape[0], -1)).reshape(pos.shape[0], N, self.d)


def _transform(pos, group, d, seed):
    g = torch.from_numpy(random_element(group, d, np.random.default_rng(seed)))
    shift = torch.randn(d, dtype=torch.float64)
    return pos @ g.T + shift, g, shift


@pytest.mark.parametrize("group,d", [("O", 3), ("SO", 3), ("O", 2)])
def test_invariant_mode_is_exact(group, d):
    pos = torch.randn(4, N, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    model = FrameAveraging(FlatMLP(d, 5), group=group)
    moved, _, _ = _transform(pos, group, d, 1)
    torch.testing.assert_close(model(moved), model(pos), atol=1e-12, rtol=0)
    assert pca_frames(pos, group)[0].shape[1] == (2**d if group == "O" else 2 ** (d - 1))


@pytest.mark.parametrize("group", ["O", "SO"])
@pytest.mark.parametrize("translate", [False, True])
def test_equivariant_mode_is_exact(group, translate):
    pos = torch.randn(3, N, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    model = FrameAveraging(PointVectors(3), group=group, mode="equivariant", translate_output=translate)
    moved, g, shift = _transform(pos, group, 3, 3)
    expected = model(pos) @ g.T + (shift if translate else 0)
    torch.testing.assert_close(model(moved), expected, atol=1e-12, rtol=0)


def test_so3_frames_do_not_average_out_chirality():
    """The SO(3) wrapper is rotation-invariant but can tell a cloud from its mirror image."""
    pos = torch.randn(2, N, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    model = FrameAveraging(FlatMLP(3, 3), group="SO")
    mirror = pos * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    assert (model(mirror) - model(pos)).abs().max() > 1e-4


def test_without_averaging_the_backbone_is_not_invariant():
    pos = torch.randn(2, N, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    backbone = FlatMLP(3, 3)
    moved, _, _ = _transform(pos, "SO", 3, 6)
    assert (backbone(moved) - backbone(pos)).abs().max() > 1e-3


def _whitened_cloud(seed: int) -> torch.Tensor:
    """Isotropic covariance (fully degenerate) but an anisotropic norm-weighted covariance."""
    x = torch.randn(N, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    x = x - x.mean(0)
    values, vectors = torch.linalg.eigh(x.T @ x / N)
    return (x @ vectors @ torch.diag(values**-0.5) @ vectors.T)[None]


def test_guard_falls_back_to_weighted_covariance_exactly():
    pos = _whitened_cloud(7)
    model = FrameAveraging(PointVectors(3), mode="equivariant")
    moved, g, _ = _transform(pos, "O", 3, 8)
    torch.testing.assert_close(model(moved), model(pos) @ g.T, atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="degenerate covariance spectrum"):
        FrameAveraging(PointVectors(3), on_degenerate="raise")(pos)


def test_guard_fires_on_symmetric_cloud():
    cube = torch.tensor([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)],
                        dtype=torch.float64)[None]
    with pytest.raises(ValueError, match="point cloud 0: degenerate covariance and norm-weighted"):
        pca_frames(cube)
    with pytest.raises(ValueError, match="NaN"):
        pca_frames(torch.full((1, 3, 3), float("nan")))
    with pytest.raises(ValueError, match="mode"):
        FrameAveraging(FlatMLP(3, 1), mode="both")


def test_gradients_match_finite_differences_and_float32_follows_float64():
    """The frames depend on the positions too: their derivative is part of the gradient."""
    pos = torch.randn(2, N, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    model = FrameAveraging(FlatMLP(3, 1))
    leaf = pos.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(leaf).sum(), leaf)
    h = 1e-6
    expected = torch.zeros_like(pos)
    for index in np.ndindex(*pos.shape):
        step = torch.zeros_like(pos)
        step[index] = h
        expected[index] = (model(pos + step).sum() - model(pos - step).sum()) / (2 * h)
    torch.testing.assert_close(grad, expected, atol=1e-7, rtol=0)
    single = FrameAveraging(FlatMLP(3, 1).float())
    leaf32 = pos.float().requires_grad_(True)
    out = single(leaf32)
    assert out.dtype == torch.float32
    out.sum().backward()
    torch.testing.assert_close(leaf32.grad.double(), grad, atol=1e-4, rtol=1e-3)
