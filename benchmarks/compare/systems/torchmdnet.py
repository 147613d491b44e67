"""TorchMD-Net's TensorNet, trained by its authors' ``torchmd-train`` with ``examples/TensorNet-rMD17.yaml``.

The recipe (torchmd/torchmd-net, examples/TensorNet-rMD17.yaml): TensorNet, 128 channels,
2 layers, 32 expnorm radial functions, cutoff 4.5 Å, batch 8, AdamW lr 1e-3 with 500 warm-up
steps and ReduceLROnPlateau (factor 0.8, patience 25, min 1e-8), energy/force loss weights
0.5/0.5 with an exponential moving average of the energy loss (alpha 0.01), gradient clipping 40,
standardized total energies without a prior, float32. Changed for this benchmark: the data
(Custom dataset, below), one checkpoint per epoch instead of one per 10, an unlimited number of
epochs (the CPU cap ends the run), no test set, and no data-loader workers (one thread).

TorchMD-Net reads extxyz through none of its dataset classes, so :meth:`TorchMDNet.train_command`
writes the train and validation frames as its ``Custom`` dataset (NumPy files of coordinates,
atomic numbers, energies and forces, one set of files per distinct atom sequence) with a
``splits.npz`` naming which frames train and which validate. Units are eV and eV/Å throughout,
total energies as in the recipe (which feeds rMD17's total energies), so the model predicts
total energies in eV. The recipe's loss weights are a ratio, unchanged by the choice of units.

Lightning prints no validation errors, so :meth:`TorchMDNet.curve_from_files` reads them from the
CSV log (``metrics.csv``), whose rows carry the epoch. In the training log, the first progress-bar
line ``Epoch N+1:`` comes right after epoch N's validation (and checkpoint), which maps epochs to
CPU time. On SIGTERM Lightning finishes the current batch, writes the CSV log and exits.
"""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any

from .base import Job, System

SIZES = {"recommended": {"embedding_dimension": 128, "num_layers": 2},
         "small": {"embedding_dimension": 64, "num_layers": 1}}
_CHECKPOINT = re.compile(r"^epoch=(\d+)-.*\.ckpt$")


_PROGRESS = re.compile(r"^Epoch (\d+):")


