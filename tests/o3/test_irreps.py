import copy
import pickle

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from irreps.o3 import Irrep, Irreps, random_rotation
from irreps.o3 import angles_to_matrix as o3_angles_to_matrix

irrep_st = st.builds(Irrep, st.integers(0, 64), st.sampled_from([1, -1]))
entries_st = st.lists(st.tuples(st.integers(0, 1000), irrep_st), max_size=8)


@given(entries_st)
def test_string_round_trip(entries):
    irreps = Irreps(entries)
    assert Irreps(str(irreps)) == irreps
    assert hash(Irreps(str(irreps))) == hash(irreps)
    assert irreps.dim == sum(m * (2 * ir.l + 1) for m, ir in entries)
    assert irreps.num_irreps == sum(m for m, _ in entries)


@given(entries_st)
def test_slices_tile_the_feature_vector(entries):
    irreps = Irreps(entries)
    start = 0
    for (mul, ir), sl in zip(irreps, irreps.slices()):
        assert sl.start == start and sl.stop - sl.start == mul * ir.dim
        start = sl.stop
    assert start == irreps.dim


@given(entries_st)
def test_sort_permutation_and_simplify(entries):
    irreps = Irreps(entries)
    result = irreps.sort()
    assert [result.irreps[result.p[i]] for i in range(len(irreps))] == list(irreps)
    assert [irreps[result.inv[j]] for j in range(len(irreps))] == list(result.irreps)
    keys = [(ir.l, -ir.p) for _, ir in result.irreps]
    assert keys == sorted(keys)
    simple = result.irreps.simplify()
    assert simple.dim == irreps.dim
    assert len({ir for _, ir in simple}) == len(simple)  # sorted then simplified: each irrep once
    assert all(mul > 0 for mul, _ in simple)


@given(st.text(alphabet="0123456789xeoy+- ", max_size=12))
def test_parser_accepts_or_raises_value_error(text):
    try:
        irreps = Irreps(text)
    except ValueError:
        return
    assert Irreps(str(irreps)) == irreps


@pytest.mark.parametrize("bad", ["1x", "3y", "-1x0e", "2x-1e", "65e", "1x1e+", "x1e", "1e1", "1.5x0e", "0e++1o"])
def test_malformed_strings_raise(bad):
    with pytest.raises(ValueError):
        Irreps(bad)


def test_irrep_errors_and_basics():
    with pytest.raises(ValueError):
        Irrep(-1, 1)
    with pytest.raises(ValueError):
        Irrep(1, 0)
    with pytest.raises(ValueError):
        Irrep("1o", 1)
    assert Irrep("2o") == Irrep(2, -1) == "2o"
    assert Irrep("3e").dim == 7
    assert list(Irrep("1o") * Irrep("1o")) == [Irrep("0e"), Irrep("1e"), Irrep("2e")]
    assert 2 * Irrep("1e") == Irreps("2x1e")
    assert list(Irrep.iterator(1)) == [Irrep("0e"), Irrep("0o"), Irrep("1e"), Irrep("1o")]
    with pytest.raises(ValueError):
        Irreps([(-2, "1o")])
    with pytest.raises(ValueError):
        Irreps("").lmax


def test_container_api():
    irreps = Irreps("16x0e + 8x1o+4x2e")
    assert str(irreps) == "16x0e+8x1o+4x2e"
    assert irreps.dim == 16 + 24 + 20 and irreps.num_irreps == 28 and irreps.lmax == 2
    assert irreps[1] == (8, Irrep("1o")) and irreps[1].dim == 24
    assert irreps[1:] == Irreps("8x1o+4x2e")
    assert irreps + "1x3o" == Irreps("16x0e+8x1o+4x2e+1x3o")
    assert Irreps("0e") * 2 == Irreps("0e+0e")
    assert irreps.filter(keep="0e+2e") == Irreps("16x0e+4x2e")
    assert irreps.filter(drop=["0e"], lmax=1) == Irreps("8x1o")
    assert irreps.count("1o") == 8 and "2e" in irreps and "2o" not in irreps
    assert Irreps("1o+0x2e+2x1o+0e").simplify() == Irreps("3x1o+0e")
    assert Irreps.spherical_harmonics(3) == Irreps("0e+1o+2e+3o")
    assert Irreps("") == Irreps() and Irreps().dim == 0
    with pytest.raises(AttributeError):
        irreps.foo = 1


def test_D_from_matrix_block_diagonal_and_parity(generator):
    irreps = Irreps("2x0e+0o+1o+1e+2e+2o")
    R = random_rotation(3, generator=generator, dtype=torch.float64)
    D = irreps.D_from_matrix(R)
    Dinv = irreps.D_from_matrix(-R)
    for (mul, ir), sl in zip(irreps, irreps.slices()):
        block = D[:, sl, sl][:, : ir.dim, : ir.dim]
        torch.testing.assert_close(Dinv[:, sl, sl][:, : ir.dim, : ir.dim], ir.p * block, atol=1e-12, rtol=0)
    torch.testing.assert_close(D[:, 3:6, 3:6], R, atol=1e-12, rtol=0)  # 1o: D(R) = R
    torch.testing.assert_close(Dinv[:, 3:6, 3:6], -R, atol=1e-12, rtol=0)
    torch.testing.assert_close(D[:, 6:9, 6:9], R, atol=1e-12, rtol=0)
    torch.testing.assert_close(Dinv[:, 6:9, 6:9], R, atol=1e-12, rtol=0)  # 1e: pseudovector
    eye = torch.eye(irreps.dim, dtype=torch.float64)
    torch.testing.assert_close(D @ D.transpose(-1, -2), eye.expand_as(D), atol=1e-12, rtol=0)
    assert torch.count_nonzero(D[:, :2, 2:]) == 0
    torch.testing.assert_close(Irrep("2o").D_from_matrix(-R), -Irrep("2o").D_from_matrix(R), atol=1e-12, rtol=0)


def test_D_from_angles_with_inversion(generator):
    a, b, c = (torch.rand(3, generator=generator, dtype=torch.float64) for _ in range(3))
    R = o3_angles_to_matrix(a, b, c)
    torch.testing.assert_close(Irrep("1o").D_from_angles(a, b, c), R, atol=1e-13, rtol=0)
    torch.testing.assert_close(Irrep("1o").D_from_angles(a, b, c, k=1), -R, atol=1e-13, rtol=0)
    torch.testing.assert_close(Irrep("1e").D_from_angles(a, b, c, k=1), R, atol=1e-13, rtol=0)


def test_copy_and_pickle_keep_the_value():
    """Modules hold Irreps: ``copy.deepcopy(model)`` (the trainer's final model) and pickling must work."""
    irreps = Irreps("16x0e+8x1o+2x2e")
    for clone in (copy.copy(irreps), copy.deepcopy(irreps), pickle.loads(pickle.dumps(irreps))):
        assert clone == irreps and clone.dim == irreps.dim
    ir = Irrep("3o")
    assert copy.deepcopy(ir) == ir and pickle.loads(pickle.dumps(ir)) == ir
    assert copy.deepcopy({"a": [irreps]})["a"][0] == irreps
