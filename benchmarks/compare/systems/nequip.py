"""NequIP and Allegro, trained by ``nequip-train`` (nequip >= 0.7: Hydra config, PyTorch Lightning).

Both share one config: the training part of nequip's ``configs/tutorial.yaml`` (EMA module,
per-atom energy + force MSE loss 1:1, Adam, ReduceLROnPlateau on the validation MAE sum, batch 5)
with isolated-atom energies as per-type energy shifts (as the nequip docs recommend) and per-type
force RMS as scales. Only the model section and the learning rate differ (Allegro's tutorial:
"Allegro models do better with learning rates around 1e-3"). Training runs eagerly on the CPU in
float32 (``model_dtype``; nequip keeps positions, energy shifts and sums in float64).

The run is stopped from outside at the CPU cap: Lightning turns SIGTERM into a clean exit after the
current batch, and ``last.ckpt`` (written after every validation) is what the cap left. Validation
metrics go to a CSV file (Lightning's CSVLogger); the verbose ModelCheckpoint prints one line per
epoch, which marks the CPU time at which each CSV row was reached. ``nequip-compile`` turns
``last.ckpt`` (its EMA weights) into an AOTInductor ``.nequip.pt2`` file for the ASE calculator.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from .base import Job, System

CUTOFF = 5.0
# the recommended NequIP's architecture (also timed by benchmarks/nequip_train_step.py)
NEQUIP_RECOMMENDED: dict[str, Any] = {
    "num_bessels": 8, "bessel_trainable": False, "polynomial_cutoff_p": 6,
    "num_layers": 4, "l_max": 2, "parity": True, "num_features": 32,
    "radial_mlp_depth": 2, "radial_mlp_width": 64,
}
MONITOR = "val0_epoch/forces_rmse"
# printed by the verbose ModelCheckpoint after every validation (Lightning counts epochs from 0)
_EPOCH_LINE = re.compile(r"Epoch (\d+), global step \d+: 'val0_epoch/forces_rmse' ")
_PARAMS_LINE = re.compile(r"([0-9.]+)\s*([KMB]?)\s+Trainable params")


class _NequIPFramework(System):
    """A model of the nequip framework, trained with the shared tutorial recipe."""

    lr: float  # Adam learning rate

    def model_config(self, job: Job, common: dict[str, Any]) -> dict[str, Any]:
        """The ``training_module.model`` section; ``common`` holds the framework-wide arguments."""
        raise NotImplementedError

    @staticmethod
    def run_dir(job: Job) -> Path:
        """Hydra's output directory: checkpoints, the CSV log and nequip's own log."""
        return job.workdir.resolve() / "run"

    def config(self, job: Job) -> dict[str, Any]:
        """The whole nequip-train config of ``job``."""
        from ase.data import chemical_symbols

        types = [chemical_symbols[z] for z in job.files.elements]
        run = str(self.run_dir(job))
        common = {
            "seed": job.seed, "model_dtype": "float32", "type_names": types, "r_max": CUTOFF,
            "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
            "per_type_energy_shifts": {chemical_symbols[z]: e0 for z, e0 in sorted(job.files.e0s.items())
                                       if z in job.files.elements},
        }
        loader = {"_target_": "torch.utils.data.DataLoader", "num_workers": 0}
        return {
            "run": ["train"],
            "data": {
                "_target_": "nequip.data.datamodule.ASEDataModule",
                "seed": job.seed,
                "train_file_path": str(job.files.train),
                "val_file_path": str(job.files.valid),
                "key_mapping": {"REF_energy": "total_energy", "REF_forces": "forces"},
                "transforms": [
                    {"_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper",
                     "model_type_names": list(types)},
                    {"_target_": "nequip.data.transforms.NeighborListTransform", "r_max": CUTOFF},
                ],
                "train_dataloader": {**loader, "batch_size": 5, "shuffle": True},
                "val_dataloader": {**loader, "batch_size": 10},
                "stats_manager": {"_target_": "nequip.data.CommonDataStatisticsManager", "type_names": list(types),
                                  "dataloader_kwargs": {"batch_size": 10}},
            },
            "trainer": {
                "_target_": "lightning.Trainer",
                "accelerator": "cpu", "devices": 1, "max_epochs": -1, "check_val_every_n_epoch": 1,
                "log_every_n_steps": 20, "enable_progress_bar": False,
                "logger": {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": run, "name": "",
                           "version": "csv", "flush_logs_every_n_steps": 1},
                "callbacks": [{
                    "_target_": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "dirpath": run, "filename": "best", "monitor": MONITOR, "save_top_k": 1, "save_last": True,
                    "every_n_epochs": 1, "verbose": True, "enable_version_counter": False,
                }],
            },
            "training_module": {
                "_target_": "nequip.train.EMALightningModule",
                "ema_decay": 0.999,
                "loss": {"_target_": "nequip.train.EnergyForceLoss", "per_atom_energy": True,
                         "coeffs": {"total_energy": 1.0, "forces": 1.0}},
                "val_metrics": {"_target_": "nequip.train.EnergyForceMetrics",
                                "coeffs": {"total_energy_mae": 1.0, "forces_mae": 1.0}},
                "optimizer": {"_target_": "torch.optim.Adam", "lr": self.lr},
                "lr_scheduler": {
                    "scheduler": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "factor": 0.6,
                                  "patience": 5, "threshold": 0.2, "min_lr": 1e-6},
                    "monitor": "val0_epoch/weighted_sum", "interval": "epoch", "frequency": 1,
                },
                "model": self.model_config(job, common),
            },
        }

    def train_command(self, job: Job) -> list[str]:
        import yaml

        (job.workdir / "config.yaml").write_text(yaml.safe_dump(self.config(job), sort_keys=False))
        return [str(job.bin / "nequip-train"), "-cp", str(job.workdir.resolve()), "-cn", "config",
                f"hydra.run.dir={self.run_dir(job)}"]

    def curve_point(self, line: str) -> dict[str, float] | None:
        """The end of an epoch, from the checkpoint line printed after its validation.

        Only a mark (``epoch`` counts the epochs trained): the errors are in the CSV file.
        """
        match = _EPOCH_LINE.search(line)
        return {"epoch": int(match[1]) + 1} if match else None

    def curve_from_files(self, job: Job) -> list[dict[str, float]]:
        """Validation force errors of every epoch (meV/Å) from Lightning's ``metrics.csv`` (eV/Å)."""
        path = self.run_dir(job) / "csv" / "metrics.csv"
        if not path.is_file():
            return []
        with open(path, newline="") as file:
            return [{"epoch": int(float(row["epoch"])) + 1, "valid_f_rmse": 1000 * float(row[MONITOR]),
                     "valid_f_mae": 1000 * float(row["val0_epoch/forces_mae"])}
                    for row in csv.DictReader(file) if row.get(MONITOR)]

    def model_file(self, job: Job) -> Path:
        """``last.ckpt`` compiled by ``nequip-compile`` (AOTInductor, CPU, ASE target)."""
        checkpoint = self.run_dir(job) / "last.ckpt"
        if not checkpoint.is_file():
            raise RuntimeError(f"{checkpoint} was not written (no epoch finished inside the cap; see "
                               f"{job.workdir / 'train.log'})")
        out = job.workdir / "model.nequip.pt2"
        command = [str(job.bin / "nequip-compile"), str(checkpoint), str(out), "--mode", "aotinductor",
                   "--device", "cpu", "--target", "ase"]
        env = dict(os.environ, OMP_NUM_THREADS=str(job.threads))
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=job.workdir)
        (job.workdir / "compile.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0 or not out.is_file():
            raise RuntimeError(f"nequip-compile failed (exit {done.returncode}); see {job.workdir / 'compile.log'}")
        return out

    def num_parameters(self, job: Job) -> int | None:
        """From Lightning's model summary (three significant digits, e.g. "162 K")."""
        log = job.workdir / "train.log"
        match = _PARAMS_LINE.search(log.read_text(errors="replace")) if log.is_file() else None
        if match is None:
            return None
        return round(float(match[1]) * {"": 1, "K": 1e3, "M": 1e6, "B": 1e9}[match[2]])

    @staticmethod
    def calculator(model_path: str, dtype: str) -> Any:
        """nequip's ASE calculator for the compiled file; its model dtype (float32) is fixed at training."""
        if dtype != "float32":
            raise NotImplementedError("nequip models are compiled in their training dtype (float32)")
        from nequip.integrations.ase import NequIPCalculator

        return NequIPCalculator.from_compiled_model(model_path, device="cpu", chemical_species_to_atom_type_map=True)


class NequIP(_NequIPFramework):
    name = "nequip"
    env = "nequip"
    package = "nequip"
    lr = 0.01
    sizes = {
        "recommended": "NequIP l_max 2, 4 layers, 32 features, parity, radial MLP 2x64, 8 Bessel, p=6, 5 Å; "
                       "Adam 1e-2, batch 5, EMA 0.999 (nequip 0.19 configs/tutorial.yaml with its "
                       "'more accurate' l_max=2)",
        "small": "NequIP preset S: l_max 1, 2 layers, features [128, 64], no parity, radial MLP 1x128 "
                 "(nequip.model.PresetNequIPGNNModel); training as recommended",
    }

    def model_config(self, job: Job, common: dict[str, Any]) -> dict[str, Any]:
        scales = {"per_type_energy_scales": "${training_data_stats:per_type_forces_rms}"}
        if job.size == "small":
            return {"_target_": "nequip.model.PresetNequIPGNNModel", "preset": "S", **common, **scales}
        return {"_target_": "nequip.model.NequIPGNNModel", **common, **scales, **NEQUIP_RECOMMENDED}


class Allegro(_NequIPFramework):
    name = "allegro"
    env = "allegro"
    package = "nequip-allegro"
    lr = 0.001
    sizes = {
        "recommended": "Allegro l_max 2, 2 layers, 64 scalar / 32 tensor features, MLPs 1x64, 8 Bessel, p=6, "
                       "5 Å; Adam 1e-3, batch 5, EMA 0.999 (allegro configs/tutorial.yaml, with l_max 2 and "
                       "batch 5 of the authors' earlier aspirin configs/example.yaml)",
        "small": "Allegro l_max 1, 1 layer, 32 scalar / 16 tensor features, MLPs 1x32 (the low ends of the "
                 "ranges in the Allegro model docs); training as recommended",
    }

    def model_config(self, job: Job, common: dict[str, Any]) -> dict[str, Any]:
        small = job.size == "small"
        scalars = 32 if small else 64
        return {
            "_target_": "allegro.model.AllegroModel", **common,
            "per_type_energy_scales": "${training_data_stats:forces_rms}",
            "radial_chemical_embed": {"_target_": "allegro.nn.TwoBodyBesselScalarEmbed", "num_bessels": 8,
                                      "bessel_trainable": False, "polynomial_cutoff_p": 6},
            "radial_chemical_embed_dim": scalars,
            "scalar_embed_mlp_hidden_layers_depth": 1, "scalar_embed_mlp_hidden_layers_width": scalars,
            "scalar_embed_mlp_nonlinearity": "silu",
            "l_max": 1 if small else 2, "num_layers": 1 if small else 2, "parity": True,
            "num_scalar_features": scalars, "num_tensor_features": 16 if small else 32,
            "allegro_mlp_hidden_layers_depth": 1, "allegro_mlp_hidden_layers_width": scalars,
            "allegro_mlp_nonlinearity": "silu", "tp_path_channel_coupling": True,
            "readout_mlp_hidden_layers_depth": 1, "readout_mlp_hidden_layers_width": scalars,
            "readout_mlp_nonlinearity": "silu",
        }
