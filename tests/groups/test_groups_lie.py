"""GL+(n) / SL(n) layers: the polar chart, the Haar density (against the Lebesgue form of GL's Haar
measure and against left invariance, by autograd Jacobians), the Monte-Carlo integral's invariance
(statistical, 5 standard errors), and exact equivariance of the image layers when the samples move
with the image (float64, 1e-10)."""

import math

import pytest
import torch

from irreps.groups.lie import (AffineGCNN, AffineGroupConv, AffineLiftingConv, GroupSamples, MatrixLieGroup,
                               exp_symmetric, haar_log_density, polar, symmetric_basis)

ROT90 = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)  # torch.rot90 in (row, column) coordinates


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", ["GL+", "SL"])
@pytest.mark.parametrize("n", [2, 3])
def test_polar_chart_round_trip(name, n):
    group = MatrixLieGroup(name, n)
    samples = group.sample(50, 0.7, generator=_gen(0))
    group.check(samples.matrices)
    x, r = polar(samples.matrices)
    torch.testing.assert_close(exp_symmetric(x) @ r, samples.matrices, atol=1e-12, rtol=0)
    torch.testing.assert_close(x, x.mT, atol=1e-12, rtol=0)
    torch.testing.assert_close(r @ r.mT, torch.eye(n, dtype=torch.float64).expand_as(r), atol=1e-12, rtol=0)
    assert bool((torch.linalg.det(r) > 0).all())
    basis = symmetric_basis(n, name == "SL")
    assert len(basis) == n * (n + 1) // 2 - (name == "SL")
    torch.testing.assert_close(torch.einsum("aij,bij->ab", basis, basis), torch.eye(len(basis), dtype=torch.float64))
    if name == "SL":
        torch.testing.assert_close(torch.linalg.det(samples.matrices), torch.ones(50, dtype=torch.float64))
        torch.testing.assert_close(x.diagonal(dim1=-2, dim2=-1).sum(-1), torch.zeros(50, dtype=torch.float64), atol=1e-12, rtol=0)


def _element(group, u):
    """``(chart coefficients of X, angle)`` -> ``exp(X) R(angle)`` in GL+(2) / SL(2)."""
    x = torch.einsum("k,kij->ij", u[:-1], group.basis)
    c, s = torch.cos(u[-1]), torch.sin(u[-1])
    return exp_symmetric(x) @ torch.stack([torch.stack([c, -s]), torch.stack([s, c])])


def _chart(group, g):
    x, r = polar(g)
    return torch.cat([torch.einsum("ij,kij->k", x, group.basis), torch.atan2(r[1, 0], r[0, 0])[None]])


def _log_density(group, u):
    return haar_log_density(torch.einsum("k,kij->ij", u[:-1], group.basis))


def test_haar_density_matches_lebesgue_form_on_gl2():
    """Haar measure on GL(2) is ``|det g|^{-2} d(entries)``; in the chart it must be ``c * exp(haar_log_density)``."""
    group = MatrixLieGroup("GL+", 2)
    ratios = []
    for seed in range(8):
        u = torch.randn(4, dtype=torch.float64, generator=_gen(seed)) * torch.tensor([0.8, 0.8, 0.8, 2.0], dtype=torch.float64)
        jac = torch.autograd.functional.jacobian(lambda v: _element(group, v).flatten(), u)
        lebesgue = jac.det().abs() * torch.linalg.det(_element(group, u)).abs() ** -2
        ratios.append(lebesgue / _log_density(group, u).exp())
    ratios = torch.stack(ratios)
    torch.testing.assert_close(ratios, ratios[0].expand_as(ratios), atol=0, rtol=1e-10)


@pytest.mark.parametrize("name", ["GL+", "SL"])
def test_haar_density_is_left_invariant(name):
    """``rho(chart(a g)) |d chart(a g) / d chart(g)| = rho(chart(g))`` for random a, g."""
    group = MatrixLieGroup(name, 2)
    for seed in range(6):
        a = group.sample(1, 0.6, generator=_gen(100 + seed)).matrices[0]
        u = torch.cat([0.6 * torch.randn(len(group.basis), dtype=torch.float64, generator=_gen(seed)),
                       torch.tensor([0.3 + seed], dtype=torch.float64)])
        moved = lambda v: _chart(group, a @ _element(group, v))  # noqa: E731
        jac = torch.autograd.functional.jacobian(moved, u)
        lhs = _log_density(group, moved(u)) + jac.det().abs().log()
        torch.testing.assert_close(lhs, _log_density(group, u), atol=1e-10, rtol=0)


def _mc_integral(group, a, samples, use_density=True):
    """Weighted mean of ``phi(a h_j)`` and its standard error; phi decays in the symmetric part."""
    x, r = polar(a @ samples.matrices)
    phi = torch.exp(-0.5 * (x**2).sum((-2, -1)) / 0.3**2) * (1.5 + r[:, 0, 0] + 0.5 * r[:, 1, 0])
    log_w = samples.log_weights if use_density else samples.log_weights - haar_log_density(polar(samples.matrices)[0])
    values = log_w.exp() * phi
    return values.mean(), values.std() / math.sqrt(len(values))