class TorchMDNet(System):
    name = "torchmd-net"
    env = "torchmd-net"
    package = "torchmd-net"
    quiet_progress = False  # its progress bar is the only timing of epochs
    sizes = {
        "recommended": "TensorNet 128 ch, 2 layers, 32 expnorm RBF, cutoff 4.5, batch 8, lr 1e-3, E/F weights "
                       "0.5/0.5, float32 (torchmd-net examples/TensorNet-rMD17.yaml)",
        "small": "TensorNet 64 ch, 1 layer, otherwise as 'recommended' (a cut-down preset, not the authors')",
    }

    @staticmethod
    def _logs(job: Job) -> Path:
        return job.workdir / "logs"

    def train_command(self, job: Job) -> list[str]:
        """Write the data as a Custom dataset and the recipe as a YAML config; return torchmd-train on it."""
        data = job.workdir / "data"
        splits = _write_custom_dataset([Path(job.files.train), Path(job.files.valid)], data)
        config: dict[str, Any] = {
            "model": "tensornet", "equivariance_invariance_group": "O(3)", "activation": "silu", "aggr": "add",
            "num_rbf": 32, "rbf_type": "expnorm", "trainable_rbf": False,
            "cutoff_lower": 0.0, "cutoff_upper": 4.5, "max_num_neighbors": 32, "max_z": 100,
            "output_model": "Scalar", "reduce_op": "add", "atom_filter": -1, "prior_model": None,
            "standardize": True, "derivative": True, "precision": 32, **SIZES[job.size],
            "batch_size": 8, "inference_batch_size": 64, "lr": 1e-3, "lr_factor": 0.8, "lr_min": 1e-8,
            "lr_patience": 25, "lr_warmup_steps": 500, "weight_decay": 0.0, "gradient_clipping": 40.0,
            "y_weight": 0.5, "neg_dy_weight": 0.5, "ema_alpha_y": 0.01, "ema_alpha_neg_dy": 1.0,
            "early_stopping_patience": 300, "num_epochs": 1_000_000,
            "dataset": "Custom", "coord_files": str(data / "*.pos.npy"), "embed_files": str(data / "*.z.npy"),
            "energy_files": str(data / "*.energy.npy"), "force_files": str(data / "*.forces.npy"),
            "splits": str(splits), "train_size": None, "val_size": None, "test_size": None,
            "seed": job.seed, "log_dir": str(self._logs(job)), "save_interval": 1, "test_interval": -1,
            "ngpus": 1, "num_nodes": 1, "num_workers": 0, "redirect": False,
        }
        path = job.workdir / "tensornet.yaml"
        path.write_text(json.dumps(config, indent=1) + "\n")
        return [str(job.bin / "torchmd-train"), "--conf", str(path)]

    def curve_point(self, line: str) -> dict[str, float] | None:
        """An epoch marker: the progress bar's ``Epoch N:`` (from 0) follows the validation after N epochs.

        Lightning prints no validation errors (see :meth:`curve_from_files`); the runner keeps
        the first marker of each epoch to place the CSV rows on the CPU-time axis.
        """
        match = _PROGRESS.match(line)
        return {"epoch": int(match[1])} if match and int(match[1]) > 0 else None

    def curve_from_files(self, job: Job) -> list[dict[str, float]]:
        """Validation force errors per epoch from Lightning's ``metrics.csv`` (eV/Å there, meV/Å here)."""
        path = self._logs(job) / "metrics.csv"
        if not path.is_file():
            return []
        points = []
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("val_neg_dy_l1_loss") and row.get("val_neg_dy_mse_loss"):
                    points.append({"epoch": int(float(row["epoch"])) + 1,  # epochs trained
                                   "valid_f_mae": 1e3 * float(row["val_neg_dy_l1_loss"]),
                                   "valid_f_rmse": 1e3 * math.sqrt(float(row["val_neg_dy_mse_loss"]))})
        return points

    def model_file(self, job: Job) -> Path:
        """The checkpoint torchmd-train itself deploys and tests: its ModelCheckpoint's best model.

        Checkpoints are written only for epochs entering the top 10 by validation loss, so the
        newest one carries the best path of the whole run; the file names round the loss to four
        decimals (eV² here), too coarse to rank them.
        """
        saved = {int(m[1]): p for p in self._logs(job).glob("*.ckpt") if (m := _CHECKPOINT.match(p.name))}
        if not saved:
            raise RuntimeError(f"torchmd-train saved no checkpoint in {self._logs(job)} (no epoch finished "
                               "inside the cap; see its log)")
        newest = saved[max(saved)]
        script = ("import sys, torch; c = torch.load(sys.argv[1], map_location='cpu', weights_only=False); "
                  "print(next(v['best_model_path'] for k, v in c['callbacks'].items() "
                  "if k.startswith('ModelCheckpoint')))")
        out = subprocess.run([str(job.python), "-c", script, str(newest)], capture_output=True, text=True)
        best = Path(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else None
        if best is None or not best.is_file():
            raise RuntimeError(f"no best model recorded in {newest}: {out.stderr[-500:]}")
        return best

    def num_parameters(self, job: Job) -> int | None:
        try:
            path = self.model_file(job)
        except RuntimeError:
            return None
        script = ("import sys; from torchmdnet.models.model import load_model; "
                  "print(sum(p.numel() for p in load_model(sys.argv[1]).parameters()))")
        out = subprocess.run([str(job.python), "-c", script, str(path)], capture_output=True, text=True)
        return int(out.stdout.split()[-1]) if out.returncode == 0 and out.stdout.split() else None

    @staticmethod
    def calculator(model_path: str, dtype: str) -> Any:
        return _calculator(model_path, dtype)


def _write_custom_dataset(files: list[Path], out: Path) -> Path:
    """Write the frames of ``files`` as TorchMD-Net Custom-dataset NumPy files; return the splits file.

    Custom concatenates its files in sorted order, one file per atom sequence, so each frame's
    index is its group's offset plus its place within the group. ``files`` are train, valid.
    """
    import ase.io
    import numpy as np

    groups: dict[tuple[int, ...], list[tuple[int, Any]]] = {}
    for split, file in enumerate(files):
        for atoms in ase.io.read(file, index=":"):
            groups.setdefault(tuple(int(z) for z in atoms.numbers), []).append((split, atoms))
    out.mkdir(parents=True, exist_ok=True)
    indices: list[list[int]] = [[] for _ in files]
    offset = 0
    for k, (numbers, frames) in enumerate(groups.items()):
        stem = out / f"{k:04d}"
        np.save(f"{stem}.z.npy", np.array(numbers, dtype=np.int64))
        np.save(f"{stem}.pos.npy", np.stack([a.positions for _, a in frames]).astype(np.float32))
        np.save(f"{stem}.energy.npy", np.array([[a.info["REF_energy"]] for _, a in frames], dtype=np.float64))
        np.save(f"{stem}.forces.npy", np.stack([a.arrays["REF_forces"] for _, a in frames]).astype(np.float32))
        for i, (split, _) in enumerate(frames):
            indices[split].append(offset + i)
        offset += len(frames)
    path = out / "splits.npz"
    np.savez(path, idx_train=np.array(indices[0], dtype=np.int64), idx_val=np.array(indices[1], dtype=np.int64),
             idx_test=np.array([], dtype=np.int64))
    return path


def _calculator(model_path: str, dtype: str) -> Any:
    """A minimal ASE calculator on ``load_model(…, derivative=True)``: energy in eV, forces in eV/Å.

    Molecules only: no periodic box is passed to the model.
    torchmdnet.calculators.TMDNETCalculator is not used: it requires ``atoms.info["charge"]``
    and always feeds float32 positions, so it cannot run a float64 model.
    """
    import torch
    from ase.calculators.calculator import Calculator, all_changes
    from torchmdnet.models.model import load_model

    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    model = load_model(model_path, derivative=True).to(dtype=torch_dtype).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)

    class TensorNetCalculator(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
            super().calculate(atoms, properties, system_changes)
            z = torch.as_tensor(self.atoms.numbers, dtype=torch.long)
            pos = torch.as_tensor(self.atoms.positions, dtype=torch_dtype)
            energy, forces = model(z, pos)  # forces: the model's -dE/dpos
            self.results = {"energy": float(energy.detach().sum()), "forces": forces.detach().double().numpy()}

    return TensorNetCalculator()
