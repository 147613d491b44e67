"""Regenerate tmdnet_reference.pt: a small TorchMD-Net 3.1 TensorNet and its predictions.

Run with TorchMD-Net's own interpreter (never in the irreps environment):

    python -m benchmarks.peers build torchmd-net
    ~/.cache/irreps/peers/torchmd-net/bin/python tests/models/tensornet/data/make_tmdnet_reference.py

Stores float64 weights (perturbed away from the default init), two 6-atom H/C/O molecules,
and TorchMD-Net's energies and forces for them; ``test_tensornet.py`` ports the weights
into irreps' TensorNet and compares.
"""

from pathlib import Path

import numpy as np
import torch
from torchmdnet.models.model import create_model

HYPER = dict(embedding_dimension=8, num_layers=2, num_rbf=6, cutoff_upper=3.0)

args = dict(
    model="tensornet", rbf_type="expnorm", trainable_rbf=False, activation="silu", cutoff_lower=0.0,
    max_z=9, max_num_neighbors=32, equivariance_invariance_group="O(3)", output_model="Scalar",
    prior_model=None, atom_filter=-1, derivative=True, reduce_op="add", precision=64, static_shapes=False,
    check_errors=True, box_vecs=None, charge=False, spin=False, output_mlp_num_layers=0,
    remove_ref_energy=False, **HYPER,
)
torch.manual_seed(0)
model = create_model(args).eval()
with torch.no_grad():
    for p in model.parameters():
        p.add_(0.2 * torch.randn_like(p))
rng = np.random.default_rng(0)
z = torch.tensor([6, 8, 1, 1, 6, 1])
positions, energies, forces = [], [], []
for _ in range(2):
    pos = torch.tensor(rng.normal(size=(6, 3)) * 1.1, dtype=torch.float64)
    energy, force = model(z, pos, torch.zeros_like(z))
    positions.append(pos.detach())
    energies.append(energy.detach().reshape(()))
    forces.append(force.detach())
torch.save(
    {
        "hyper": HYPER,
        "state": {k: v for k, v in model.state_dict().items() if k != "representation_model.distance.box"},
        "atomic_numbers": z,
        "positions": torch.stack(positions),
        "energies": torch.stack(energies),
        "forces": torch.stack(forces),
    },
    Path(__file__).with_name("tmdnet_reference.pt"),
)
