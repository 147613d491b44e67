"""Recording helpers: weights swapped in for a recording are given back, wherever the model holds
them; large recordings are compiled without the C++ wrapper."""

import torch
from torch.fx.experimental.proxy_tensor import make_fx

from irreps.nn.recording import CPP_WRAPPER_MAX_NODES, inductor_options, weights_replaced


def _model_with_shared_and_tied_weights() -> torch.nn.Module:
    """``a`` and ``b`` are one module at two paths (as eSCN's heads share a sphere grid);
    ``c.weight`` is ``a.weight`` tied to another module."""
    model = torch.nn.Module()
    model.a = model.b = torch.nn.Linear(2, 2)
    model.c = torch.nn.Linear(2, 2, bias=False)
    model.c.weight = model.a.weight
    model.register_buffer("scale", torch.tensor([1.5, 0.5]))
    return model


def _forward(model, x):
    return model.b(x) * model.scale + model.c(x)


def test_weights_are_replaced_everywhere_and_given_back():
    model = _model_with_shared_and_tied_weights()
    originals = {name: t for name, t in [*model.named_parameters(remove_duplicate=False),
                                         *model.named_buffers(remove_duplicate=False)]}
    weights = {"a.weight": torch.eye(2), "a.bias": torch.zeros(2), "scale": torch.ones(2)}
    x = torch.tensor([[1.0, -2.0]])
    with weights_replaced(model, weights):
        assert model.b.weight is weights["a.weight"] and model.c.weight is weights["a.weight"]
        torch.testing.assert_close(_forward(model, x), 2 * x)
    for name, tensor in [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]:
        assert tensor is originals[name], name


def test_a_recording_leaves_real_tensors_in_the_model():
    """torch.func.functional_call swapped the shared module twice and gave it back the fake
    tensor of the recording: the eager model then returned fake tensors (eSCN, issue 32)."""
    model = _model_with_shared_and_tied_weights()
    names = ["a.weight", "a.bias", "scale"]

    def function(weights, x):
        with weights_replaced(model, dict(zip(names, weights))):
            return [_forward(model, x)]

    weights = [model.a.weight.detach(), model.a.bias.detach(), model.scale]
    program = make_fx(function, tracing_mode="symbolic")(weights, torch.randn(3, 2))
    x = torch.randn(4, 2)
    assert type(_forward(model, x)) is torch.Tensor
    torch.testing.assert_close(program(weights, x)[0], _forward(model, x))


def _chain(length: int) -> torch.fx.GraphModule:
    """A graph of ``length`` elementwise ops (plus its input and output nodes)."""
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    for _ in range(length):
        x = graph.call_function(torch.ops.aten.mul.Tensor, (x, 1.5))
    graph.output(x)
    return torch.fx.GraphModule(torch.nn.Module(), graph)


def test_only_programs_up_to_the_limit_get_the_cpp_wrapper():
    small, large = _chain(CPP_WRAPPER_MAX_NODES - 2), _chain(CPP_WRAPPER_MAX_NODES - 1)
    assert len(small.graph.nodes) == CPP_WRAPPER_MAX_NODES and len(large.graph.nodes) == CPP_WRAPPER_MAX_NODES + 1
    cpu = torch.device("cpu")
    assert inductor_options(small, cpu) == {"cpp_wrapper": True}
    assert inductor_options(large, cpu) == {}
    assert inductor_options(small, torch.device("meta")) == {}  # the C++ wrapper is a CPU choice here
