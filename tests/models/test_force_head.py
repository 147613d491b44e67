"""The direct (non-conservative) force head: momentum conservation, no effect on the energy path."""

import ase
import numpy as np
import pytest
import torch

from irreps.data import atoms_to_graph, collate
from irreps.models import build_model

CONFIG = dict(elements=[1, 6, 8], hidden_dim=8, num_layers=1, num_rbf=6, cutoff=3.0, scale=1.3)


def _model(**kw):
    torch.manual_seed(0)
    model = build_model("tensornet", {**CONFIG, **kw}).double().eval()
    generator = torch.Generator().manual_seed(1)  # the head's own init must not shift these draws
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return model


def _molecules():
    rng = np.random.default_rng(3)
    return [
        atoms_to_graph(ase.Atoms(numbers=rng.choice([1, 6, 8], size=n), positions=rng.uniform(0, 2.5, (n, 3))),
                       4.0, keys=None, dtype=torch.float64)
        for n in (5, 7)
    ]


def test_direct_forces_of_each_structure_sum_to_zero():
    graph = collate(_molecules())
    forces = _model(direct_forces=True)(graph, compute_forces=False, direct_forces=True)["direct_forces"]
    assert forces.abs().max() > 1e-3  # not trivially zero
    totals = torch.zeros(graph.num_graphs, 3, dtype=forces.dtype).index_add_(0, graph.batch, forces)
    torch.testing.assert_close(totals, torch.zeros_like(totals), atol=1e-12, rtol=0)


def test_head_leaves_energy_and_conservative_forces_unchanged():
    graph = collate(_molecules())
    plain = _model()(graph)
    with_head = _model(direct_forces=True)(graph, direct_forces=True)
    for key in ("energy", "forces"):
        torch.testing.assert_close(with_head[key], plain[key], atol=0, rtol=0)


def test_asking_a_model_without_the_head_names_the_option():
    with pytest.raises(ValueError, match="direct_forces"):
        _model()(collate(_molecules()), direct_forces=True)
