"""The small channel-wise CG path: hand-written backward against autograd of the general path, gradcheck, gradgradcheck."""

import pytest
import torch

from irreps.ops.tensor_product.cg import TensorProduct, channelwise_instructions

IN1 = "3x0e+3x1o+3x2e+3x1e"  # 1e: no filter path reaches it from 0e+1o -> its gradient must be zero
IN2 = "1x0e+1x1o"
OUT = "3x0e+3x1o+3x1e+3x2e+3x3o"  # 3o: no path reaches it


def _pair(shared: bool, shuffle: bool):
    ins = [i for i in channelwise_instructions(IN1, IN2, OUT) if i[0] != 3]
    ins[2] = ins[2] + (0.5,)
    if shuffle:  # weight order not grouped by input entry
        ins = ins[1::2] + ins[0::2]
    kwargs = dict(shared_weights=shared, internal_weights=False)
    fast = TensorProduct(IN1, IN2, OUT, ins, **kwargs).double()
    general = TensorProduct(IN1, IN2, OUT, ins, **kwargs).double()
    general._small = None
    assert fast._small is not None
    return fast, general


def _inputs(tp, n, shared, generator):
    x1 = torch.randn(n, tp.irreps_in1.dim, generator=generator, dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(n, tp.irreps_in2.dim, generator=generator, dtype=torch.float64, requires_grad=True)
    w = torch.randn(*(() if shared else (n,)), tp.weight_numel, generator=generator, dtype=torch.float64, requires_grad=True)
    return x1, x2, w


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_backward_equals_autograd_of_general_path(shared, shuffle, generator):
    fast, general = _pair(shared, shuffle)
    x1, x2, w = _inputs(fast, 9, shared, generator)
    grad_out = torch.randn(9, fast.irreps_out.dim, generator=generator, dtype=torch.float64)
    out = fast(x1, x2, w)
    torch.testing.assert_close(out, general(x1, x2, w), atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(out, fast._small.reference(x1, x2, w.expand(9, -1)), atol=1e-12, rtol=1e-12)
    got = torch.autograd.grad(out, (x1, x2, w), grad_out)
    want = torch.autograd.grad(general(x1, x2, w), (x1, x2, w), grad_out)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, atol=1e-12, rtol=1e-12)
    assert got[0][:, -9:].abs().max() == 0  # the 1e entry of x1 feeds no path


@pytest.mark.parametrize("needs", [(True, False, True), (False, True, False), (True, True, True)])
def test_partial_gradients(needs, generator):
    fast, general = _pair(False, False)
    inputs = [t.detach().requires_grad_(need) for t, need in zip(_inputs(fast, 5, False, generator), needs)]
    wanted = [t for t in inputs if t.requires_grad]
    got = torch.autograd.grad(fast(*inputs).square().sum(), wanted)
    want = torch.autograd.grad(general(*inputs).square().sum(), wanted)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("shared", [False, True])
def test_gradcheck_and_gradgradcheck(shared, generator):
    fast, _ = _pair(shared, True)
    inputs = _inputs(fast, 3, shared, generator)
    assert torch.autograd.gradcheck(fast, inputs)
    assert torch.autograd.gradgradcheck(fast, inputs)


def test_forces_style_double_backward_equals_general_path(generator):
    """Energy -> gradient with create_graph -> loss on the gradient -> backward (forces training)."""
    fast, general = _pair(False, False)
    x1, x2, w = _inputs(fast, 6, False, generator)
    results = []
    for tp in (fast, general):
        energy = tp(x1, x2, w).square().sum()
        (g2,) = torch.autograd.grad(energy, x2, create_graph=True)
        results.append(torch.autograd.grad(g2.square().sum(), (x1, x2, w)))
    for g, r in zip(*results):
        torch.testing.assert_close(g, r, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("with_x2", [False, True])
def test_backward_twice_on_a_retained_graph(with_x2, generator):
    """The backward writes over its forward buffer; a second backward must still be right."""
    fast, _ = _pair(False, False)
    x1, x2, w = _inputs(fast, 4, False, generator)
    x2.requires_grad_(with_x2)
    inputs = (x1, x2, w) if with_x2 else (x1, w)
    out = fast(x1, x2, w)
    first = torch.autograd.grad(out, inputs, torch.ones_like(out), retain_graph=True)
    second = torch.autograd.grad(out, inputs, torch.ones_like(out))
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("shared", [False, True])
def test_an_empty_batch_has_empty_gradients(shared, generator):
    """A graph of lone atoms has no edges: the product and its backward see zero rows."""
    fast, _ = _pair(shared, False)
    x1, x2, w = _inputs(fast, 0, shared, generator)
    out = fast(x1, x2, w)
    assert out.shape == (0, fast.irreps_out.dim)
    grads = torch.autograd.grad(out.sum() + (w.sum() if shared else 0), (x1, x2, w))
    assert [tuple(g.shape) for g in grads] == [tuple(x1.shape), tuple(x2.shape), tuple(w.shape)]
