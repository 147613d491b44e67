"""Recording a model's computation, backward passes included, as one graph with symbolic sizes.

In eager PyTorch on a CPU, energy and forces of a small molecule are thousands of small
kernels, and their launch overhead, not arithmetic, sets the pace. ``make_fx`` records the
whole computation (the autograd passes become ordinary ops) with the sizes that change between
calls (atoms, edges, structures) kept symbolic; inductor then compiles that graph, fusing the
elementwise chains into a few loops. One recording serves every later call, except that the
tracer fixes sizes 0 and 1: callers key their programs by :func:`small_sizes` as well.

Used by the compiled training step (:mod:`irreps.train.compiled_step`) and the compiled
inference path (:mod:`irreps.nn.compiled_potential`). Parameters and floating buffers are
inputs of the recording, not constants in it, so the program of an architecture is the same for
every set of weights, E0s and scale: the program store (:mod:`irreps.nn.program_store`) keeps
it on disk, and another process or model file of the same architecture loads it instead of
recording and compiling again.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings
from typing import Any, Callable, Iterator

import torch
from torch import Tensor
from torch.utils._pytree import tree_flatten

from irreps.data.graph import AtomicGraph
from irreps.nn.potential import EnergyModel
from irreps.capture import capturing
from irreps.nn.program_store import CompiledProgram, save


def atomic_outputs_with(model: EnergyModel, weights: dict[str, Tensor], graph: AtomicGraph, positions: Tensor,
                        shifts: Tensor, indices: dict[str, Tensor] | None) -> dict[str, Tensor]:
    """``model.atomic_outputs`` with the parameters and buffers named in ``weights`` replaced by
    those tensors (inputs of a recording). ``indices`` (a model's ``graph_indices``, computed
    eagerly because they have data-dependent sizes) are passed on when not None."""
    with weights_replaced(model, weights):
        if indices is None:
            return model.atomic_outputs(graph, positions, shifts, False)
        return model.atomic_outputs(graph, positions, shifts, False, indices=indices)


@contextlib.contextmanager
def weights_replaced(model: torch.nn.Module, weights: dict[str, Tensor]) -> Iterator[None]:
    """Within the block, the parameters and buffers named in ``weights`` are those tensors,
    wherever the model holds them; afterwards the originals are back.

    What ``torch.func.functional_call`` does, except that each place holding a tensor is swapped
    once. A submodule registered at two paths (eSCN's sphere grid, shared by its energy and
    force heads) was swapped twice by it and given back the replacement (torch 2.13): after a
    recording, the model held the recording's fake tensors.
    """
    held = dict(itertools.chain(model.named_parameters(remove_duplicate=False),
                                model.named_buffers(remove_duplicate=False)))
    holders: dict[int, list[str]] = {}
    for name, tensor in held.items():  # a tensor tied to several names is replaced at all of them
        holders.setdefault(id(tensor), []).append(name)
    originals: dict[tuple[int, str], tuple[dict, str, Tensor]] = {}
    for name, value in weights.items():
        for holder in holders[id(held[name])]:
            owner, _, leaf = holder.rpartition(".")
            module = model.get_submodule(owner)
            slots = module._parameters if leaf in module._parameters else module._buffers
            if (id(slots), leaf) not in originals:
                originals[(id(slots), leaf)] = (slots, leaf, slots[leaf])
                slots[leaf] = value
    try:
        yield
    finally:
        for slots, leaf, original in originals.values():
            slots[leaf] = original


def weight_names(model: torch.nn.Module, trainable_only: bool = False) -> tuple[list[str], list[str]]:
    """Names of the parameters (those that require grad, with ``trainable_only``) and of the
    floating-point buffers: what a recording takes as inputs rather than as constants."""
    params = [name for name, p in model.named_parameters() if p.requires_grad or not trainable_only]
    buffers = [name for name, b in model.named_buffers() if b.is_floating_point()]
    return params, buffers


def batch_sizes(data: list[Tensor]) -> list:
    """The size that changes between calls of each data input, for data inputs in the order
    ``positions, shifts, edge_index, ...`` (every recording here uses it): the first dimension,
    the second of ``edge_index``."""
    return [t.shape[1 if k == 2 else 0] for k, t in enumerate(data)]


def small_sizes(data: list[Tensor]) -> tuple[int, ...]:
    """The part of a program's key the tracer fixes: which sizes are 0, 1 or more (as 0, 1, 2)."""
    return tuple(min(int(n), 2) for n in batch_sizes(data))


def record(function: Callable[..., Any], args: tuple, num_weights: int, what: str) -> torch.fx.GraphModule:
    """``function(*args)`` recorded by ``make_fx`` with symbolic sizes, fused ops as plain ops.

    ``args`` starts with ``num_weights`` inputs (lists of parameters and buffers) whose sizes
    are fixed; the data inputs after them (``positions, shifts, edge_index, ...``, see
    :func:`batch_sizes`) must keep their sizes symbolic. ``RuntimeError`` if
    recording fixed one of them above 1 to its current value (model code that turned a size into
    a Python ``int``): the program would be wrong for other sizes. ``what`` names the recording
    in that message.
    """
    from torch.fx.experimental import _config as fx_config
    from torch.fx.experimental.proxy_tensor import make_fx

    # Without duck sizing, sizes that happen to be equal in this call stay distinct symbols.
    with fx_config.patch(use_duck_shape=False), capturing(), torch.enable_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on symbolic sizes; the check below decides
        program = make_fx(function, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*args)
    num_fixed = sum(len(a) for a in args[:num_weights])
    data = [node.meta["val"] for node in program.graph.nodes if node.op == "placeholder"][num_fixed:]
    fixed = [str(n) for n in batch_sizes(data)
             if (n.node.expr.is_number and int(n) > 1 if isinstance(n, torch.SymInt) else n > 1)]
    if fixed:
        raise RuntimeError(f"recording {what} fixed sizes to {fixed}; it cannot be reused for other sizes")
    return program


