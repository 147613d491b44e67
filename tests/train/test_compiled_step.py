"""The compiled training step: one capture, reused on batches of other sizes, equals the eager step."""

import ase
import numpy as np
import pytest
import torch

from irreps.data import atoms_to_graph
from irreps.data.batch import collate
from irreps.models import build_model
from irreps.train.compiled_step import CompiledStep
from irreps.train.losses import WeightedLoss


def _structure(rng, size, periodic=False, dtype=torch.float64):
    atoms = ase.Atoms(numbers=rng.choice([1, 6, 8], size=size), positions=rng.uniform(0, 3.5, size=(size, 3)))
    if periodic:
        atoms.cell, atoms.pbc = np.diag([3.6, 3.8, 4.0]), True  # images of images inside the cutoff
    graph = atoms_to_graph(atoms, 3.0, keys=None, dtype=dtype)
    graph.targets = {
        "energy": torch.tensor([rng.normal()], dtype=dtype),
        "forces": torch.tensor(rng.normal(size=(size, 3)), dtype=dtype),
    }
    return graph


def _batches():
    """Batches whose atom, edge, pair and structure counts all differ from each other."""
    rng = np.random.default_rng(3)
    sizes = [[5, 7, 4], [3, 6], [8], [4, 4, 5, 6]]
    batches = [collate([_structure(rng, n) for n in group]) for group in sizes]
    batches.append(collate([_structure(rng, 4, periodic=True), _structure(rng, 5)]))
    return batches


def _model():
    # The shift weighted by neighbour occupancy, as irreps train builds it with isolated-atom E0s.
    model = build_model("tensornet", {"elements": [1, 6, 8], "hidden_dim": 6, "num_layers": 1, "num_rbf": 5,
                                      "cutoff": 3.0, "shift": -0.5, "shift_with_neighbours": True}).double()
    with torch.no_grad():  # break the symmetry of the initialisation (zero biases, equal E0s)
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1), dtype=p.dtype))
    return model.train()


def _eager(model, loss, graph):
    total, terms = loss(model(graph, compute_forces=True), graph)
    return total, terms, torch.autograd.grad(total, list(model.parameters()))


