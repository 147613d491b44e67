"""Benchmark datasets, their fixed splits and the files every system trains on.

A split is a JSON file under ``benchmarks/splits/`` (made once by :func:`make_split`, with its
seed): which frames of the source file train and validate, and which files test. Every system
reads the same materialised files (:func:`materialise`), written with explicit keys
``REF_energy`` / ``REF_forces`` (eV, eV/Å) so no reader's key conventions matter; isolated
atoms carry ``config_type=IsolatedAtom`` as MACE expects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SPLITS = REPO / "benchmarks" / "splits"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "botnet"
ENERGY_KEY, FORCES_KEY = "REF_energy", "REF_forces"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset's frames come from and how it is split (sizes as in the issue)."""

    name: str
    source: str                     # relative to the data folder
    isolated: str
    num_train: int
    num_valid: int
    tests: dict[str, str]           # test-set name -> file ("" = the source's remainder)
    exclude_from_tests: bool = False  # drop test frames identical to a source frame


DATASETS = {
    "acac": DatasetSpec("acac", "acac/train_300K.xyz", "acac/isolated_atoms.xyz", 450, 50,
                        {"test_MD_300K": "acac/test_MD_300K.xyz"}),
    "ethanol": DatasetSpec("ethanol", "ethanol/train.xyz", "ethanol/isolated_atoms.xyz", 950, 50,
                           {"test_MD": "ethanol/test_MD.xyz"}),
    # train_300K.xyz holds exactly 500 frames, so 450/50 would leave no 300 K test set: 400/50
    # keeps 50 for it. train_mixedT.xyz shares 31 frames with train_300K.xyz; they are dropped
    # from the extrapolation set.
    "3bpa": DatasetSpec("3bpa", "3bpa/train_300K.xyz", "3bpa/iso_atoms.xyz", 400, 50,
                        {"test_300K": "", "mixedT": "3bpa/train_mixedT.xyz"}, exclude_from_tests=True),
}


def split_path(name: str) -> Path:
    return SPLITS / f"{name}.json"


def make_split(name: str, data_dir: Path, seed: int = 0) -> dict:
    """Draw the train/valid indices of dataset ``name`` (run once; the JSON is committed)."""
    import ase.io

    spec = DATASETS[name]
    count = len(ase.io.read(data_dir / spec.source, index=":"))
    order = np.random.default_rng(seed).permutation(count)
    train = sorted(int(i) for i in order[: spec.num_train])
    valid = sorted(int(i) for i in order[spec.num_train : spec.num_train + spec.num_valid])
    return {"dataset": name, "seed": seed, "source": spec.source, "source_frames": count,
            "train": train, "valid": valid, "tests": spec.tests, "isolated": spec.isolated}


def load_split(name: str) -> dict:
    path = split_path(name)
    if not path.is_file():
        raise ValueError(f"no split file {path}; known datasets: {', '.join(DATASETS)}")
    return json.loads(path.read_text())


def _labelled(atoms):
    """A copy carrying only positions, numbers, cell/pbc and REF_ labels (no calculator)."""
    import ase

    out = ase.Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    out.info[ENERGY_KEY] = float(atoms.get_potential_energy())
    if len(atoms) > 1:
        out.arrays[FORCES_KEY] = np.asarray(atoms.get_forces(), dtype=float)
    else:
        out.info["config_type"] = "IsolatedAtom"
    return out


@dataclass(frozen=True)
class DatasetFiles:
    """The materialised files of one dataset (extxyz with REF_ keys) and the E0s (eV)."""

    train: Path
    valid: Path
    tests: dict[str, Path]
    isolated: Path
    e0s: dict[int, float]
    elements: tuple[int, ...]

    def to_json(self) -> dict:
        return {"train": str(self.train), "valid": str(self.valid), "isolated": str(self.isolated),
                "tests": {k: str(v) for k, v in self.tests.items()},
                "e0s": {str(k): v for k, v in self.e0s.items()}, "elements": list(self.elements)}


def _only_elements(path: Path, elements: tuple[int, ...]) -> bool:
    import ase.io

    return {int(a.numbers[0]) for a in ase.io.read(path, index=":")} == set(elements)


def materialise(name: str, data_dir: Path, out_dir: Path) -> DatasetFiles:
    """Write train/valid/test/isolated-atom files of dataset ``name`` into ``out_dir`` (once)."""
    import ase.io

    split = load_split(name)
    source = data_dir / split["source"]
    missing = [p for p in [source, data_dir / split["isolated"]] + [data_dir / f for f in split["tests"].values() if f]
               if not p.is_file()]
    if missing:
        raise FileNotFoundError("benchmark data missing (see --data-dir; default ../shared/data/botnet): "
                                + ", ".join(str(p) for p in missing))
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = ase.io.read(source, index=":")
    if len(frames) != split["source_frames"]:
        raise ValueError(f"{source} has {len(frames)} frames, the split was made for {split['source_frames']}")
    used = set(split["train"]) | set(split["valid"])
    seen = {np.round(frames[i].get_potential_energy(), 8) for i in range(len(frames))}
    files = {"train": out_dir / "train.xyz", "valid": out_dir / "valid.xyz", "isolated": out_dir / "isolated_atoms.xyz"}
    tests = {test: out_dir / f"{test}.xyz" for test in split["tests"]}
    if not all(p.is_file() for p in [*files.values(), *tests.values()]):
        ase.io.write(files["train"], [_labelled(frames[i]) for i in split["train"]], format="extxyz")
        ase.io.write(files["valid"], [_labelled(frames[i]) for i in split["valid"]], format="extxyz")
        for test, rel in split["tests"].items():
            if rel:
                chosen = [f for f in ase.io.read(data_dir / rel, index=":")
                          if not (DATASETS[name].exclude_from_tests and np.round(f.get_potential_energy(), 8) in seen)]
            else:
                chosen = [frames[i] for i in range(len(frames)) if i not in used]
            ase.io.write(tests[test], [_labelled(f) for f in chosen], format="extxyz")
    elements = tuple(sorted({int(z) for i in split["train"] for z in frames[i].numbers}))
    if not files["isolated"].is_file() or not _only_elements(files["isolated"], elements):
        # Only the training set's elements: a peer sizes its element table from the training data
        # and rejects E0s of others (ethanol's file also holds N; MACE then fails on a shape).
        lone = [a for a in ase.io.read(data_dir / split["isolated"], index=":") if int(a.numbers[0]) in elements]
        ase.io.write(files["isolated"], [_labelled(a) for a in lone], format="extxyz")
    isolated = ase.io.read(files["isolated"], index=":")
    e0s = {int(a.numbers[0]): float(a.info[ENERGY_KEY]) for a in isolated}
    if set(e0s) != set(elements):
        raise ValueError(f"{data_dir / split['isolated']} has isolated atoms of {sorted(e0s)}, "
                         f"the training set has elements {list(elements)}")
    return DatasetFiles(files["train"], files["valid"], tests, files["isolated"], e0s, elements)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="(Re)make the committed split files; normally never needed.")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("datasets", nargs="*", default=list(DATASETS))
    args = parser.parse_args()
    SPLITS.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        path = split_path(dataset)
        if path.exists():
            raise SystemExit(f"{path} exists: splits are fixed once; delete it deliberately to remake it")
        path.write_text(json.dumps(make_split(dataset, args.data_dir, args.seed)) + "\n")
        print(f"wrote {path}")
