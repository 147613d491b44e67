"""Under ``irreps.capture.capturing`` every fast kernel records as plain ops that generalise.

Each case is one cause of a failed export, recorded with ``torch.jit.trace`` on a few rows
that do not require gradients (as the exporter records) and run on more rows that do (as an
engine runs it): values and first derivatives must equal the eager kernel's.

- spherical harmonics: without gradients the fast path writes into buffers with ``out=``,
  which a recording replays and autograd then rejects (gaunt_ace, tfn, se3_transformer);
- the small channel-wise CG product: its autograd function takes a module argument, which
  ``torch.jit.trace`` cannot record (``unordered_map::at``: tfn, se3_transformer);
- the Gaunt and SO(2) convolutions and the Gaunt product loop over blocks of rows; a recording
  unrolls the loop for the recorded count (gaunt_ace; eSCN and EquiformerV2 at real widths).
"""

import warnings

import pytest
import torch

import irreps.ops.tensor_product.gaunt as gaunt_module
import irreps.ops.tensor_product.so2 as so2_module
from irreps.capture import capturing, composed
from irreps.o3 import Irreps, spherical_harmonics
from irreps.ops.tensor_product import GauntConvolution, GauntProduct, SO2Convolution
from irreps.ops.tensor_product.cg import CGConvolution


def _sh(n, g):
    return (torch.randn(n, 3, generator=g, dtype=torch.float64),)


def _edge_inputs(conv, irreps_in):
    def make(n, g):
        x = Irreps(irreps_in).randn(n, generator=g, dtype=torch.float64)
        vec = torch.randn(n, 3, generator=g, dtype=torch.float64)
        return x, vec, torch.randn(n, conv.weight_numel, generator=g, dtype=torch.float64)
    return make


def _product_inputs(n, g):
    return tuple(torch.randn(n, 2, (l + 1) ** 2, generator=g, dtype=torch.float64) for l in (2, 1))


def _cases():
    cg = CGConvolution("2x0e+2x1o+2x2e", "2x0e+2x1o+2x2e", 2).double()
    gaunt = GauntConvolution("2x0e+2x1o+2x2e", lmax_out=2, lmax_filter=2).double()
    so2 = SO2Convolution("2x0e+2x1o", "2x0e+2x1o+2x1e").double()
    return {
        "spherical_harmonics": (lambda x: spherical_harmonics([0, 1, 2, 3], x), _sh),
        "cg_small": (cg, _edge_inputs(cg, "2x0e+2x1o+2x2e")),
        "gaunt_convolution": (gaunt, _edge_inputs(gaunt, "2x0e+2x1o+2x2e")),
        "gaunt_product": (GauntProduct([2, 1], 3).double(), _product_inputs),
        "so2_convolution": (so2, _edge_inputs(so2, "2x0e+2x1o")),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_recording_generalises_to_more_rows_with_gradients(name, generator, monkeypatch):
    monkeypatch.setattr(gaunt_module, "_BLOCK_ELEMENTS", 256)  # eager runs in several blocks
    monkeypatch.setattr(so2_module, "_BLOCK_ELEMENTS", 64)
    fn, make = _cases()[name]
    if name == "cg_small":
        assert fn.tp._small is not None
    with capturing(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(fn, make(3, generator), check_trace=False)
    inputs = [t.requires_grad_() for t in make(40, generator)]
    got = traced(*inputs)
    want = fn(*inputs)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    seed = torch.randn(want.shape, generator=generator, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(got, inputs, seed), torch.autograd.grad(want, inputs, seed)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_spherical_harmonics_of_the_zero_vector_while_capturing():
    x = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    with capturing():
        y = spherical_harmonics([0, 1, 2], x)
    torch.testing.assert_close(y, spherical_harmonics([0, 1, 2], x.detach()))
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().max() == 0


def test_capturing_nests_and_restores():
    assert not composed()
    with capturing():
        with capturing():
            assert composed()
        assert composed()
    assert not composed()
