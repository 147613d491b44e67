import pytest
import torch

from irreps import o3


@pytest.fixture
def rotations(generator):
    return o3.random_rotation(2, 4, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("l", [0, 1, 2, 5, 12])
def test_homomorphism_and_orthogonality(l, rotations):
    R1, R2 = rotations
    D1, D2, D12 = (o3.wigner_D_from_matrix(l, R) for R in (R1, R2, R1 @ R2))
    torch.testing.assert_close(D12, D1 @ D2, atol=1e-10, rtol=0)
    eye = torch.eye(2 * l + 1, dtype=torch.float64).expand_as(D1)
    torch.testing.assert_close(D1 @ D1.transpose(-1, -2), eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(D1), torch.ones(4, dtype=torch.float64), atol=1e-10, rtol=0)


def test_l1_is_the_rotation_matrix(rotations):
    torch.testing.assert_close(o3.wigner_D_from_matrix(1, rotations), rotations, atol=1e-13, rtol=0)
    torch.testing.assert_close(o3.wigner_D(1, *o3.matrix_to_angles(rotations)), rotations, atol=1e-13, rtol=0)


def test_parametrisations_agree(rotations):
    q = o3.matrix_to_quaternion(rotations)
    torch.testing.assert_close(o3.wigner_D_from_quaternion(6, q), o3.wigner_D_from_matrix(6, rotations), atol=1e-12, rtol=0)
    a, b, c = o3.matrix_to_angles(rotations)
    torch.testing.assert_close(o3.wigner_D(6, a, b, c), o3.polar_rotation_D(6, a) @ o3.wigner_D(6, 0 * a, b, 0 * c) @ o3.polar_rotation_D(6, c), atol=1e-12, rtol=0)


def test_polar_rotation_closed_form():
    a = torch.tensor(0.7, dtype=torch.float64)
    D = o3.polar_rotation_D(3, a)
    assert D[3 + 2, 3 + 2] == torch.cos(2 * a) and D[3 + 2, 3 - 2] == -torch.sin(2 * a) and D[3 - 2, 3 + 2] == torch.sin(2 * a)


def test_rotating_harmonics_at_l12(generator, rotations):
    # The defining property, with D from Euler angles (the matrix path is covered in test_spherical_harmonics).
    x = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    R = rotations[0, 0]
    D = o3.wigner_D(12, *o3.matrix_to_angles(R))
    torch.testing.assert_close(o3.spherical_harmonics(12, x @ R.T), o3.spherical_harmonics(12, x) @ D.T, atol=1e-10, rtol=0)


@pytest.fixture
def float64_default():
    # e3nn builds its generators in the default dtype; float64 makes it an exact reference.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def test_agrees_with_e3nn(generator, float64_default):
    e3nn_o3 = pytest.importorskip("e3nn.o3", reason="e3nn is the independent reference")
    a, b, c = (torch.rand(5, generator=generator, dtype=torch.float64) * 6 for _ in range(3))
    for l in range(7):
        torch.testing.assert_close(o3.wigner_D(l, a, b, c), e3nn_o3.wigner_D(l, a, b, c), atol=1e-12, rtol=0)
    R = o3.random_rotation(5, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(o3.Irreps("0e+1o+2e+3o").D_from_matrix(-R), e3nn_o3.Irreps("0e+1o+2e+3o").D_from_matrix(-R), atol=1e-12, rtol=0)


def test_bad_l():
    with pytest.raises(ValueError):
        o3.wigner_D(-1, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        o3.wigner_D_from_matrix(2, torch.zeros(3, 4))


def test_from_matrix_has_finite_gradients_at_euler_singularities():
    # The identity and rotations about y are singular for YXY Euler angles; D(R) is polynomial in R.
    angles = torch.tensor([0.0, 0.7], dtype=torch.float64)
    R = o3.matrix_y(angles).requires_grad_()
    for l in range(1, 5):
        D = o3.wigner_D_from_matrix(l, R)
        torch.testing.assert_close(D.detach(), o3.wigner_D(l, angles, torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)), atol=1e-12, rtol=0)
        (g,) = torch.autograd.grad(D.pow(2).sum() + D.sum(), R)
        assert torch.isfinite(g).all()
