"""Bad inputs to the Gaunt and SO(2) convolutions raise errors that name the module and the sizes."""

import pytest
import torch

from irreps.ops.tensor_product import make_convolution


@pytest.mark.parametrize("engine,owner", [("gaunt", "GauntConvolution"), ("so2", "SO2Convolution")])
def test_convolution_input_errors(engine, owner):
    conv = make_convolution(engine, "4x0e + 4x1o", "4x0e + 4x1o", lmax_filter=1)
    e = 5
    x, vec, w = torch.randn(e, conv.irreps_in.dim), torch.randn(e, 3), torch.randn(e, conv.weight_numel)
    assert conv(x, vec, w).shape == (e, conv.irreps_out.dim)
    with pytest.raises(ValueError, match=f"{owner}: got feature size {conv.irreps_in.dim + 1}"):
        conv(torch.randn(e, conv.irreps_in.dim + 1), vec, w)
    with pytest.raises(ValueError, match=f"{owner}: got feature size .* weight size {conv.weight_numel - 1}"):
        conv(x, vec, w[:, 1:])
    with pytest.raises(ValueError, match=f"{owner}: edge_vec must have shape"):
        conv(x, vec[:, :2], w)
    with pytest.raises(ValueError, match=f"{owner}: .* same number of edges, got 5, 4 and 5"):
        conv(x, vec[:4], w)