@pytest.mark.parametrize("name", ["GL+", "SL"])
def test_monte_carlo_integral_is_left_invariant_in_expectation(name):
    """Statistical: ``E[mean w_j phi(a h_j)]`` does not depend on a (5 standard errors, 40k samples,
    fixed seeds); dropping the sinh factor of the Haar density makes the same check fail (about 11
    standard errors for these seeds)."""
    group = MatrixLieGroup(name, 2)
    a = torch.tensor([[2.2, 0.6], [0.0, 0.6]], dtype=torch.float64)
    if name == "SL":
        a = a / torch.linalg.det(a).sqrt()
    eye = torch.eye(2, dtype=torch.float64)
    first, second = group.sample(40_000, 0.5, generator=_gen(1)), group.sample(40_000, 0.5, generator=_gen(2))
    plain, moved = _mc_integral(group, eye, first), _mc_integral(group, a, second)
    assert abs(plain[0] - moved[0]) < 5 * math.hypot(plain[1], moved[1])
    wrong_plain, wrong_moved = _mc_integral(group, eye, first, False), _mc_integral(group, a, second, False)
    assert abs(wrong_plain[0] - wrong_moved[0]) > 5 * math.hypot(wrong_plain[1], wrong_moved[1])


@pytest.mark.parametrize("name", ["GL+", "SL"])
def test_layers_are_exactly_equivariant_when_samples_move(name):
    group = MatrixLieGroup(name, 2)
    torch.manual_seed(0)
    samples = group.sample(5, 0.4, generator=_gen(3))
    moved = samples.left_translate(ROT90)
    img = torch.randn(2, 2, 11, 11, dtype=torch.float64, generator=_gen(4))
    lift = AffineLiftingConv(group, 2, 3, kernel_size=5).double()
    conv = AffineGroupConv(group, 3, 2, kernel_size=3).double()
    rot = lambda t: torch.rot90(t, 1, (-2, -1))  # noqa: E731
    features = lift(img, samples)
    torch.testing.assert_close(lift(rot(img), moved), rot(features), atol=1e-10, rtol=0)
    torch.testing.assert_close(conv(rot(features), moved), rot(conv(features, samples)), atol=1e-10, rtol=0)
    for norm in ("batch", "layer"):
        model = AffineGCNN(name, in_channels=2, channels=(3, 4), kernel_size=3, num_samples=5, norm=norm)
        model = model.double().eval()
        torch.testing.assert_close(model(rot(img), moved), model(img, samples), atol=1e-10, rtol=0)
        # the samples must move too: with the old ones the output changes
        assert (model(rot(img), samples) - model(img, samples)).abs().max() > 1e-6


@pytest.mark.parametrize("name", ["GL+", "SL"])
def test_group_conv_weights_are_normalised(name):
    """For each output sample, the weights over the input samples times ``|det g_i|`` lie in [0, 1]
    and sum to 1, also for a draw holding one sample far in the tail (importance weight ~ 1e9)."""
    group = MatrixLieGroup(name, 2)
    conv = AffineGroupConv(group, 1, 1, kernel_size=3).double()
    samples = group.sample(6, 0.2, generator=_gen(7))
    far = torch.tensor([20.0, 0, 0, 0, 0, 0], dtype=torch.float64)
    tail = GroupSamples(samples.matrices, samples.log_weights + far)
    for draw in (samples, tail):
        relative = torch.linalg.inv(draw.matrices)[:, None] @ draw.matrices[None]
        weights = conv.integration_weights(draw, relative, group.coordinates(relative))
        weights = weights * torch.linalg.det(draw.matrices).abs()[:, None]
        assert bool(((weights >= 0) & (weights <= 1)).all())
        torch.testing.assert_close(weights.sum(1), torch.ones(6, dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["GL+", "SL"])
def test_group_conv_output_scale_is_stable_over_draws(name):
    """The Haar importance weights have infinite mean (Pareto tail), so with raw weights the feature
    scale follows the largest weight in the draw: over these 30 draws the output's standard
    deviation spans a factor of about 30 with raw weights, under 3 self-normalised."""
    group = MatrixLieGroup(name, 2)
    torch.manual_seed(0)
    conv = AffineGroupConv(group, 3, 4, kernel_size=3).double()
    features = torch.randn(4, 3, 8, 9, 9, dtype=torch.float64, generator=_gen(1))
    with torch.no_grad():
        draws = [group.sample(8, 0.2, generator=_gen(seed)) for seed in range(30)]
        stds = torch.stack([(conv(features, draw) - conv.bias[:, None, None, None]).std() for draw in draws])
    assert stds.max() / stds.min() < 6


def test_training_step_float32():
    model = AffineGCNN("SL", channels=(3, 4), kernel_size=3, num_samples=4)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 9, 9)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown Lie group"):
        MatrixLieGroup("SO", 2)
    with pytest.raises(ValueError, match="det > 0"):
        MatrixLieGroup("GL+", 2).check(torch.diag(torch.tensor([1.0, -1.0])))
    with pytest.raises(ValueError, match="det = 1"):
        MatrixLieGroup("SL", 2).check(2 * torch.eye(2))
    with pytest.raises(ValueError, match="unknown norm 'instance'"):
        AffineGCNN("SL", norm="instance")
    with pytest.raises(ValueError, match="odd"):
        AffineLiftingConv("GL+", 1, 1, kernel_size=4)
    with pytest.raises(ValueError, match="n = 2"):
        AffineLiftingConv(MatrixLieGroup("SL", 3), 1, 1)
    samples = MatrixLieGroup("SL", 2).sample(3)
    with pytest.raises(ValueError, match=r"expects \[batch, 2, 3, X, Y\]"):
        AffineGroupConv("SL", 2, 1)(torch.zeros(1, 2, 4, 8, 8), samples)
    with pytest.raises(ValueError, match="det = 1"):
        AffineLiftingConv("SL", 1, 1)(torch.zeros(1, 1, 8, 8), GroupSamples(2 * samples.matrices, samples.log_weights))
