"""i-PI driving an irreps model over a UNIX socket, classical and path-integral MD: every geometry
i-PI integrates gets our ASE calculator's forces (float64: relative 1e-10) and i-PI's reported
potential is their bead average (to the 9 digits i-PI prints)."""

import os
import shutil
import subprocess
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import units

from engine_cases import RTOL, acac_geometries, assert_close, engine_model, water_box
from irreps.calculators import IrrepsCalculator
from irreps.cli.main import main
from irreps.models import save_model

pytest.importorskip("ipi", reason="the i-PI coupling needs i-PI: pip install 'irreps[ipi]'")
if shutil.which("i-pi") is None:
    pytest.skip("the 'i-pi' command is not on PATH", allow_module_level=True)
from irreps.export.ipi import connect, serve  # noqa: E402

STEPS = 2
INPUT = """<simulation verbosity='low' safe_stride='1000'>
  <output prefix='sim'>
    <properties stride='1' filename='out'> [ step, potential ] </properties>
    <trajectory filename='pos' stride='1' format='bin'> positions </trajectory>
    <trajectory filename='for' stride='1' format='bin'> forces </trajectory>
  </output>
  <total_steps> {steps} </total_steps>
  <prng><seed> 31415 </seed></prng>
  <ffsocket name='irreps' mode='unix'><address> {address} </address></ffsocket>
  <system>
    <initialize nbeads='{beads}'>
      <file mode='ase'> init.extxyz </file>
      <velocities mode='thermal' units='kelvin'> 300 </velocities>
    </initialize>
    <forces><force forcefield='irreps'> </force></forces>
    <motion mode='dynamics'>
      <dynamics mode='{ensemble}'>
        <timestep units='femtosecond'> 0.5 </timestep>
        {thermostat}
      </dynamics>
    </motion>
    <ensemble><temperature units='kelvin'> 300 </temperature></ensemble>
  </system>
</simulation>
"""
PILE = "<thermostat mode='pile_g'><tau units='femtosecond'> 100 </tau></thermostat>"


def read_frames(path: Path, frames: int, atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """(cells [F, 3, 3] with lattice vectors as columns, values [F, N, 3]) of an i-PI 'bin'
    trajectory in atomic units: each frame is the cell, the atom count, the values, the names and a
    fixed-width title, so frames have one size."""
    data = path.read_bytes()
    assert len(data) % frames == 0
    size = len(data) // frames
    cells, values = [], []
    for k in range(frames):
        frame = data[k * size : (k + 1) * size]
        cells.append(np.frombuffer(frame, np.float64, 9, 0).reshape(3, 3))
        assert np.frombuffer(frame, np.int64, 1, 72)[0] == atoms
        values.append(np.frombuffer(frame, np.float64, 3 * atoms, 80).reshape(atoms, 3))
    return np.array(cells), np.array(values)


def run_ipi(tmp_path: Path, atoms, beads: int, client) -> int:
    """Start i-PI on ``atoms`` and run ``client(address)`` (returns its number of evaluations) against it."""
    address = f"irreps-test-{os.getpid()}-{tmp_path.name}"[:90]
    ensemble, thermostat = ("nve", "") if beads == 1 else ("nvt", PILE)
    (tmp_path / "input.xml").write_text(INPUT.format(steps=STEPS, address=address, beads=beads, ensemble=ensemble, thermostat=thermostat))
    ase.io.write(tmp_path / "init.extxyz", atoms)
    with open(tmp_path / "ipi.log", "w") as log:
        server = subprocess.Popen(["i-pi", "input.xml"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            count = client(address)
            assert server.wait(timeout=120) == 0, (tmp_path / "ipi.log").read_text()[-2000:]
        finally:
            server.kill()
    return count


def check_run(tmp_path: Path, atoms, beads: int, dtype: str, model, client) -> None:
    count = run_ipi(tmp_path, atoms, beads, client)
    frames = STEPS + 1
    assert count == frames * beads
    reference = IrrepsCalculator(model, dtype=dtype, skin=0.0)
    energies = np.zeros((frames, beads))
    for bead in range(beads):
        cells, positions = read_frames(tmp_path / f"sim.pos_{bead}.bin", frames, len(atoms))
        _, forces = read_frames(tmp_path / f"sim.for_{bead}.bin", frames, len(atoms))
        assert np.abs(positions[-1] - positions[0]).max() > 1e-5  # i-PI moved the atoms
        for frame in range(frames):
            # the geometry the client received: ASE converts i-PI's bohr with its own constant
            geometry = atoms.copy()
            geometry.cell = cells[frame].T * units.Bohr
            geometry.positions = positions[frame] * units.Bohr
            energies[frame, bead] = reference.get_potential_energy(geometry)
            expected = reference.get_forces(geometry)
            assert_close(forces[frame] * (units.Hartree / units.Bohr), expected, RTOL[dtype])
    reported = np.loadtxt(tmp_path / "sim.out")[:, 1]  # hartree, printed with 9 significant digits
    np.testing.assert_allclose(reported * units.Hartree, energies.mean(1), rtol=max(RTOL[dtype], 1e-8))


def open_acac(index: int):
    atoms = acac_geometries()[index]
    atoms.cell = np.eye(3) * 30.0  # i-PI needs a box; pbc stays off
    return atoms


FAST = [
    pytest.param(0, 1, "float64", id="acac0-classical"),
    pytest.param("water", 4, "float64", id="water_box-pimd4"),
    pytest.param(1, 4, "float32", id="acac1-pimd4-float32"),
]
SLOW = [
    pytest.param(case, beads, "float64", id=f"{name}-{mode}", marks=pytest.mark.slow)
    for case, name in [(0, "acac0"), (1, "acac1"), (2, "acac2"), ("water", "water_box")]
    for beads, mode in [(1, "classical"), (4, "pimd4")]
    if (name, mode) not in {("acac0", "classical"), ("water_box", "pimd4")}
]


@pytest.mark.parametrize("case, beads, dtype", FAST + SLOW)
def test_ipi_forces_and_potential_equal_the_ase_calculator(tmp_path, case, beads, dtype):
    atoms = water_box() if case == "water" else open_acac(case)
    model = engine_model()
    check_run(tmp_path, atoms, beads, dtype, model,
              lambda address: serve(IrrepsCalculator(model, dtype=dtype), atoms, connect(unix=address, wait_s=60)))


def test_the_cli_client_serves_ipi(tmp_path, capsys):
    atoms = open_acac(2)
    model = engine_model()
    save_model(model, tmp_path / "model.pt")
    ase.io.write(tmp_path / "template.xyz", atoms)

    def client(address):
        assert main(["ipi-client", str(tmp_path / "model.pt"), str(tmp_path / "template.xyz"), "--unix", address, "--threads", "1"]) == 0
        return int(capsys.readouterr().out.split("after ")[1].split()[0])

    check_run(tmp_path, atoms, 1, "float64", model, client)
    assert main(["ipi-client", str(tmp_path / "model.pt"), str(tmp_path / "template.xyz"), "--unix", "irreps-nobody-here", "--wait", "0.2"]) == 2
    assert "no i-PI server answered" in capsys.readouterr().err


def test_connect_needs_exactly_one_address_and_reports_a_missing_server():
    with pytest.raises(ValueError, match="either a UNIX socket name"):
        connect()
    with pytest.raises(ValueError, match="either a UNIX socket name"):
        connect(unix="x", port=1234)
    with pytest.raises(ConnectionError, match="no i-PI server answered at UNIX socket /tmp/ipi_irreps-nobody-here"):
        connect(unix="irreps-nobody-here", wait_s=0.3)
