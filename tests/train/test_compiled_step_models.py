"""The recorded training step of gaunt_ace, TFN, the SE(3)-Transformer, eSCN and EquiformerV2 equals the eager step.

Recording (``make_fx``) is where model code breaks a capture (a data-dependent size, a Python
branch on values); the ``eager`` backend runs the recording as it is, so this checks the model
code without paying for inductor. One capture serves two batches of different sizes.
"""

import ase
import numpy as np
import pytest
import torch
from small_models import SMALL_CONFIGS
from test_compiled_step import _batches, _eager

from irreps.capture import capturing
from irreps.data import atoms_to_graph
from irreps.models import build_model
from irreps.train.compiled_step import CompiledStep
from irreps.train.losses import WeightedLoss

HEADS = ("dipole", "polarizability", "direct_forces", "hessian_head")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gaunt_ace", "gaunt_ace[cg, odd paths]", "tfn", "se3_transformer", "escn",
                                  "equiformer_v2"])
def test_recorded_step_equals_eager(name):
    torch.manual_seed(0)
    options = {k: v for k, v in SMALL_CONFIGS[name].items() if k not in HEADS}  # energy and forces only
    if name == "equiformer_v2":  # no dropout: the recorded and the eager step would draw different masks
        options.update(alpha_drop=0.0, drop_path_rate=0.0)
    model = build_model(name.split("[")[0], options).double().train()
    loss = WeightedLoss({"energy": 10.0, "forces": 1.0})
    step = CompiledStep(model, loss, backend="eager")
    for graph in _batches()[:2]:
        for p in model.parameters():
            p.grad = None
        total, terms = step(graph)
        want_total, want_terms, want_grads = _eager(model, loss, graph)
        torch.testing.assert_close(total, want_total, rtol=1e-10, atol=1e-12)
        for key in terms:
            torch.testing.assert_close(terms[key], want_terms[key], rtol=1e-10, atol=1e-12)
        for p, want in zip(model.parameters(), want_grads):
            torch.testing.assert_close(p.grad, want, rtol=1e-9, atol=1e-11)
    assert len(step._programs) == 1


def test_edges_past_the_cutoff_carry_nothing_when_recorded():
    """gaunt_ace on a neighbour list longer than its cutoff: an eager call drops the extra edges, a
    recorded graph (the plain path of :func:`irreps.capture.capturing`) keeps them at envelope 0; both
    give the energy and forces of the model's own neighbour list."""
    rng = np.random.default_rng(0)
    atoms = ase.Atoms(numbers=rng.choice([1, 6, 8], size=9), positions=rng.uniform(0, 4, size=(9, 3)))
    model = build_model("gaunt_ace", SMALL_CONFIGS["gaunt_ace"]).double()
    near, far = (atoms_to_graph(atoms, r, keys=None, dtype=torch.float64) for r in (model.cutoff, model.cutoff + 1.5))
    assert far.edge_index.shape[1] > near.edge_index.shape[1]
    want = model(near)
    with capturing():
        plain = model(far)
    for got in (model(far), plain):
        for key in ("energy", "forces"):
            torch.testing.assert_close(got[key], want[key], rtol=1e-12, atol=1e-12)
