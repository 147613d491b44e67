"""Sharded HDF5 datasets (`irreps data convert`): round trip of every field, laziness, errors."""

import json

import ase
import ase.io
import numpy as np
import pytest
import torch

from irreps.cli.main import main
from irreps.data import keys as K
from irreps.data import read_graphs
from irreps.data.shard_reader import ShardedDataset, is_sharded
from irreps.data.shard_writer import convert_to_shards

pytest.importorskip("h5py")


def _frames(rng: np.random.Generator) -> list[ase.Atoms]:
    """Molecules and crystals carrying every numeric field of data/keys.py; some lack some."""
    frames = []
    for n in range(7):
        size = 3 + n % 3
        periodic = n % 2 == 1
        atoms = ase.Atoms(numbers=rng.choice([1, 6, 8, 29], size), positions=rng.uniform(0, 4, (size, 3)),
                          cell=np.diag([6.0, 6.5, 7.0]) + 0.3 * rng.standard_normal((3, 3)) if periodic else None,
                          pbc=periodic)
        atoms.positions += np.arange(size)[:, None] * 1.2  # apart: no overlapping atoms
        atoms.info.update(energy=float(rng.normal(-100, 5)), dipole=rng.normal(size=3), weights=float(rng.uniform()),
                          total_charge=float(n % 2), polarizability=rng.normal(size=9), hessian=rng.normal(size=9 * size**2))
        if n != 3:
            atoms.info["stress"] = rng.normal(size=(3, 3))
            atoms.info["virials"] = rng.normal(size=(3, 3))
        if n != 4:
            atoms.info["config_type"] = f"kind{n % 2}"
        atoms.arrays["forces"] = rng.normal(size=(size, 3))
        atoms.arrays["charges"] = rng.normal(size=size)
        frames.append(atoms)
    frames.insert(2, ase.Atoms("O", info={"energy": -432.1, "config_type": "IsolatedAtom"}))
    return frames


def _assert_same(graph, want) -> None:
    for name in ("positions", "atomic_numbers", "edge_index", "shifts", "cell", "pbc", "batch"):
        torch.testing.assert_close(getattr(graph, name), getattr(want, name), rtol=0, atol=0, msg=name)
    assert graph.targets.keys() == want.targets.keys()
    for name, value in want.targets.items():
        assert graph.targets[name].dtype == value.dtype, name
        torch.testing.assert_close(graph.targets[name], value, rtol=0, atol=0, msg=name)
    assert graph.info == want.info


@pytest.mark.parametrize("block", [1, 2, 512])
def test_iterating_in_blocks_equals_indexing(tmp_path, monkeypatch, block):
    """Iteration reads runs of rows with one slice per dataset (the statistics pass); it must
    give every structure exactly as indexing does, for views in any order, Hessians included."""
    import irreps.data.shard_reader as reader

    monkeypatch.setattr(reader, "READ_BLOCK", block)
    source = tmp_path / "data.xyz"
    ase.io.write(source, _frames(np.random.default_rng(1)), format="extxyz")
    convert_to_shards(source, tmp_path / "out", shard_size=4, log=lambda line: None)
    dataset = ShardedDataset(tmp_path / "out", 3.0)
    for view in (dataset, dataset.subset([6, 0, 1, 3, 2, 5]), dataset.subset([0, 2, 3, 4, 6])):
        graphs = list(view)
        assert len(graphs) == len(view)
        for k, graph in enumerate(graphs):
            _assert_same(graph, view[k])
            assert graph.targets["hessian"].numel() == 9 * graph.num_atoms**2


