"""The stress and dipole loss terms on labelled data: training lowers them and keeps the labels' sign.

The labels come from outside the model: stresses from ASE's EMT calculator (ASE's sign,
``(1/V) dE/dε``: negative for a compressed crystal, positive for a stretched one) and dipoles
``sum_i q_i r_i`` of fixed charges per element (the physicist's sign: from the negative towards the
positive charge). A model trained on them must come out with those signs, so a flipped sign in the
reader, the loss or a head shows up as a model that predicts the opposite.
"""

from __future__ import annotations

import ase.io
import numpy as np
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from irreps.data import KeySpec, atoms_to_graph, bundled_path, collate
from irreps.models import load_model
from irreps.train.config import load_config
from irreps.train.prepare import read_structures
from irreps.train.run import train

CUTOFF = 3.0
# the charges that make the dipole labels of acetylacetone (C5H8O2: neutral)
CHARGES = {1: 0.1, 6: 0.0, 8: -0.4}


def _quiet(line: str) -> None:
    pass


def _strained_copper(num: int) -> list[ase.Atoms]:
    """One-atom fcc Cu cells, compressed to stretched by 4 % with a random shear, labelled by EMT."""
    rng = np.random.default_rng(0)
    frames = []
    for volume_strain in np.linspace(-0.04, 0.04, num):
        atoms = bulk("Cu", "fcc", a=3.6)
        shear = rng.uniform(-0.02, 0.02, (3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) * (1 + volume_strain) + (shear + shear.T) / 2), scale_atoms=True)
        atoms.calc = EMT()
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), stress=atoms.get_stress())
        frames.append(atoms)
    return frames


def _acac_with_dipoles(num: int) -> list[ase.Atoms]:
    """Bundled acac structures with their energies and the dipoles of :data:`CHARGES`."""
    frames = []
    for atoms in ase.io.read(bundled_path("acac_train"), f":{num}"):
        charges = np.array([CHARGES[z] for z in atoms.numbers])
        dipole = (charges[:, None] * atoms.positions).sum(axis=0)
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), dipole=dipole)
        frames.append(atoms)
    return frames


def _train(path, overrides: list[str], tmp_path):
    config = load_config(None, [
        f"data.train_file={path}", "data.valid_fraction=0.25", f"data.cutoff={CUTOFF}",
        "optim.warmup_epochs=0", "optim.ema_decay=null", "run.progress=false", "run.device=cpu", *overrides,
    ])
    return train(config, tmp_path / "run", log=_quiet)


def _first_and_best_epochs(result) -> tuple[dict, dict]:
    """The log rows of the first epoch and of the best one, whose weights the model file holds."""
    return result.history[0], next(row for row in result.history if row["epoch"] == result.best_epoch)


def _predict(model_path, frames: list[ase.Atoms], **flags) -> dict[str, torch.Tensor]:
    model = load_model(model_path, dtype=torch.float64)
    graph = collate([atoms_to_graph(atoms, CUTOFF, keys=None, dtype=torch.float64) for atoms in frames])
    return {k: v.detach() for k, v in model(graph, **flags).items()} | {"batch": graph.batch}


def test_training_on_ase_stresses_lowers_the_stress_loss_and_keeps_ases_sign(tmp_path):
    frames = _strained_copper(16)
    ase.io.write(tmp_path / "cu.xyz", frames)
    graphs, _ = read_structures(str(tmp_path / "cu.xyz"), CUTOFF, KeySpec(), ("stress",), ("stress",))
    for graph, atoms in zip(graphs, frames):  # the training data hold ASE's stress as it is
        np.testing.assert_allclose(graph.targets["stress"][0].numpy(), atoms.get_stress(voigt=False), atol=1e-12)

    result = _train(tmp_path / "cu.xyz", ["data.batch_size=2", "model.options={hidden_dim: 8, num_layers: 1, num_rbf: 8}",
                                          "loss.energy=1", "loss.forces=0", "loss.stress=100", "run.epochs=8",
                                          "optim.lr=1e-2"], tmp_path)
    first, best = _first_and_best_epochs(result)
    assert best["valid_stress"] < 0.3 * first["valid_stress"], result.history
    pressure = -np.trace(_predict(result.model_path, frames, compute_stress=True)["stress"].numpy(), axis1=1, axis2=2) / 3
    reference = np.array([-np.trace(atoms.get_stress(voigt=False)) / 3 for atoms in frames])
    clear = np.abs(reference) > 0.02  # eV/Å^3: the compressed and stretched ends
    np.testing.assert_array_equal(np.sign(pressure[clear]), np.sign(reference[clear]))
    assert np.corrcoef(pressure, reference)[0, 1] > 0.9


def test_training_on_dipoles_lowers_the_dipole_loss_and_learns_the_charges_signs(tmp_path):
    frames = _acac_with_dipoles(24)
    ase.io.write(tmp_path / "acac.xyz", frames)
    result = _train(tmp_path / "acac.xyz", [
        "data.isolated_atoms_file=bundled:acac_isolated_atoms", "data.batch_size=4",
        "model.options={hidden_dim: 8, num_layers: 1, num_rbf: 8, dipole: true}",
        "loss.energy=1", "loss.forces=0", "loss.dipole=1", "run.epochs=6", "optim.lr=1e-2",
    ], tmp_path)
    first, best = _first_and_best_epochs(result)
    assert best["valid_dipole"] < 0.1 * first["valid_dipole"], result.history
    out = _predict(result.model_path, frames, compute_forces=False)
    reference = torch.tensor(np.array([atoms.get_dipole_moment() for atoms in frames]))
    cosine = torch.nn.functional.cosine_similarity(out["dipole"], reference, dim=1)
    assert cosine.min() > 0.9, cosine
    numbers = torch.cat([torch.as_tensor(atoms.numbers) for atoms in frames])
    hydrogen, oxygen = out["charges"][numbers == 1].mean(), out["charges"][numbers == 8].mean()
    assert hydrogen > 0.02 and oxygen < -0.1, (hydrogen, oxygen)  # the labels' +0.1 and -0.4
