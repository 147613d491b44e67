"""CompiledPotential: one recording serves structures of every size and equals the eager model.

Recording takes 5-20 s a model on a 2-core machine and inductor a minute or more, so these are
slow tests, except the checks made before recording; the ``eager`` backend runs the recorded
graph itself, without a compiler. tests/calculators/test_compiled_calculator.py records
TensorNet by default.
"""

import ase
import numpy as np
import pytest
import torch

from irreps.data import atoms_to_graph
from irreps.data.batch import collate
from irreps.models import build_model
from irreps.nn.compiled_potential import CompiledPotential, NotCompilable
from irreps.nn.program_store import CompiledProgram
from unrecordable import BranchingPair

E0S = dict(e0s=[-13.6, -1029.0, -2041.0], scale=1.7, shift=-0.4, shift_with_neighbours=True)
CONFIGS = {
    "tensornet": dict(elements=[1, 6, 8], hidden_dim=8, num_layers=1, num_rbf=6, cutoff=3.0, **E0S),
    "escn": dict(elements=[1, 6, 8], lmax=2, mmax=1, sphere_channels=6, hidden_channels=5, edge_channels=6,
                 num_layers=2, cutoff=3.0, distance_resolution=0.25, grid_resolution=30, sample_resolution=30, **E0S),
}


def _model(name, dtype):
    model = build_model(name, CONFIGS[name]).to(dtype).eval()
    with torch.no_grad():  # break the symmetry of the initialisation (zero biases, equal E0s)
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)).to(dtype))
    return model


def _structures(dtype, periodic):
    """Structures whose atom and edge counts all differ (cells with images of images inside the cutoff)."""
    rng = np.random.default_rng(4)
    out = []
    for size in (9, 13, 6, 11):
        atoms = ase.Atoms(numbers=rng.choice([1, 6, 8], size=size), positions=rng.uniform(0, 3.5, size=(size, 3)))
        if periodic:
            atoms.cell, atoms.pbc = np.diag([3.6, 3.8, 4.0]) + rng.uniform(-0.2, 0.2, (3, 3)), True
        out.append(atoms_to_graph(atoms, 3.0, keys=None, dtype=dtype))
    assert len({g.edge_index.shape[1] for g in out}) == len(out)
    return out


def _assert_equal_to_eager(name, backend, dtype, periodic, after_each=lambda: None):
    model = _model(name, dtype)
    compiled = CompiledPotential(model, backend=backend)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    for graph in _structures(dtype, periodic):
        got = compiled(graph, compute_stress=periodic)
        want = model(graph, compute_forces=True, compute_stress=periodic)
        assert set(got) == {"energy", "node_energy", "forces"} | ({"stress"} if periodic else set())
        for key in got:
            torch.testing.assert_close(got[key], want[key].detach(), **tol)
        after_each()
    assert compiled.num_recordings == 1  # every size, every neighbour count: one program
    return compiled


@pytest.mark.slow
def test_tensornet_recording_serves_every_size_and_reads_the_current_weights():
    compiled = _assert_equal_to_eager("tensornet", "eager", torch.float64, periodic=False)
    # Weights, E0s, scale and shift (``readout.affine``) changed after recording change the
    # results: the program reads them instead of holding them as constants.
    graph = _structures(torch.float64, periodic=False)[0]
    first = compiled(graph)["energy"]
    with torch.no_grad():
        compiled.model.readout.affine.mul_(1.1)
        for p in compiled.model.parameters():
            p.mul_(1.1)
    second = compiled(graph)
    torch.testing.assert_close(second["energy"], compiled.model(graph)["energy"].detach(), rtol=1e-10, atol=1e-10)
    assert not torch.isclose(first, second["energy"]).any()
    # A weight replaced by a new Parameter object is read too.
    owner, _, leaf = compiled.names[0].rpartition(".")
    module = compiled.model.get_submodule(owner)
    setattr(module, leaf, torch.nn.Parameter(getattr(module, leaf).detach() * 0.9))
    third = compiled(graph)["energy"]
    torch.testing.assert_close(third, compiled.model(graph)["energy"].detach(), rtol=1e-10, atol=1e-10)
    assert ((third - second["energy"]).abs() > 1e-6).all()  # isclose's rtol 1e-5 would pass ~0.1 eV of 1.6e4
    assert compiled.num_recordings == 1