def test_round_trip_keeps_every_field(tmp_path):
    source = tmp_path / "data.xyz"
    ase.io.write(source, _frames(np.random.default_rng(0)), format="extxyz")
    meta = convert_to_shards(source, tmp_path / "out", shard_size=3, log=lambda line: None)
    assert is_sharded(tmp_path / "out") and not is_sharded(tmp_path)
    assert meta["num_structures"] == 7 and [s["structures"] for s in meta["shards"]] == [3, 3, 1]
    numeric = [name for name, f in K.FIELDS.items() if f.level != "edge" and name not in
               (K.POSITIONS, K.ATOMIC_NUMBERS, K.CELL, K.PBC)]
    assert sorted(meta["fields"]) == sorted(numeric)  # every field the reader keeps
    want = [g for g in read_graphs(source, 3.0, required=(), dtype=torch.float64) if g.num_atoms > 1]
    dataset = ShardedDataset(tmp_path / "out", 3.0)
    assert len(dataset) == len(want) == 7
    assert {name for g in want for name in g.targets} | {"config_type"} == set(numeric)
    for k, (graph, reference) in enumerate(zip(dataset, want)):  # read in blocks, and one by one
        _assert_same(graph, reference)
        _assert_same(dataset[k], reference)
    isolated = ase.io.read(tmp_path / "out" / "isolated_atoms.xyz", ":")
    assert [a.get_chemical_symbols() for a in isolated] == [["O"]] and isolated[0].get_potential_energy() == -432.1

    # views: a subset in float32 keeps energies in float64, as training's cast does
    view = dataset.subset([5, 0]).to(dtype=torch.float32)
    assert len(view) == 2 and view[0].positions.dtype == torch.float32
    assert view[0].targets["energy"].dtype == torch.float64
    torch.testing.assert_close(view[1].targets["forces"], want[0].targets["forces"].float())
    with pytest.raises(IndexError):
        view[2]
    # fields: only those asked for (plus metadata); a required field lacking in a structure is named
    assert set(ShardedDataset(tmp_path / "out", 3.0, fields=("energy",))[0].targets) == {"energy"}
    with pytest.raises(ValueError, match=r"structure 3: missing required field 'stress'"):
        ShardedDataset(tmp_path / "out", 3.0, required=("energy", "stress"))


def test_cli_convert_and_its_errors(tmp_path, capsys):
    source = tmp_path / "data.xyz"
    frames = _frames(np.random.default_rng(1))
    for atoms in frames:
        atoms.info["REF_energy"] = atoms.info.pop("energy")
    ase.io.write(source, frames, format="extxyz")
    assert main(["data", "convert", str(source), str(tmp_path / "out"), "--key", "energy=REF_energy"]) == 0
    assert "7 structures in 1 shards, 1 isolated atoms" in capsys.readouterr().out
    assert ShardedDataset(tmp_path / "out", 3.0, required=("energy",))[0].targets["energy"].item() == pytest.approx(
        frames[0].info["REF_energy"])

    def error(*argv) -> str:
        assert main(["data", "convert", *map(str, argv)]) == 2
        return capsys.readouterr().err

    assert "not an empty directory" in error(source, tmp_path / "out")
    assert "no such data file" in error(tmp_path / "missing.xyz", tmp_path / "o2")
    assert "unknown field 'energie'" in error(source, tmp_path / "o3", "--key", "energie=E")
    assert "--key expects FIELD=KEY" in error(source, tmp_path / "o4", "--key", "energy")
    broken = tmp_path / "broken.xyz"
    broken.write_text(source.read_text().replace("\n4\n", "\nfour\n", 1))
    assert "cannot read frame" in error(broken, tmp_path / "o5")
    close = tmp_path / "close.xyz"
    ase.io.write(close, ase.Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.05]], info={"energy": 1.0}))
    assert "frame 0: overlapping atoms" in error(close, tmp_path / "o6")
    assert main(["data", "convert", str(close), str(tmp_path / "o7"), "--allow-close-atoms"]) == 0


def test_broken_directories_are_named(tmp_path):
    with pytest.raises(ValueError, match="not a converted dataset"):
        ShardedDataset(tmp_path, 3.0)
    source = tmp_path / "data.xyz"
    ase.io.write(source, _frames(np.random.default_rng(2)), format="extxyz")
    convert_to_shards(source, tmp_path / "out", shard_size=4, log=lambda line: None)
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    (tmp_path / "out" / "meta.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(ValueError, match="version 99"):
        ShardedDataset(tmp_path / "out", 3.0)
    (tmp_path / "out" / "meta.json").write_text(json.dumps(meta))
    (tmp_path / "out" / "shard_00001.h5").unlink()
    with pytest.raises(ValueError, match="cannot read shard .*shard_00001.h5"):
        ShardedDataset(tmp_path / "out", 3.0)
