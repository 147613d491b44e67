"""Radial bases and cutoff functions: values against closed forms, smoothness, edge cases."""

import copy
import math

import pytest
import torch

from irreps.ops.cutoff import cosine_cutoff, polynomial_cutoff
from irreps.ops.radial import BesselBasis, ExpNormalBasis, GaussianBasis


def test_cosine_cutoff_values_and_vanishing_slope():
    r = torch.tensor([0.0, 2.5, 5.0, 6.0], dtype=torch.float64, requires_grad=True)
    f = cosine_cutoff(r, 5.0)
    torch.testing.assert_close(f.detach(), torch.tensor([1.0, 0.5, 0.0, 0.0], dtype=torch.float64))
    (slope,) = torch.autograd.grad(f.sum(), r)
    assert abs(slope[2].item()) < 1e-12 and slope[3].item() == 0.0


@pytest.mark.parametrize("p", [3, 6])
def test_polynomial_cutoff_is_c2_at_the_cutoff(p):
    c = 4.0
    r = torch.tensor([c - 1e-7, c + 1e-7], dtype=torch.float64, requires_grad=True)
    f = polynomial_cutoff(r, c, p)
    (d1,) = torch.autograd.grad(f.sum(), r, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), r)
    assert f.abs().max() < 1e-10 and d1.abs().max() < 1e-5 and d2.abs().max() < 1e-3
    assert polynomial_cutoff(torch.tensor(0.0), c, p).item() == 1.0
    with pytest.raises(ValueError, match="exponent"):
        polynomial_cutoff(r, c, 0)


def test_expnormal_matches_physnet_formula():
    basis = ExpNormalBasis(8, 5.0).double()
    r = torch.linspace(0.1, 6.0, 13, dtype=torch.float64)
    start = math.exp(-5.0)
    means = torch.linspace(start, 1.0, 8, dtype=torch.float64)
    beta = (2 / 8 * (1 - start)) ** -2
    fc = torch.where(r < 5.0, 0.5 * (torch.cos(math.pi * r / 5.0) + 1), torch.zeros_like(r))
    expected = fc[:, None] * torch.exp(-beta * (torch.exp(-r[:, None]) - means) ** 2)
    torch.testing.assert_close(basis(r), expected)
    assert basis(r).shape == (13, 8)


def test_gaussian_and_bessel_closed_forms():
    r = torch.tensor([0.0, 0.7, 3.1], dtype=torch.float64)
    gauss = GaussianBasis(5, 4.0).double()
    torch.testing.assert_close(gauss(r)[:, 2], torch.exp(-0.5 * ((r - 2.0) / 1.0) ** 2))
    bessel = BesselBasis(4, 4.0).double()
    k = torch.arange(1, 5, dtype=torch.float64) * math.pi / 4.0
    torch.testing.assert_close(bessel(r[1:]), math.sqrt(0.5) * torch.sin(k * r[1:, None]) / r[1:, None])
    torch.testing.assert_close(bessel(r[:1])[0], math.sqrt(0.5) * k)  # the r -> 0 limit, finite


def test_trainable_bases_have_parameters_and_bad_sizes_raise():
    assert len(list(GaussianBasis(4, 3.0, trainable=True).parameters())) == 2
    assert len(list(ExpNormalBasis(4, 3.0).parameters())) == 0
    with pytest.raises(ValueError, match="num_basis"):
        BesselBasis(0, 3.0)
    with pytest.raises(ValueError, match="cutoff"):
        GaussianBasis(3, -1.0)


@pytest.mark.parametrize("basis", [ExpNormalBasis(32, 5.0), GaussianBasis(32, 5.0)], ids=["expnormal", "gaussian"])
def test_float32_bases_hold_no_tiny_values_and_match_the_unflushed_formula(basis):
    # Subnormal features make every matrix product that reads them take the CPU's slow path
    # (400x in bench_ab): values below sqrt(tiny) are set to 0, a change far below rounding.
    r = torch.linspace(0.05, 5.5, 2001)
    values = basis(r)
    tiny = math.sqrt(torch.finfo(torch.float32).tiny)
    assert not ((values != 0) & (values.abs() < tiny)).any()
    raw = copy.deepcopy(basis).double()(r.double())  # float64 features of the same radii hold the unflushed values
    assert ((raw > 0) & (raw < torch.finfo(torch.float32).tiny)).any()  # the case the flush exists for
    assert (values.double() - raw).abs().max() < 1e-6 and (values.double() - raw)[raw < tiny].abs().max() < tiny


def test_flush_underflow_zeroes_only_tiny_entries_and_passes_gradients():
    from irreps.ops.radial import flush_underflow

    x = torch.tensor([1e-30, -1e-25, 1e-10, -2.0, 0.0], requires_grad=True)
    y = flush_underflow(x)
    assert y.tolist() == [0.0, 0.0, x[2].item(), -2.0, 0.0]
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert grad.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]
    x64 = torch.tensor([1e-200, 1e-100], dtype=torch.float64)
    assert flush_underflow(x64).tolist() == [0.0, 1e-100]
