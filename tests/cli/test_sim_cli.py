"""`irreps md / relax / vib / ts / neb` end to end on tiny inputs with analytic model files."""

import json
import re

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from irreps.cli.main import main
from irreps.data import bundled_path
from irreps.models import build_model, save_model
from irreps.sim.io import read_csv
from plot_checks import lines, png_pixels, saved_figures

@pytest.fixture
def files(tmp_path):
    """Model files and structures: a Morse copper crystal and the double-well surface's minima."""
    save_model(build_model("morse_pair", {"elements": [29]}), tmp_path / "morse.pt")
    save_model(build_model("double_well_surface", {"elements": [1]}), tmp_path / "surface.pt")
    save_model(build_model("harmonic_pair", {"elements": [6, 8], "k": 30.0, "r0": 1.2}), tmp_path / "springs.pt")
    ase.io.write(tmp_path / "cu.xyz", bulk("Cu", "fcc", a=3.5, cubic=True))
    minimum = np.array([np.sqrt(1.0 + 1.0 / 16.0), -np.sqrt(1.0 + 1.0 / 16.0) / 4.0, 0.0])
    ase.io.write(tmp_path / "a.xyz", Atoms("H", positions=[-minimum]))
    ase.io.write(tmp_path / "b.xyz", Atoms("H", positions=[minimum]))
    ase.io.write(tmp_path / "co.xyz", Atoms("CO", positions=[[0, 0, 0], [1.25, 0, 0]]))
    return tmp_path