def _assert_step_equals_eager(step, model, loss, graph):
    """One compiled step leaves the eager step's loss, terms and gradients (float64)."""
    for p in model.parameters():
        p.grad = None
    total, terms = step(graph)
    want_total, want_terms, want_grads = _eager(model, loss, graph)
    torch.testing.assert_close(total, want_total, rtol=1e-10, atol=1e-12)
    assert terms.keys() == want_terms.keys()
    for name in terms:
        torch.testing.assert_close(terms[name], want_terms[name], rtol=1e-10, atol=1e-12)
    for p, want in zip(model.parameters(), want_grads):
        torch.testing.assert_close(p.grad, want, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("backend", ["eager", "inductor"])
def test_one_capture_serves_every_batch_and_equals_eager(backend):
    model = _model()
    loss = WeightedLoss({"energy": 10.0, "forces": 1.0})
    step = CompiledStep(model, loss, backend=backend)
    batches = _batches() if backend == "eager" else [b for b in _batches() if b.num_graphs > 1]  # one compile
    for graph in batches:
        _assert_step_equals_eager(step, model, loss, graph)
    # the batch of one structure has a program of its own (sizes of 1 are fixed when recorded)
    assert len(step._programs) == (2 if backend == "eager" else 1)


def test_float32_step_equals_eager_float32():
    """float32 training (the default recipe's) through the recorded step: the per-term loss scales
    are float64 inputs, and the gradients stay float32 and equal the eager step's to float32 rounding."""
    rng = np.random.default_rng(5)
    model = _model().float()
    loss = WeightedLoss({"energy": 10.0, "forces": 1.0})
    step = CompiledStep(model, loss, backend="eager")
    for sizes in ([5, 7, 4], [3, 6]):
        graph = collate([_structure(rng, n, dtype=torch.float32) for n in sizes])
        for p in model.parameters():
            p.grad = None
        total, _ = step(graph)
        want_total, _, want_grads = _eager(model, loss, graph)
        torch.testing.assert_close(total.double(), want_total.double(), rtol=1e-5, atol=1e-6)
        for p, want in zip(model.parameters(), want_grads):
            assert p.grad.dtype == torch.float32
            torch.testing.assert_close(p.grad, want, rtol=1e-4, atol=1e-5)


def test_gradients_accumulate_like_backward():
    model = _model()
    loss = WeightedLoss({"energy": 1.0, "forces": 1.0})
    graph = _batches()[1]
    step = CompiledStep(model, loss, backend="eager")
    step(graph)
    once = [p.grad.clone() for p in model.parameters()]
    step(graph)
    for p, g in zip(model.parameters(), once):
        torch.testing.assert_close(p.grad, 2 * g)
    # scaled terms (a data-parallel rank's share of a larger batch): gradients returned, .grad left alone
    counts = torch.tensor(step.counts(graph), dtype=torch.float64)
    total, terms, grads = step.gradients(graph, 1.0 / (3.0 * counts))
    assert len(step._programs) == 1  # the scales are an input of the same program
    torch.testing.assert_close(total, _eager(model, loss, graph)[0] / 3.0, rtol=1e-12, atol=0)
    for p, g, grad in zip(model.parameters(), once, grads):
        torch.testing.assert_close(grad, g / 3.0)
        torch.testing.assert_close(p.grad, 2 * g)
    with pytest.raises(ValueError, match="one entry per loss term"):
        step.gradients(graph, counts[:1])


def test_unsupported_models_and_losses_are_refused():
    with pytest.raises(ValueError, match="MorsePair does not support run.compile"):
        CompiledStep(build_model("morse_pair", {"elements": [1]}), WeightedLoss({"energy": 1.0}))
    with pytest.raises(ValueError, match="not stress"):
        CompiledStep(_model(), WeightedLoss({"energy": 1.0, "stress": 1.0}))
    with pytest.raises(ValueError, match="direct forces"):
        CompiledStep(_model(), WeightedLoss({"forces": 1.0}, direct_forces=True))


def test_bad_batches_get_clear_errors():
    graph = _batches()[0]
    step = CompiledStep(_model(), WeightedLoss({"energy": 1.0, "forces": 1.0}), backend="eager")
    graph.targets.pop("forces")
    with pytest.raises(ValueError, match="forces weighted but the data has no such values"):
        step(graph)
    graph.positions[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        step(graph)


def test_data_dependent_numbers_are_inputs_so_one_program_serves_every_split():
    """E0s, scale and shift (fitted per split) must not be baked into the recorded graph: two
    models that differ only in them record the same program, which then computes each one's own
    energies, so torch's compile cache serves a second split or dataset without compiling."""
    loss = WeightedLoss({"energy": 1.0, "forces": 1.0})
    graph = _batches()[0]
    codes, constants, totals = [], [], []
    for e0s, scale, shift in (([-13.6, -1029.0, -2041.0], 1.7, -0.4), ([-13.1, -1027.5, -2040.2], 0.9, 0.3)):
        model = build_model("tensornet", {"elements": [1, 6, 8], "hidden_dim": 6, "num_layers": 1, "num_rbf": 5,
                                          "cutoff": 3.0, "e0s": e0s, "scale": scale, "shift": shift}).double()
        step = CompiledStep(model, loss, backend="eager")
        totals.append(step(graph)[0])
        torch.testing.assert_close(totals[-1], _eager(model, loss, graph)[0], rtol=1e-10, atol=1e-12)
        (program,) = step._programs.values()
        codes.append(program.code)
        constants.append([getattr(program, n.target) for n in program.graph.nodes if n.op == "get_attr"])
    assert codes[0] == codes[1]  # no number inlined
    assert all(torch.equal(a, b) for a, b in zip(*constants))  # nor kept as a tensor constant
    assert not torch.isclose(totals[0], totals[1])


@pytest.mark.slow
def test_another_split_loads_the_stored_step_instead_of_recording(monkeypatch, tmp_path):
    """A model fitted to another split (other E0s, shift and weights) finds the first one's
    compiled step in the program store and computes its own loss and gradients with it."""
    import irreps.train.compiled_step as module

    monkeypatch.setenv("IRREPS_COMPILE_CACHE", str(tmp_path))
    loss = WeightedLoss({"energy": 10.0, "forces": 1.0})
    batches = [b for b in _batches() if b.num_graphs > 1]
    CompiledStep(_model(), loss)(batches[0])
    assert len(list(tmp_path.glob("*.bin"))) == 1

    def no_recording(*args, **kwargs):
        raise AssertionError("recorded although the step was stored")

    monkeypatch.setattr(module, "record", no_recording)
    model = build_model("tensornet", {"elements": [1, 6, 8], "hidden_dim": 6, "num_layers": 1, "num_rbf": 5,
                                      "cutoff": 3.0, "e0s": [-13.1, -1027.5, -2040.2], "shift": 0.3,
                                      "shift_with_neighbours": True}).double().train()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2), dtype=p.dtype))
    step = CompiledStep(model, loss)
    for graph in batches:
        _assert_step_equals_eager(step, model, loss, graph)