def compile_program(program: torch.fx.GraphModule, backend: str, args: tuple,
                    key: str | None = None) -> Callable[..., Any]:
    """The recording ``program`` compiled for inputs like ``args``, sizes dynamic.

    ``inductor`` compiles the recorded graph directly (``standalone_compile``: no second
    tracing by Dynamo, no Python guard checks at each call) and keeps the result under ``key``
    in the program store (:mod:`irreps.nn.program_store`) when one is given; a recording with
    sizes that depend on tensor values, and other backends, go through ``torch.compile``.
    ``backend="eager"`` returns the recording as it is (for checks: no compilation time).
    """
    if backend == "eager":
        return program
    device = next(a.device for a in tree_flatten(args)[0] if isinstance(a, Tensor))
    options = inductor_options(program, device) if backend == "inductor" else {}
    if backend != "inductor" or _has_data_dependent_sizes(program):
        # standalone_compile cannot re-trace sizes that come from values (eSCN's edge selection)
        return _dynamo_compiled(program, backend, options)
    from torch._inductor import standalone_compile
    from torch.fx.experimental import _config as fx_config

    out_spec = program._out_spec
    constants = lift_constants(program)
    # Without duck sizing: inputs are made symbolic again for compiling, and a size equal by
    # chance to a fixed one (3 structures in a batch, 3 elements) would be fixed with it.
    with fx_config.patch(use_duck_shape=False), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pytree's deprecation notes from inside torch
        artifact = standalone_compile(program, tree_flatten(args)[0] + constants, dynamic_shapes="from_graph",
                                      options={"config_patches": options})
    compiled = CompiledProgram(artifact, out_spec, constants)
    if key is not None:
        save(key, compiled)
    return compiled


# Recorded graphs up to this many nodes call their kernels from generated C++. Measured on acac
# training steps (docs/models.md): TensorNet (6,048 nodes) and TFN (6,188) compiled their C++
# wrapper in 1-3 CPU minutes; eSCN's (7,615) had taken the C++ compiler 13.5 CPU minutes on one
# 1.8 MB file when stopped, and the SE(3)-Transformer's (16,466) had not compiled after 17.
CPP_WRAPPER_MAX_NODES = 7000


def inductor_options(program: torch.fx.GraphModule, device: torch.device) -> dict[str, bool]:
    """Inductor's config for compiling ``program`` on ``device``.

    On the CPU an inductor program is hundreds of small kernels per call; calling them from
    generated C++ (``cpp_wrapper``) rather than Python takes 3-11% off a step (docs/training.md).
    But the C++ compiler's time on that one generated file grows faster than the graph: past
    :data:`CPP_WRAPPER_MAX_NODES` nodes it costs more than the wrapper ever saves, and the
    Python wrapper is used.
    """
    small = len(program.graph.nodes) <= CPP_WRAPPER_MAX_NODES
    return {"cpp_wrapper": True} if device.type == "cpu" and small else {}


def lift_constants(program: torch.fx.GraphModule) -> list[Tensor]:
    """Make the recording's tensor constants (index tables and coefficients the model built
    before recording) its last inputs, in place, and return them in that order.

    ``standalone_compile`` passes constants to the compiled code as hidden inputs, and a saved
    and loaded artifact no longer has them: called, it reads past its arguments (a segfault with
    the C++ wrapper; torch 2.13). As inputs they are the caller's, saved beside the program.
    The program takes flat inputs afterwards (no pytree nesting); its outputs are unchanged.
    """
    from torch._guards import detect_fake_mode

    graph = program.graph
    placeholders = [node for node in graph.nodes if node.op == "placeholder"]
    fake_mode = detect_fake_mode([node.meta["val"] for node in placeholders if "val" in node.meta])
    last, inputs, constants = placeholders[-1], {}, []
    for node in list(graph.nodes):
        value = getattr(program, node.target) if node.op == "get_attr" else None
        if not isinstance(value, Tensor):
            continue
        if node.target not in inputs:  # a constant may be read at several places
            with graph.inserting_after(last):
                last = inputs[node.target] = graph.placeholder(f"constant_{len(constants)}")
            last.meta["val"] = fake_mode.from_tensor(value, static_shapes=True)
            constants.append(value)
        node.replace_all_uses_with(inputs[node.target])
        graph.erase_node(node)
    for target in inputs:
        delattr(program, target)
    graph._codegen = torch.fx.graph.CodeGen()  # flat inputs: the nesting's spec lacks the constants
    program.recompile()
    return constants


def _has_data_dependent_sizes(program: torch.fx.GraphModule) -> bool:
    """Whether the recording holds sizes known only from tensor values (``nonzero``, masks)."""
    from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

    return any(free_unbacked_symbols(node.meta["val"]) for node in program.graph.nodes if "val" in node.meta)


def _dynamo_compiled(program: torch.fx.GraphModule, backend: str, options: dict) -> Callable[..., Any]:
    """``torch.compile`` of a recording with dynamic sizes: Dynamo traces it again, checks its
    guards at every call and compiles again when they fail. Not kept in the program store."""
    compiled = torch.compile(program, dynamic=True, backend=backend, options=options or None)

    def run(*args):
        from torch.fx.experimental import _config as fx_config

        # Dynamo compiles at a call. Without duck sizing, a size equal by chance to another (a
        # buffer's length and the number of atoms, say) does not become a guard that makes
        # every other size compile again.
        with fx_config.patch(use_duck_shape=False):
            return compiled(*args)

    return run
