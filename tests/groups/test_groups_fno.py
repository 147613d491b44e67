"""G-FNO layers: exact p4 / p4m equivariance (float64, every group element, with circular shifts),
the spectral layers against a direct convolution in space, and the truncation details that make
the equivariance exact (Hermitian kernel, centred window without the Nyquist frequency)."""

import numpy as np
import pytest
import torch

from irreps.groups.fno import GFNO, GroupPointwiseConv, GroupSpectralConv, PlanarGroup

ATOL = 1e-10


def _rand(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _act(group, x, g, field, shift=(0, 0)):
    """Element g, then a circular shift of the grid (the translations of p4 / p4m)."""
    return group.act(x, g, field).roll(shift, dims=(-2, -1))


def _max_error(layer, x, in_field, out_field, shift=(3, -2)):
    y = layer(x)
    return max((layer(_act(layer.group, x, g, in_field, shift)) - _act(layer.group, y, g, out_field, shift)).abs().max().item()
               for g in range(layer.group.order))


def test_planar_group_tables_and_grid_action():
    group = PlanarGroup("p4m")
    mats = group.matrices
    for g in range(8):
        for h in range(8):
            assert torch.equal(mats[g] @ mats[h], mats[group.mul[g, h]])
        assert torch.equal(mats[g] @ mats[group.inverse[g]], torch.eye(2, dtype=mats.dtype))
    assert group.det.tolist() == [1, 1, 1, 1, -1, -1, -1, -1]
    x = _rand(2, 3, 7, 7)
    # independent reference: torch's own rotation and flip about the array centre
    torch.testing.assert_close(group.transform_grid(x, 1), torch.rot90(x, 1, (-2, -1)), atol=0, rtol=0)
    torch.testing.assert_close(group.transform_grid(x, 4), x.flip(-1), atol=0, rtol=0)
    regular = _rand(2, 3, 8, 6, 6)
    for g in range(8):
        for h in range(8):
            for field, y in (("regular", regular), ("pseudoscalar", x)):
                torch.testing.assert_close(group.act(group.act(y, h, field), g, field),
                                           group.act(y, int(group.mul[g, h]), field), atol=0, rtol=0)
    assert PlanarGroup("p4").order == 4 and PlanarGroup("trivial").order == 1


@pytest.mark.parametrize("group_name", ["p4", "p4m"])
@pytest.mark.parametrize("time_modes", [None, 2])
@pytest.mark.parametrize("kind", ["lift", "group", "project"])
def test_spectral_conv_is_equivariant(group_name, time_modes, kind):
    field = "pseudoscalar" if group_name == "p4m" else "scalar"
    layer = GroupSpectralConv(group_name, kind, 2, 3, modes=4, time_modes=time_modes,
                              in_fields=field if kind == "lift" else "scalar",
                              out_fields=field if kind == "project" else "scalar", dtype=torch.float64)
    grid = (5, 10, 10) if time_modes else (10, 10)
    x = _rand(2, 2, *grid) if kind == "lift" else _rand(2, 2, layer.group.order, *grid)
    in_field = field if kind == "lift" else "regular"
    out_field = field if kind == "project" else "regular"
    assert _max_error(layer, x, in_field, out_field) < ATOL


@pytest.mark.parametrize("kind", ["lift", "group", "project"])
@pytest.mark.parametrize("n", [7, 8])
def test_spectral_conv_matches_direct_convolution(kind, n):
    """out(x, g) = sum_{s, y} psi(g^{-1}(x - y), g^{-1} s) in(y, s) with psi the inverse DFT of the
    unexpanded kernel, rotated by the matrices about the origin (mod n): no FFT, no kernel bank."""
    group = PlanarGroup("p4m")
    layer = GroupSpectralConv(group, kind, 2, 2, modes=3, in_fields="pseudoscalar" if kind == "lift" else "scalar",
                              out_fields="pseudoscalar" if kind == "project" else "scalar", dtype=torch.float64)
    m = layer.modes
    p = layer.weight.detach().numpy()
    w = 0.5 * (p + np.flip(p, (-2, -1))) + 0.5j * (p - np.flip(p, (-2, -1)))
    k = np.arange(-(m - 1), m)
    z = np.arange(n)
    phase = np.exp(2j * np.pi * k[:, None] * z[None, :] / n)  # [k, z]
    psi = np.einsum("...ab,ax,by->...xy", w, phase, phase).real / n**2  # real kernel on the grid
    x = _rand(1, 2, n, n) if kind == "lift" else _rand(1, 2, 8, n, n)
    xin = x.numpy() if kind != "lift" else x.numpy()[:, :, None]
    mats, det = group.matrices.numpy(), group.det.numpy()
    out = np.zeros((1, 2, 1 if kind == "project" else 8, n, n))
    for gi in range(out.shape[2]):
        for si in range(xin.shape[2]):
            for xa in range(n):
                for xb in range(n):
                    d = np.stack(np.meshgrid(xa - z, xb - z, indexing="ij"), -1) % n  # [y, y, 2]: x - y
                    if kind == "lift":
                        r = (d @ mats[group.inverse[gi]].T) % n
                        kern = det[gi] * psi[:, :, r[..., 0], r[..., 1]]
                    elif kind == "group":
                        r = (d @ mats[group.inverse[gi]].T) % n
                        kern = psi[:, :, group.mul[group.inverse[gi], si], r[..., 0], r[..., 1]]
                    else:
                        r = (d @ mats[group.inverse[si]].T) % n
                        kern = det[si] * psi[:, :, r[..., 0], r[..., 1]]
                    out[0, :, gi, xa, xb] += np.einsum("oiyv,iyv->o", kern, xin[0, :, si])
    expected = out[:, :, 0] if kind == "project" else out
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("kind", ["lift", "group", "project"])
def test_pointwise_conv_is_equivariant(kind):
    layer = GroupPointwiseConv("p4m", kind, 3, 2, bias=kind != "project",
                               in_fields="pseudoscalar" if kind == "lift" else "scalar",
                               out_fields="pseudoscalar" if kind == "project" else "scalar", dtype=torch.float64)
    x = _rand(2, 3, 6, 6) if kind == "lift" else _rand(2, 3, 8, 6, 6)
    in_field = "pseudoscalar" if kind == "lift" else "regular"
    out_field = "pseudoscalar" if kind == "project" else "regular"
    assert _max_error(layer, x, in_field, out_field) < ATOL


@pytest.mark.parametrize("group_name,field", [("p4", "scalar"), ("p4m", "scalar"), ("p4m", "pseudoscalar")])
@pytest.mark.parametrize("time_modes", [None, 3])
def test_gfno_is_equivariant_and_fno_is_not(group_name, field, time_modes):
    torch.manual_seed(0)
    kwargs = dict(in_channels=2, out_channels=1, width=3, modes=4, time_modes=time_modes, num_layers=2,
                  projection_width=5, in_fields=field, out_fields=field, dtype=torch.float64)
    x = _rand(2, 2, *((6,) if time_modes else ()), 12, 12)
    model = GFNO(group_name, **kwargs)
    assert _max_error(model, x, field, field) < ATOL
    fno = GFNO("trivial", **kwargs)
    fno.group = model.group  # only to apply the rotations in the helper
    assert _max_error(fno, x, field, field) > 1e-3


def test_p4_is_not_reflection_equivariant_and_field_types_matter():
    x = _rand(2, 1, 12, 12)
    p4 = GFNO("p4", width=3, modes=4, num_layers=1, projection_width=4, dtype=torch.float64)
    mirror = PlanarGroup("p4m")
    assert (p4(mirror.act(x, 4)) - mirror.act(p4(x), 4)).abs().max() > 1e-3
    scalar = GFNO("p4m", width=3, modes=4, num_layers=1, projection_width=4, dtype=torch.float64)
    # a scalar-typed model is equivariant for scalars but not for vorticity-like pseudoscalars
    assert (scalar(mirror.act(x, 4, "pseudoscalar")) - mirror.act(scalar(x), 4, "pseudoscalar")).abs().max() > 1e-3


def test_hermitian_kernel_is_what_makes_the_truncated_layer_exact():
    """With the half-plane real FFT, a kernel that is not Hermitian breaks rotation equivariance."""
    layer = GroupSpectralConv("p4", "group", 2, 2, modes=4, dtype=torch.float64)
    x = _rand(1, 2, 4, 10, 10)
    assert _max_error(layer, x, "regular", "regular") < ATOL
    exact = layer.kernel_bank
    layer.kernel_bank = lambda: exact() + 0.3j * exact().real  # adds an even imaginary part
    assert _max_error(layer, x, "regular", "regular") > 1e-3


def test_gradients_and_float32():
    model = GFNO("p4m", width=2, modes=3, num_layers=1, projection_width=3, dtype=torch.float64)
    x = _rand(1, 1, 6, 6).requires_grad_(True)
    assert torch.autograd.gradcheck(model, (x,))
    single = GFNO("p4m", width=2, modes=3, num_layers=1, projection_width=3)
    single.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    torch.testing.assert_close(single(x.detach().float()).double(), model(x.detach()), atol=1e-5, rtol=1e-4)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown planar group"):
        PlanarGroup("p6")
    with pytest.raises(ValueError, match="Nyquist"):
        GroupSpectralConv("p4", "lift", 1, 1, modes=5)(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="square grids"):
        GroupSpectralConv("p4", "lift", 1, 1, modes=3)(torch.zeros(1, 1, 8, 10))
    with pytest.raises(ValueError, match=r"expects \[batch, in, 4, \*grid\]"):
        GroupSpectralConv("p4", "group", 1, 1, modes=3)(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="pseudoscalar output cannot have a bias"):
        GroupPointwiseConv("p4m", "project", 1, 1, out_fields="pseudoscalar")
    with pytest.raises(ValueError, match="in_fields applies to lift layers only"):
        GroupPointwiseConv("p4m", "group", 1, 1, in_fields="pseudoscalar")
    with pytest.raises(ValueError, match="unknown field type"):
        GroupPointwiseConv("p4m", "lift", 1, 1, in_fields="vector")
    with pytest.raises(ValueError, match="unknown group-convolution kind"):
        GroupPointwiseConv("p4m", "spectral", 1, 1)
    with pytest.raises(ValueError, match="GFNO expects"):
        GFNO("p4", time_modes=2)(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="element 8"):
        PlanarGroup("p4m").act(torch.zeros(1, 4, 4), 8)
