"""Shared by the export tests: a small TensorNet, the structures the issue names, and the comparison.

The structures: three acetylacetone geometries from the bundled test subset and a periodic box
of eight water molecules (~1 g/cm^3, a 6.2 Å cell: shorter than twice the cutoff, so atoms
see several images of each other). Our :class:`IrrepsCalculator` is the reference.
"""

import numpy as np
import torch
from ase import Atoms
from ase.io import read

from irreps.calculators import IrrepsCalculator
from irreps.data.bundled import bundled_path
from irreps.data.neighbors import neighbor_list
from irreps.models import build_model

# relative tolerance of energies and forces per dtype (the issue's)
RTOL = {"float32": 1e-5, "float64": 1e-10}
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def small_tensornet() -> torch.nn.Module:
    """TensorNet for H, C, O with E0s of the size DFT gives (so energies are ~1e4 eV, as in use)."""
    torch.manual_seed(0)
    config = {"elements": [1, 6, 8], "hidden_dim": 16, "num_layers": 2, "num_rbf": 8, "cutoff": 5.0,
              "e0s": [-13.6, -1029.8, -2041.8], "shift_with_neighbours": True, "shift": -2.0}
    return build_model("tensornet", config).eval()


def acac_geometries() -> list[Atoms]:
    return read(bundled_path("acac_test"), index=":3")


def water_box(seed: int = 0) -> Atoms:
    rng = np.random.default_rng(seed)
    molecule = np.array([[0.0, 0.0, 0.0], [0.9572, 0.0, 0.0], [-0.2400, 0.9266, 0.0]])
    positions = []
    for corner in np.stack(np.meshgrid(range(2), range(2), range(2), indexing="ij"), -1).reshape(-1, 3):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        positions.extend(molecule @ q.T + 3.1 * corner + 0.8)
    return Atoms("OH2" * 8, positions=positions, cell=np.eye(3) * 6.2, pbc=True)


def structures() -> list[Atoms]:
    return acac_geometries() + [water_box()]


STRUCTURE_IDS = ["acac0", "acac1", "acac2", "water_box"]


def reference(model: torch.nn.Module, atoms: Atoms, dtype: str, limits="auto") -> dict[str, np.ndarray]:
    """Energy, forces, per-atom energies (and stress when periodic) from our ASE calculator
    (``limits=None`` for random-weight models, whose forces may be any size)."""
    atoms = atoms.copy()
    atoms.calc = IrrepsCalculator(model, dtype=dtype, skin=0.0, limits=limits)
    out = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
           "energies": atoms.get_potential_energies()}
    if atoms.pbc.all():
        out["stress"] = atoms.get_stress(voigt=False)
    return out


def artefact_inputs(atoms: Atoms, radius: float, dtype: str) -> tuple[torch.Tensor, ...]:
    """The TorchScript artefact's arguments for ``atoms`` with a full list of ``radius`` (Å)."""
    edge_index, _, unit_shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, radius)
    return (torch.tensor(atoms.positions, dtype=DTYPES[dtype]), torch.tensor(atoms.numbers),
            torch.tensor(atoms.cell.array, dtype=DTYPES[dtype]), torch.tensor(atoms.pbc),
            torch.tensor(edge_index), torch.tensor(unit_shifts))


def assert_same(got: dict, want: dict, dtype: str, keys=("energy", "forces")) -> None:
    """Energies equal to ``RTOL`` relative; forces (and stress) to ``RTOL`` of their largest entry."""
    rtol = RTOL[dtype]
    for key in keys:
        a, b = np.asarray(got[key], dtype=np.float64), np.asarray(want[key], dtype=np.float64)
        assert a.shape == b.shape, key
        np.testing.assert_allclose(a, b, rtol=0, atol=rtol * np.abs(b).max(), err_msg=key)
