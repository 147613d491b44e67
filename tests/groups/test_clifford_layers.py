"""CGENN and GLGENN layers: exact O(p, q) equivariance (rotations, reflections, boosts, degenerate metrics),
GLGENN as CGENN with tied weights, parameter counts, bad input."""

import pytest
import torch

from irreps.groups.clifford import (CliffordAlgebra, CliffordRegressor, GeometricProductLayer, MultivectorGate,
                                    MultivectorLinear, MultivectorNormalization, blade_blocks, outermorphism,
                                    random_pseudo_orthogonal, versor_matrix)

SIGNATURES = [(3, 0, 0), (1, 3, 0), (2, 2, 0), (5, 0, 0), (4, 1, 0), (3, 0, 1)]
SHARING = ["grade", "quaternion"]
CHANNELS = 3


def _layers(alg, sharing):
    torch.manual_seed(0)
    layers = {
        "linear": MultivectorLinear(alg, CHANNELS, 4, sharing),
        "normalization": MultivectorNormalization(alg, CHANNELS, sharing),
        "gate": MultivectorGate(alg, CHANNELS, sharing),
        "product": GeometricProductLayer(alg, CHANNELS, sharing),
        "product_no_linear": GeometricProductLayer(alg, CHANNELS, sharing, include_linear=False),
    }
    for layer in layers.values():  # non-trivial values for the parameters initialised to constants
        for p in layer.parameters():
            p.data.normal_()
    return {k: v.double() for k, v in layers.items()}


