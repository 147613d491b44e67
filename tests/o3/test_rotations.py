import math

import pytest
import torch

from irreps import o3


@pytest.fixture
def rotations(generator):
    return o3.random_rotation(64, generator=generator, dtype=torch.float64)


def test_random_rotations_are_proper_and_reproducible(rotations):
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(rotations @ rotations.transpose(-1, -2), eye.expand_as(rotations), atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rotations), torch.ones(64, dtype=torch.float64))
    a = o3.random_rotation(2, generator=torch.Generator().manual_seed(5))
    b = o3.random_rotation(2, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_random_rotations_are_uniform(generator):
    # Haar measure: E[R] = 0 and E[R_ij^2] = 1/3.
    R = o3.random_rotation(20000, generator=generator, dtype=torch.float64)
    assert R.mean(0).abs().max() < 0.02
    assert (R.pow(2).mean(0) - 1 / 3).abs().max() < 0.02


def test_conversion_round_trips(rotations):
    torch.testing.assert_close(o3.angles_to_matrix(*o3.matrix_to_angles(rotations)), rotations, atol=1e-12, rtol=0)
    torch.testing.assert_close(o3.quaternion_to_matrix(o3.matrix_to_quaternion(rotations)), rotations, atol=1e-12, rtol=0)
    axis, angle = o3.matrix_to_axis_angle(rotations)
    torch.testing.assert_close(o3.axis_angle_to_matrix(axis, angle), rotations, atol=1e-12, rtol=0)
    torch.testing.assert_close(o3.angles_to_matrix(*o3.quaternion_to_angles(o3.angles_to_quaternion(*o3.matrix_to_angles(rotations)))), rotations, atol=1e-12, rtol=0)


def test_special_rotations():
    pi = torch.tensor(math.pi, dtype=torch.float64)
    # angle pi about z: Shepperd's branch choice must still be exact
    R = o3.axis_angle_to_matrix(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), pi)
    torch.testing.assert_close(o3.quaternion_to_matrix(o3.matrix_to_quaternion(R)), R, atol=1e-12, rtol=0)
    torch.testing.assert_close(o3.matrix_y(pi / 2) @ torch.tensor([0.0, 0, 1], dtype=torch.float64), torch.tensor([1.0, 0, 0], dtype=torch.float64), atol=1e-15, rtol=0)
    torch.testing.assert_close(o3.matrix_x(pi / 2) @ torch.tensor([0.0, 1, 0], dtype=torch.float64), torch.tensor([0.0, 0, 1], dtype=torch.float64), atol=1e-15, rtol=0)
    axis, angle = o3.matrix_to_axis_angle(torch.eye(3, dtype=torch.float64))
    assert angle == 0 and torch.isfinite(axis).all()
    # angles at the poles (beta = 0, pi) still reproduce the matrix
    for beta in (0.0, math.pi, 1e-9, math.pi - 1e-9):
        t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
        R = o3.angles_to_matrix(t(0.3), t(beta), t(-1.1))
        torch.testing.assert_close(o3.angles_to_matrix(*o3.matrix_to_angles(R)), R, atol=1e-12, rtol=0)


def test_rotation_to_polar_axis(generator):
    v = torch.randn(200, 3, generator=generator, dtype=torch.float64)
    poles = torch.tensor([[0, 1, 0], [0, -1, 0], [1e-9, 1, 0], [0, -1, 1e-12], [1e-7, -3, -1e-7], [2, 0, 0]], dtype=torch.float64)
    v = torch.cat([v, poles])
    R = o3.rotation_to_polar_axis(v)
    y = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    u = torch.nn.functional.normalize(v, dim=-1)
    torch.testing.assert_close((R @ u[..., None])[..., 0], y.expand_as(u), atol=1e-12, rtol=0)
    torch.testing.assert_close(R @ R.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand_as(R), atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(len(v), dtype=torch.float64))
    torch.testing.assert_close(R[200], torch.eye(3, dtype=torch.float64))  # +y: identity


def test_rotation_to_polar_axis_gradients_finite_at_poles():
    v = torch.tensor([[0, 1, 0], [0, -1, 0], [1e-12, -1, 0], [0, 0, 0]], dtype=torch.float64, requires_grad=True)
    R = o3.rotation_to_polar_axis(v)
    (g,) = torch.autograd.grad(R.pow(2).sum() + R[..., 0, 2].sum(), v)
    assert torch.isfinite(g).all()
    w = torch.tensor([[0.3, 0.8, -0.2], [0.1, -0.9, 0.4]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(o3.rotation_to_polar_axis, (w,))


def test_6d_round_trip(rotations, generator):
    torch.testing.assert_close(o3.matrix_from_6d(o3.matrix_to_6d(rotations)), rotations, atol=1e-12, rtol=0)
    d6 = torch.randn(32, 6, generator=generator, dtype=torch.float64)
    R = o3.matrix_from_6d(d6)
    torch.testing.assert_close(R @ R.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand_as(R), atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(32, dtype=torch.float64))
    # Gram-Schmidt keeps the direction of the first vector and the plane of the first two.
    torch.testing.assert_close(R[..., :, 0], torch.nn.functional.normalize(d6[..., :3], dim=-1))
    assert (R[..., :, 1] * d6[..., 3:]).sum(-1).min() > 0
    torch.testing.assert_close(o3.matrix_from_6d(o3.matrix_to_6d(R)), R, atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "fn, shape",
    [(o3.matrix_to_6d, (3, 3)), (o3.matrix_from_6d, (5,)), (o3.quaternion_to_matrix, (3,)), (o3.rotation_to_polar_axis, (4,)), (o3.matrix_to_quaternion, (2, 3))],
)
def test_shape_errors(fn, shape):
    with pytest.raises(ValueError):
        fn(torch.zeros(*shape) if shape != (3, 3) else torch.zeros(4, 4))
