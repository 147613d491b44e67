import pytest
import torch

from irreps import o3
from irreps.testing import assert_equivariant, assert_equivariant_positions


def test_spherical_harmonics_pass():
    irreps = o3.Irreps.spherical_harmonics(4)
    assert assert_equivariant(lambda x: o3.spherical_harmonics(list(range(5)), x), "1o", irreps) < 1e-12


def test_cg_product_passes_and_wrong_parity_fails():
    C = o3.wigner_3j(1, 1, 2, dtype=torch.float64)
    product = lambda a, b: torch.einsum("ijk,ni,nj->nk", C, a, b)  # noqa: E731
    assert_equivariant(product, ["1o", "1o"], "2e")
    with pytest.raises(AssertionError, match="det -1"):
        assert_equivariant(product, ["1o", "1o"], "2o")  # right under rotations, wrong under inversion
    assert_equivariant(product, ["1o", "1o"], "2o", inversion=False)


def test_non_equivariant_function_fails():
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda x: x * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), "1o", "1o")


def test_untransformed_inputs_and_multiple_outputs():
    index = torch.tensor([0, 0, 1, 1])
    x = torch.randn(4, 3, dtype=torch.float64)

    def pool(v, idx):
        sums = torch.zeros(2, 3, dtype=v.dtype).index_add_(0, idx, v)
        return sums, sums.norm(dim=-1, keepdim=True)

    assert_equivariant(pool, ["1o", None], ["1o", "0e"], inputs=[x, index])
    with pytest.raises(ValueError):
        assert_equivariant(pool, ["1o", None], ["1o", "0e"])
    with pytest.raises(ValueError):
        assert_equivariant(lambda v: v, "2e", "2e", inputs=[x])


def test_positions_helper(generator):
    pos = torch.randn(5, 3, generator=generator, dtype=torch.float64)

    def physics(p):
        d = p[:, None] - p[None]
        energy = (d.pow(2).sum(-1) + 1).log().sum().reshape(1)
        dipole = (p - p.mean(0)).sum(0) * 0 + (p[0] - p[1])
        inertia = torch.einsum("ni,nj->ij", p - p.mean(0), p - p.mean(0))
        return energy, dipole, inertia

    assert_equivariant_positions(physics, pos, ["0e", "1o", "cartesian2"])
    with pytest.raises(AssertionError, match="translation"):
        assert_equivariant_positions(lambda p: p.sum(0), pos, "1o")
    with pytest.raises(AssertionError, match="det -1"):
        assert_equivariant_positions(lambda p: torch.linalg.cross(p[0], p[1]), pos, "1o", translation=False)
    assert_equivariant_positions(lambda p: torch.linalg.cross(p[0], p[1]), pos, "1e", translation=False)