def _features(alg, seed, dtype=torch.float64):
    return torch.randn(5, CHANNELS, alg.num_blades, dtype=dtype, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("sig", SIGNATURES)
@pytest.mark.parametrize("sharing", SHARING)
def test_every_layer_commutes_with_random_pseudo_orthogonal_maps(sig, sharing):
    """g from o(p, q) (boosts when q > 0) times random sign flips; for r > 0 also null shears."""
    alg = CliffordAlgebra(*sig)
    x = _features(alg, 1)
    for seed in range(3):
        m = outermorphism(alg, random_pseudo_orthogonal(alg, torch.Generator().manual_seed(seed)))
        for name, layer in _layers(alg, sharing).items():
            torch.testing.assert_close(layer(x @ m.T), layer(x) @ m.T, atol=1e-10, rtol=1e-10, msg=name)


@pytest.mark.parametrize("sig", [(3, 0, 0), (1, 3, 0), (4, 1, 0)])
@pytest.mark.parametrize("sharing", SHARING)
def test_every_layer_commutes_with_versor_actions(sig, sharing):
    """The Clifford-group route: rho(w) for even and odd versors w (rotations/boosts and reflections)."""
    alg = CliffordAlgebra(*sig)
    x = _features(alg, 2)
    for k in (1, 2, 3):
        vecs = torch.randn(k, alg.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(10 + k))
        m = versor_matrix(alg, alg.versor(vecs))
        for name, layer in _layers(alg, sharing).items():
            torch.testing.assert_close(layer(x @ m.T), layer(x) @ m.T, atol=1e-10, rtol=1e-10, msg=name)


@pytest.mark.parametrize("sharing", SHARING)
def test_equivariance_in_float32(sharing):
    alg = CliffordAlgebra(3)
    x = _features(alg, 3, torch.float32)
    m = outermorphism(alg, random_pseudo_orthogonal(alg, torch.Generator().manual_seed(4))).float()
    for name, layer in _layers(alg, sharing).items():
        layer = layer.float()
        torch.testing.assert_close(layer(x @ m.T), layer(x) @ m.T, atol=1e-5, rtol=1e-5, msg=name)


def test_product_layer_is_not_equivariant_to_generic_linear_maps():
    """A map that does not preserve the form breaks the geometric product: the checks above can fail."""
    alg = CliffordAlgebra(3)
    g = torch.eye(3, dtype=torch.float64) + 0.3 * torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    m = outermorphism(alg, g)
    layer = _layers(alg, "grade")["product"]
    x = _features(alg, 6)
    assert (layer(x @ m.T) - layer(x) @ m.T).abs().max() > 1e-2


@pytest.mark.parametrize("sig", [(3, 0, 0), (1, 3, 0), (5, 0, 0)])
@pytest.mark.parametrize("sharing", SHARING)
def test_regressor_is_exactly_invariant(sig, sharing):
    alg = CliffordAlgebra(*sig)
    torch.manual_seed(0)
    model = CliffordRegressor(alg, num_vectors=2, hidden_channels=4, mlp_dim=16, sharing=sharing,
                              num_product_layers=2).double()
    v = torch.randn(6, 2, alg.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    for seed in range(3):
        g = random_pseudo_orthogonal(alg, torch.Generator().manual_seed(seed))
        torch.testing.assert_close(model(v @ g.T), model(v), atol=1e-10, rtol=1e-10)
    assert (model(v * 1.5) - model(v)).abs().max() > 1e-3  # it does depend on its input


def test_glgenn_is_cgenn_with_weights_tied_across_grades_of_equal_residue_mod_4():
    """Without normalisation (GLGENN normalises whole blocks, CGENN single grades) the product layers agree."""
    alg = CliffordAlgebra(5)
    torch.manual_seed(1)
    glg = GeometricProductLayer(alg, CHANNELS, "quaternion", normalization=False).double()
    cg = GeometricProductLayer(alg, CHANNELS, "grade", normalization=False).double()
    grades = torch.arange(alg.dim + 1)
    with torch.no_grad():
        for lin_q, lin_g in ((glg.linear_right, cg.linear_right), (glg.linear_left, cg.linear_left)):
            lin_g.weight.copy_(lin_q.weight[:, :, grades % 4])
            if lin_g.bias is not None:
                lin_g.bias.copy_(lin_q.bias + 0.5)
                lin_q.bias.add_(0.5)
        # path (i, j, k) of grades in CGENN -> path (i%4, j%4, k%4) in GLGENN
        tied = torch.zeros(CHANNELS, 4, 4, 4, dtype=torch.float64)
        for e in range(len(glg.path)):
            blk = glg.block
            tied[:, blk[glg.left[e]], blk[glg.right[e]], blk[glg.out[e]]] = glg.weight[:, glg.path[e]]
        g = alg.grades
        cg.weight[:, cg.path] = tied[:, g[cg.left] % 4, g[cg.right] % 4, g[cg.out] % 4]
    x = _features(alg, 8)
    torch.testing.assert_close(cg(x), glg(x), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_parameter_counts(n):
    alg = CliffordAlgebra(n)
    blocks = {s: blade_blocks(alg, s)[1] for s in SHARING}
    assert blocks == {"grade": n + 1, "quaternion": min(4, n + 1)}
    for sharing in SHARING:
        lin = MultivectorLinear(alg, 3, 5, sharing, bias=False)
        assert sum(p.numel() for p in lin.parameters()) == 15 * blocks[sharing]
    # CGENN: one weight per grade triple (i, j, k) with k in |i-j|, |i-j|+2, ..., min(i+j, 2n-i-j)
    paths = sum((min(i + j, 2 * n - i - j) - abs(i - j)) // 2 + 1 for i in range(n + 1) for j in range(n + 1))
    assert GeometricProductLayer(alg, 2, "grade").num_paths == paths
    if n >= 4:
        assert GeometricProductLayer(alg, 2, "quaternion").num_paths < paths


def test_bad_input_raises():
    alg = CliffordAlgebra(3)
    with pytest.raises(ValueError, match="sharing must be"):
        MultivectorLinear(alg, 2, 2, "blade")
    with pytest.raises(ValueError, match=r"\[\.\.\., 2, 8\] multivector features"):
        MultivectorLinear(alg, 2, 2)(torch.zeros(4, 3, 8))
    with pytest.raises(ValueError, match="expected vectors"):
        CliffordRegressor(alg, num_vectors=2, mlp_dim=4)(torch.zeros(4, 2, 5))
    with pytest.raises(ValueError, match="positive"):
        MultivectorLinear(alg, 0, 2)


def test_product_layer_gradients_match_finite_differences():
    alg = CliffordAlgebra(2, 1)
    torch.manual_seed(2)
    layer = GeometricProductLayer(alg, 2, "grade").double()
    x = torch.randn(2, 2, alg.num_blades, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))