@pytest.mark.slow
@pytest.mark.parametrize("name, periodic", [("tensornet", True), ("escn", False), ("escn", True)])
def test_recording_equals_eager(name, periodic):
    _assert_equal_to_eager(name, "eager", torch.float64, periodic)


@pytest.mark.slow
@pytest.mark.parametrize("name, dtype, periodic", [
    ("tensornet", torch.float64, True), ("tensornet", torch.float32, False), ("escn", torch.float64, False),
])
def test_inductor_program_equals_eager_and_is_loaded_by_the_next_potential(name, dtype, periodic, monkeypatch,
                                                                           tmp_path):
    """One compiled program serves every size. TensorNet's is compiled without Dynamo and kept
    in the program store: a second potential of the same architecture (other weights: another
    model file) loads it instead of recording. eSCN's recording has sizes that depend on values
    (its edge selection), so Dynamo compiles it, once: it compiled again for every size while
    Dynamo's duck sizing tied a buffer's length to the number of atoms, equal by chance."""
    import irreps.nn.compiled_potential as module
    from torch._dynamo.utils import counters

    monkeypatch.setenv("IRREPS_COMPILE_CACHE", str(tmp_path))
    graphs = []
    first = _assert_equal_to_eager(name, "inductor", dtype, periodic,
                                   after_each=lambda: graphs.append(counters["stats"]["unique_graphs"]))
    assert len(graphs) == 4 and len(set(graphs)) == 1  # nothing compiled after the first structure
    standalone = name == "tensornet"
    assert isinstance(next(iter(first._programs.values())), CompiledProgram) == standalone
    assert len(list(tmp_path.glob("*.bin"))) == int(standalone)
    if not standalone:
        return
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    singles = _structures(dtype, periodic)
    batches = [collate(singles[:2]), collate(singles[1:]), collate(singles)]  # 2, 3 and 4 structures
    for graph in batches:  # one more program: a batch's structure count is symbolic
        got = first(graph, compute_stress=periodic)
        want = first.model(graph, compute_forces=True, compute_stress=periodic)
        for key in got:
            torch.testing.assert_close(got[key], want[key].detach(), **tol)
    assert first.num_recordings == 2 and len(list(tmp_path.glob("*.bin"))) == 2

    def no_recording(*args, **kwargs):
        raise AssertionError("recorded although the program was stored")

    monkeypatch.setattr(module, "record", no_recording)
    model = _model(name, dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.7)
    second = CompiledPotential(model)
    for graph in singles + batches:
        got = second(graph, compute_stress=periodic)
        want = model(graph, compute_forces=True, compute_stress=periodic)
        for key in want:
            if key in got:
                torch.testing.assert_close(got[key], want[key].detach(), **tol)


def test_inputs_are_checked_before_the_program_runs():
    model = _model("tensornet", torch.float64)
    compiled = CompiledPotential(model, backend="eager")
    graph = _structures(torch.float64, periodic=False)[0]
    graph.atomic_numbers[0] = 29
    with pytest.raises(ValueError, match=r"atomic number\(s\) \[29\] not among the model's elements \[1, 6, 8\]"):
        compiled(graph)
    graph = _structures(torch.float64, periodic=False)[0]
    with pytest.raises(ValueError, match="stress requested for a structure without a cell"):
        compiled(graph, compute_stress=True)
    graph.positions[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        compiled(graph)
    assert compiled.num_recordings == 0
    with pytest.raises(ValueError, match="not an energy model"):
        CompiledPotential(torch.nn.Linear(3, 1))


def test_a_model_that_cannot_be_recorded_is_refused_with_the_reason():
    atoms = ase.Atoms("CHOH", positions=[[0, 0, 0], [1.1, 0, 0], [0, 1.3, 0], [0.3, 0.2, 1.2]])
    compiled = CompiledPotential(BranchingPair().double(), backend="eager")
    graph = atoms_to_graph(atoms, 3.0, keys=None, dtype=torch.float64)
    with pytest.raises(NotCompilable, match="BranchingPair cannot be compiled .*: Could not guard on data-dependent"):
        compiled(graph)
    with pytest.raises(NotCompilable):  # remembered: no second attempt
        compiled(graph)
