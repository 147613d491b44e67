"""Data preparation: E0 files read with their own keys, whatever data.keys says; overlapping atoms refused."""

import ase.io
import pytest

from irreps.data import bundled_path
from irreps.train.config import load_config
from irreps.train.prepare import prepare_data


def _renamed(frames, energy_key):
    """Copies of ``frames`` holding energy (and forces) only under REF_ keys."""
    out = []
    for atoms in frames:
        copy = atoms.copy()
        copy.info[energy_key] = atoms.get_potential_energy()
        if len(atoms) > 1:
            copy.arrays["REF_forces"] = atoms.get_forces()
        out.append(copy)  # atoms.copy() drops the calculator: no standard energy/forces remain
    return out


@pytest.mark.parametrize("e0_file", ["standard", "renamed"])
def test_renamed_data_keys_combine_with_a_standard_or_renamed_e0_file(tmp_path, e0_file):
    isolated = ase.io.read(bundled_path("acac_isolated_atoms"), ":")
    ase.io.write(tmp_path / "train.xyz", _renamed(ase.io.read(bundled_path("acac_train"), ":12"), "REF_energy"))
    e0_path = bundled_path("acac_isolated_atoms")
    if e0_file == "renamed":
        e0_path = tmp_path / "e0.xyz"
        ase.io.write(e0_path, _renamed(isolated, "REF_energy"))
    config = load_config(None, [
        f"data.train_file={tmp_path / 'train.xyz'}", f"data.isolated_atoms_file={e0_path}",
        "data.keys={energy: REF_energy, forces: REF_forces}", "data.valid_fraction=0.25",
    ])
    data = prepare_data(config.data, ("energy", "forces"), seed=1, log=lambda line: None)
    assert data.e0s == pytest.approx({int(a.numbers[0]): a.get_potential_energy() for a in isolated})
    assert data.e0_source == "isolated_atoms_file" and len(data.train) == 9


@pytest.mark.parametrize("separation", [0.0, 1e-4], ids=["overlap", "1e-4"])
def test_overlapping_atoms_are_refused_naming_the_frame_and_pair(tmp_path, separation):
    """Atoms at one position (or 1e-4 Å apart) in frame 3 of a training file: a one-line error
    naming the file, frame and atoms; data.allow_close_atoms reads the file anyway."""
    frames = ase.io.read(bundled_path("acac_train"), ":6")
    frames[3].positions[5] = frames[3].positions[2] + [separation, 0, 0]
    ase.io.write(tmp_path / "train.xyz", frames)
    common = [f"data.train_file={tmp_path / 'train.xyz'}", "data.isolated_atoms_file=bundled:acac_isolated_atoms",
              "data.valid_fraction=0.25"]
    pattern = (rf"train.xyz, frame 3: overlapping atoms: atoms 2 \({frames[3][2].symbol}\) and 5 \({frames[3][5].symbol}\) "
               rf"are {separation:.3g} Å apart, below the floor of \d\.\d+ Å \(0.5 x the sum of their covalent radii\); "
               r"if they are meant, allow them with data.allow_close_atoms")
    with pytest.raises(ValueError, match=pattern):
        prepare_data(load_config(None, common).data, ("energy", "forces"), seed=1, log=lambda line: None)
    data = prepare_data(load_config(None, common + ["data.allow_close_atoms=true"]).data, ("energy",), seed=1, log=lambda line: None)
    assert len(data.train) + len(data.valid) == 6


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (["data.train_file=bundled:acac_isolated_atoms"], ValueError,
         r"acac_isolated_atoms: holds only isolated atoms, no structures to train or test on"),
        (["data.train_file={one}"], ValueError, r"one.xyz: 1 structures are too few to hold out 1 for validation"),
        (["data.train_file={tmp}/absent.xyz"], FileNotFoundError, r"no such data file: .*absent.xyz"),
        (["data.train_file={one}", "data.valid_file={tmp}/absent.xyz"], FileNotFoundError, r"no such data file: .*absent.xyz"),
        (["data.train_file=bundled:acac_train", "data.isolated_atoms_file={tmp}/e0.xyz"], FileNotFoundError,
         r"no such data file: .*e0.xyz"),
        ([], ValueError, r"data.train_file is not set"),
    ],
    ids=["only-isolated-atoms", "too-few-to-validate", "no-train-file", "no-valid-file", "no-e0-file", "unset"],
)
def test_unusable_data_is_refused_naming_the_problem(tmp_path, overrides, error, message):
    ase.io.write(tmp_path / "one.xyz", ase.io.read(bundled_path("acac_train"), "0"))
    overrides = [o.format(one=tmp_path / "one.xyz", tmp=tmp_path) for o in overrides]
    with pytest.raises(error, match=message):
        prepare_data(load_config(None, overrides).data, ("energy",), seed=1, log=lambda line: None)