@pytest.mark.parametrize("command", ["md", "relax", "vib", "ts", "neb"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    assert "MODEL" in capsys.readouterr().out


def test_md_runs_resumes_and_refuses_to_overwrite(files, capsys):
    out = files / "md"
    args = ["md", str(files / "morse.pt"), str(files / "cu.xyz"), "-o", str(out), "--quiet", "--timestep", "2"]
    with saved_figures() as figures:
        assert main(args + ["--steps", "20", "--traj-every", "5"]) == 0
    (figure,) = figures  # energies from E_tot(0) and the temperature against time (ps), as logged
    png_pixels(out / "md.png", figure)
    log = read_csv(out / "log.csv")
    time_ps = [row["time_fs"] / 1000 for row in log]
    energy = lines(figure.axes[0])
    for label, column in (("E_pot", "epot_eV"), ("E_tot", "etot_eV")):
        np.testing.assert_allclose(energy[label][0], time_ps)
        np.testing.assert_allclose(energy[label][1], [row[column] - log[0]["etot_eV"] for row in log])
    (temperature,) = figure.axes[1].get_lines()
    np.testing.assert_allclose(temperature.get_ydata(), [row["temperature_K"] for row in log])
    assert len(ase.io.read(out / "trajectory.extxyz", ":")) == 5
    assert main(args + ["--steps", "20"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--steps", "30", "--traj-every", "5", "--resume"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from_step"] == 20 and summary["steps"] == 30
    assert len(ase.io.read(out / "trajectory.extxyz", ":")) == 7
    assert main(args + ["--steps", "10", "--ensemble", "nvt", "--format", "traj", "--overwrite"]) == 0
    assert (out / "trajectory.traj").exists()


def test_relax_with_cell_and_fixed_atoms(files, capsys):
    out = files / "relaxed.extxyz"
    code = main(["relax", str(files / "morse.pt"), str(files / "cu.xyz"), "--cell", "--fmax", "1e-3", "-o", str(out), "--quiet"])
    assert code == 0 and "converged" in capsys.readouterr().out
    relaxed = ase.io.read(out)
    assert abs(relaxed.get_stress()).max() < 1e-3 and abs(relaxed.cell.lengths()[0] - 3.5) > 0.05
    assert main(["relax", str(files / "morse.pt"), str(files / "cu.xyz"), "--fix", "a-b", "-o", str(files / "x.xyz")]) == 2


def test_relax_holds_the_fixed_atoms_and_moves_the_rest(files, capsys):
    """--fix takes indices and inclusive ranges; those atoms stay put while the others relax."""
    rattled = bulk("Cu", "fcc", a=3.5, cubic=True)
    rattled.rattle(0.1, seed=4)
    ase.io.write(files / "rattled.xyz", rattled)
    rattled = ase.io.read(files / "rattled.xyz")  # as the command reads it, rounded by the file
    out = files / "relaxed.extxyz"
    code = main(["relax", str(files / "morse.pt"), str(files / "rattled.xyz"), "--fix", "0-1,3", "--fmax", "1e-3",
                 "-o", str(out), "--quiet"])
    assert code == 0 and "converged" in capsys.readouterr().out
    relaxed = ase.io.read(out)
    moved = np.linalg.norm(relaxed.positions - rattled.positions, axis=1)
    np.testing.assert_array_equal(moved[[0, 1, 3]], 0.0)
    assert moved[2] > 0.01
    assert np.abs(relaxed.get_forces()[2]).max() < 1e-3  # the free atom is relaxed, the fixed ones need not be
    assert np.abs(relaxed.get_forces()[[0, 1, 3]]).max() > 1e-2


def test_vib_writes_frequencies_modes_and_spectrum(files, capsys):
    out = files / "vib"
    with saved_figures() as figures:
        assert main(["vib", str(files / "springs.pt"), str(files / "co.xyz"), "-o", str(out)]) == 0
    masses = Atoms("CO").get_masses()
    expected = np.sqrt(30.0 * masses.sum() / masses.prod()) * 521.4709
    record = json.loads((out / "frequencies.json").read_text())
    assert record["frequencies_cm1"] == pytest.approx([expected], rel=1e-5)
    assert "not a stationary point" in capsys.readouterr().out  # 1.25 Å is stretched from r0 = 1.2
    (figure,) = figures  # one stick at the one frequency
    png_pixels(out / "spectrum.png", figure)
    (sticks,) = figure.axes[0].collections
    (segment,) = sticks.get_segments()
    np.testing.assert_allclose(segment[:, 0], [expected, expected], rtol=1e-5)
    assert len(ase.io.read(out / "modes.extxyz", ":")) == 12


def test_neb_then_ts_from_the_highest_image(files, capsys):
    neb_out, ts_out = files / "neb", files / "ts"
    with saved_figures() as figures:
        code = main(["neb", str(files / "surface.pt"), str(files / "a.xyz"), str(files / "b.xyz"), "--images", "4",
                     "--interpolation", "linear", "--fmax", "0.01", "-o", str(neb_out), "--quiet"])
    assert code == 0
    (figure,) = figures  # the band's energies from the first image, the highest one starred
    png_pixels(neb_out / "profile.png", figure)
    energies = np.array(json.loads((neb_out / "neb.json").read_text())["energies_eV"])
    drawn = figure.axes[0].get_lines()
    np.testing.assert_allclose(drawn[0].get_ydata(), energies - energies[0])
    highest = int(np.argmax(energies))
    np.testing.assert_allclose(drawn[1].get_ydata(), [energies[highest] - energies[0]])
    np.testing.assert_allclose(drawn[1].get_xdata(), [drawn[0].get_xdata()[highest]])
    code = main(["ts", str(files / "surface.pt"), str(neb_out / "highest.extxyz"), "--projection", "none", "--fmax", "1e-6",
                 "--reactant", str(files / "a.xyz"), "-o", str(ts_out), "--quiet"])
    assert code == 0
    output = capsys.readouterr().out
    assert "first-order saddle" in output and "barrier forward" in output
    record = json.loads((ts_out / "ts.json").read_text())
    assert record["first_order_saddle"] and record["num_imaginary"] == 1
    np.testing.assert_allclose(ase.io.read(ts_out / "ts.extxyz").positions, 0.0, atol=1e-6)
    assert record["barrier_forward_eV"] == pytest.approx(1.0 - record["reactant_energy_eV"], abs=1e-9)


@pytest.mark.parametrize("command", ["md", "relax", "vib", "ts", "neb", "evaluate"])
def test_threads_option(command, files, capsys, monkeypatch):
    """Every simulation command (and evaluate) takes --threads: it sets torch's threads, and a
    count below 1 is a one-line error."""
    positionals = {"neb": [str(files / "a.xyz"), str(files / "b.xyz")], "evaluate": [str(files / "co.xyz")]}
    args = [command, str(files / "springs.pt"), *positionals.get(command, [str(files / "co.xyz")])]
    assert main(args + ["--threads", "0"]) == 2
    assert "--threads must be >= 1, got 0" in capsys.readouterr().err
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    main(args + ["--threads", "1", "-o" if command != "evaluate" else "--out", str(files / f"out_{command}")])
    assert seen and set(seen) == {1}


def test_bad_inputs_are_one_line_errors(files, capsys):
    assert main(["vib", str(files / "missing.pt"), str(files / "co.xyz"), "-o", str(files / "v")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (files / "broken.xyz").write_text("3\nnot a structure\nH 0 0\n")
    assert main(["vib", str(files / "springs.pt"), str(files / "broken.xyz"), "-o", str(files / "v")]) == 2
    assert "cannot read a structure" in capsys.readouterr().err
    assert main(["vib", str(files / "morse.pt"), str(files / "co.xyz"), "-o", str(files / "v")]) == 2
    assert "not trained on element" in capsys.readouterr().err


def test_md_with_too_long_a_time_step_trips_a_guard(tmp_path, capsys):
    """The issue's run: NVE at 10 fs with a small random TensorNet flies acac apart; it now
    stops at once with what tripped, exit status 3 and the last good frame saved."""
    torch.manual_seed(0)
    model = build_model("tensornet", {"elements": [1, 6, 8], "hidden_dim": 8, "num_layers": 1, "num_rbf": 8, "scale": 5.0})
    save_model(model, tmp_path / "model.pt")
    ase.io.write(tmp_path / "acac.xyz", ase.io.read(bundled_path("acac_test"), 0))
    out = tmp_path / "md"
    args = ["md", str(tmp_path / "model.pt"), str(tmp_path / "acac.xyz"), "--ensemble", "nve", "--timestep", "10",
            "--steps", "400", "-o", str(out), "--quiet"]
    assert main(args) == 3
    err = capsys.readouterr().err.splitlines()
    assert re.match(r"irreps md: stopped at step \d+ \(\d+ fs\): .+; the last good frame \(step \d+\) is in ", err[0]), err
    assert err[1].startswith(f"the run so far is in {out}/*.part: --resume continues")
    good = ase.io.read(out / "trajectory.last_good.extxyz")
    assert len(good) == 15 and f"(step {good.info['step']})" in err[0]
    assert not (out / "summary.json").exists() and (out / "trajectory.extxyz.part").exists()


def test_md_refuses_direct_forces_unless_allowed(tmp_path, capsys):
    torch.manual_seed(0)
    model = build_model("tensornet", {"elements": [1, 6, 8], "hidden_dim": 4, "num_layers": 1, "num_rbf": 4,
                                      "cutoff": 3.0, "direct_forces": True})
    save_model(model, tmp_path / "direct.pt")
    save_model(build_model("harmonic_pair", {"elements": [6, 8], "k": 30.0, "r0": 1.2}), tmp_path / "springs.pt")
    ase.io.write(tmp_path / "co.xyz", Atoms("CO", positions=[[0, 0, 0], [1.25, 0, 0]]))
    args = ["md", str(tmp_path / "direct.pt"), str(tmp_path / "co.xyz"), "--quiet", "--steps", "5", "--forces", "direct"]
    assert main(args + ["-o", str(tmp_path / "a")]) == 2
    assert "--allow-nonconservative" in capsys.readouterr().err and not (tmp_path / "a").exists()
    assert main(args + ["-o", str(tmp_path / "b"), "--allow-nonconservative"]) == 0
    no_head = ["md", str(tmp_path / "springs.pt"), str(tmp_path / "co.xyz"), "--quiet", "--steps", "5",
               "--forces", "direct", "--allow-nonconservative", "-o", str(tmp_path / "c")]
    assert main(no_head) == 2
    assert "no direct force head" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["md", "relax", "vib", "ts", "neb"])
def test_every_command_stops_on_a_guard_with_status_3(command, files, capsys):
    """Every simulation command takes the guard options: a force limit below the input's
    forces stops it with what tripped, the way to tune the guards and exit status 3."""
    inputs = ["surface.pt", "a.xyz", "b.xyz"] if command == "neb" else ["springs.pt", "co.xyz"]
    args = [command, *(str(files / name) for name in inputs), "-o", str(files / f"out_{command}"), "--quiet"]
    assert main(args + ["--max-force", "1e-6"]) == 3
    err = capsys.readouterr().err.splitlines()
    assert re.match(rf"irreps {command}: stopped (at step 0|before the harmonic analysis).*: force -?\d+\.\d eV/Å on atom \d "
                    r"\(\w+\) exceeds the limit of 1e-06 eV/Å", err[0]), err
    assert err[-1].endswith(f"`irreps {command} --help` lists the guard options that tune or switch off the checks")


def test_relax_floor_from_the_training_distances_the_model_file_records(files, capsys):
    """A model file that records a shortest C-O distance of 1.5 Å puts the floor at
    0.95 x 1.5 Å: relaxing springs from 1.6 Å towards 1.2 Å (FIRE: small first steps) trips it,
    says which floor is used and leaves the last good step, at or above the floor; --no-guards
    relaxes to 1.2 Å."""
    model = build_model("harmonic_pair", {"elements": [6, 8], "k": 30.0, "r0": 1.2})
    save_model(model, files / "trained.pt", metadata={"training": {"shortest_distances": [[6, 8, 1.5]]}})
    ase.io.write(files / "long.xyz", Atoms("CO", positions=[[0, 0, 0], [1.6, 0, 0]]))
    out = files / "relaxed.extxyz"
    args = ["relax", str(files / "trained.pt"), str(files / "long.xyz"), "-o", str(out), "--fmax", "1e-4", "--optimizer", "fire"]
    assert main(args + ["--min-distance", "0.95"]) == 3
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("guards: distance floor: 0.95 x the shortest distance of each element pair in the training data "
                      "(C-O 1.500 Å); 0.95 x the sum of covalent radii for other pairs")
    assert re.search(r"stopped at step \d+: atoms 0 \(C\) and 1 \(O\) are 1.\d+ Å apart, below the floor of 1.425 Å "
                     r"\(0.95 x the shortest C-O distance in the training data, 1.500 Å\); the last good frame", err[-2]), err
    good = ase.io.read(files / "relaxed.last_good.extxyz")
    assert 1.425 <= good.get_distance(0, 1) < 1.6 and not out.exists()
    assert main(args + ["--no-guards", "--quiet"]) == 0
    assert ase.io.read(out).get_distance(0, 1) == pytest.approx(1.2, abs=1e-4)
    assert main(["relax", str(files / "springs.pt"), str(files / "long.xyz"), "-o", str(files / "r2.extxyz")]) == 0
    assert "the model file records no training distances" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["md", "relax", "vib", "ts", "neb"])
def test_overlapping_atoms_in_the_input_are_refused(command, files, capsys):
    """Two atoms 1e-4 Å apart: every command refuses the input in one line naming the file,
    frame and pair; --allow-close-atoms reads it, and then the distance guard trips."""
    ase.io.write(files / "overlap.xyz", Atoms("CO", positions=[[0, 0, 0], [1e-4, 0, 0]]))
    inputs = ["overlap.xyz", "co.xyz"] if command == "neb" else ["overlap.xyz"]
    args = [command, str(files / "springs.pt"), *(str(files / name) for name in inputs), "-o", str(files / command), "--quiet"]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (
        f"irreps {command}: error: {files / 'overlap.xyz'}, frame -1: overlapping atoms: atoms 0 (C) and 1 (O) are 0.0001 Å "
        "apart, below the floor of 0.710 Å (0.5 x the sum of their covalent radii); pass --allow-close-atoms if they are meant")
    assert main(args + ["--allow-close-atoms"]) == 3
    assert "0.0001 Å apart" in capsys.readouterr().err


def test_vib_of_close_atoms_when_asked(files):
    ase.io.write(files / "close.xyz", Atoms("CO", positions=[[0, 0, 0], [0.5, 0, 0]]))
    args = ["vib", str(files / "springs.pt"), str(files / "close.xyz"), "-o", str(files / "v"), "--quiet"]
    assert main(args) == 2
    assert main(args + ["--allow-close-atoms", "--min-distance", "off"]) == 0


def test_relax_of_an_md_frame_writes_a_structure_at_rest_and_shows_the_energy_change(files, capsys):
    """The issue's relax of an MD frame kept its momenta and 'step=1000 time_fs=500.0', and
    its progress printed E=-1.766e+04; now the outputs carry neither, and progress and the
    result show the change from the start."""
    md = files / "md"
    assert main(["md", str(files / "springs.pt"), str(files / "co.xyz"), "-o", str(md), "--steps", "20", "--quiet"]) == 0
    out, path = files / "relaxed.extxyz", files / "path.extxyz"
    assert main(["relax", str(files / "springs.pt"), str(md / "trajectory.extxyz"), "-o", str(out),
                 "--trajectory", str(path)]) == 0
    captured = capsys.readouterr()
    progress = [line for line in captured.err.splitlines() if line.startswith("relax bfgs")]
    assert progress and all(re.search(r" dE=-?\d", line) and " E=" not in line for line in progress), progress
    change = re.search(r"E = -?\d+\.\d{6} eV \((-\d\.\d{6}) eV from the start\)", captured.out)
    assert change and float(change.group(1)) < 0, captured.out
    for frame in [ase.io.read(out), *ase.io.read(path, ":")]:
        assert "momenta" not in frame.arrays and not {"step", "time_fs"} & set(frame.info), (frame.arrays, frame.info)


def test_nvt_summary_reports_the_temperature_fluctuation_not_the_total_energy_spread(files, capsys):
    """Under a thermostat E_tot is not conserved: the summary gives the temperature's mean and
    standard deviation beside the canonical T sqrt(2 / N_dof) (4 Cu atoms, centre of mass held: 9)."""
    out = files / "nvt"
    assert main(["md", str(files / "morse.pt"), str(files / "cu.xyz"), "-o", str(out), "--ensemble", "nvt",
                 "--steps", "40", "--quiet"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert re.fullmatch(r"mean T \d+\.\d K \(bath 300 K\); T fluctuation \d+\.\d K \(canonical: 141\.4 K for 9 "
                        r"degrees of freedom\)", line), line
    summary = json.loads((out / "summary.json").read_text())
    assert "etot_max_deviation_meV_per_atom" not in summary
    assert summary["canonical_temperature_std_K"] == pytest.approx(300 * np.sqrt(2 / 9))
    temperatures = np.loadtxt(out / "log.csv", delimiter=",", skiprows=1, usecols=2)
    assert summary["temperature_std_K"] == pytest.approx(temperatures.std()) and summary["degrees_of_freedom"] == 9
    assert main(["md", str(files / "morse.pt"), str(files / "cu.xyz"), "-o", str(files / "nve"), "--steps", "5", "--quiet"]) == 0
    assert "E_tot spread" in capsys.readouterr().out


def test_md_with_a_committee_logs_its_spread(tmp_path):
    for k, k_spring in enumerate((30.0, 33.0)):
        save_model(build_model("harmonic_pair", {"elements": [6, 8], "k": k_spring, "r0": 1.2}), tmp_path / f"m{k}.pt")
    ase.io.write(tmp_path / "co.xyz", Atoms("CO", positions=[[0, 0, 0], [1.25, 0, 0]]))
    out = tmp_path / "md"
    args = ["md", str(tmp_path / "m0.pt"), str(tmp_path / "co.xyz"), "--model", str(tmp_path / "m1.pt"),
            "--steps", "10", "--quiet", "-o", str(out)]
    assert main(args) == 0
    header = (out / "log.csv").read_text().splitlines()[0].split(",")
    assert header[-2:] == ["epot_std_eV", "max_force_std_eV_A"]
    spread = np.loadtxt(out / "log.csv", delimiter=",", skiprows=1, usecols=(-2, -1))
    assert (spread[:, 0] > 0).all() and (spread[:, 1] > 0).all()  # two spring constants disagree off r0


def test_structures_can_be_read_from_the_bundled_datasets(tmp_path):
    """`irreps md MODEL bundled:acac_test` (as the example configs say) reads the shipped file."""
    import pytest as _pytest

    from irreps.cli._sim import read_structure

    atoms = read_structure("bundled:acac_test", "2", allow_close_atoms=False)
    assert atoms.get_chemical_formula() == "C5H8O2"
    with _pytest.raises(ValueError, match="unknown bundled dataset 'nope'; available: acac_train"):
        read_structure("bundled:nope", "0", allow_close_atoms=False)
    with _pytest.raises(FileNotFoundError, match="structure file .*missing.xyz does not exist"):
        read_structure(str(tmp_path / "missing.xyz"), "0", allow_close_atoms=False)


@pytest.mark.parametrize("command", ["md", "relax"])
def test_compile_option_reaches_the_calculator(command, files, capsys, monkeypatch):
    """--compile (shared by the simulation commands) evaluates through the compiled program;
    the recording runs as it is here (the ``eager`` backend), inductor is too slow for a test."""
    from irreps.calculators import ase_calculator
    from irreps.nn.compiled_potential import CompiledPotential

    made = []

    def recorded_only(model):
        made.append(CompiledPotential(model, backend="eager"))
        return made[-1]

    monkeypatch.setattr(ase_calculator, "CompiledPotential", recorded_only)
    out = str(files / f"out_{command}" / ("relaxed.xyz" if command == "relax" else ""))
    extra = ["--steps", "5"] if command == "md" else []
    assert main([command, str(files / "springs.pt"), str(files / "co.xyz"), "--compile", "--quiet", "-o", out, *extra]) == 0
    assert len(made) == 1 and made[0].num_recordings == 1
