"""MACE, trained by its authors' ``mace_run_train`` with the recipe the authors give for 3BPA.

The recipe (ACEsuit/mace issue #57, the maintainer's command reproducing the MACE paper's 3BPA
runs on mace >= 0.2): ScaleShiftMACE, 2 layers, correlation 3, l_max 3, r_max 5 Å, 8 Bessel
functions, batch 5, lr 0.01 with ReduceLROnPlateau (factor 0.8, patience 50: mace's defaults),
AMSGrad, EMA 0.99, weight decay 5e-7, energy/forces weights 27/1000, no gradient clipping, no
SWA, float32. The paper's hidden irreps are 256x0e+256x1o+256x2e; "recommended" uses the docs'
"recommended default model size" 128x0e+128x1o instead (the paper size does a handful of epochs
in the budgets here), "small" halves the channels.

mace_run_train keeps one checkpoint, the EMA weights of the best validation epoch so far, and
writes the deployable ``.model`` only when training ends. When the CPU cap stops it first,
:meth:`MACE.model_file` reruns the same command with ``--restart_latest`` and
``--max_num_epochs`` equal to that checkpoint's epoch: mace then loads the checkpoint, trains no
further and writes the ``.model`` exactly as at the end of a run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from .base import Job, System

NAME = "mace"
SIZES = {"recommended": {"num_channels": 128, "max_L": 1}, "small": {"num_channels": 64, "max_L": 1}}
_EPOCH = re.compile(r"\bEpoch (\d+): .*RMSE_F=\s*([0-9.]+) meV / A")
_CHECKPOINT = re.compile(rf"^{NAME}_run-\d+_epoch-(\d+)\.pt$")


class MACE(System):
    name = "mace"
    env = "mace"
    package = "mace-torch"
    sizes = {
        "recommended": "ScaleShiftMACE 128x0e+128x1o (docs' recommended default size), l_max 3, correlation 3, "
                       "r_max 5, batch 5, lr 0.01, EMA 0.99, AMSGrad, E/F weights 27/1000, float32 "
                       "(authors' 3BPA recipe, ACEsuit/mace issue #57; paper size is 256x0e+256x1o+256x2e)",
        "small": "ScaleShiftMACE 64x0e+64x1o, l_max 3, correlation 3, training as 'recommended' "
                 "(a cut-down preset, not the authors')",
    }

    @staticmethod
    def _root(job: Job) -> Path:
        return job.workdir / NAME

    @staticmethod
    def _config(job: Job) -> Path:
        return job.workdir / "mace.yaml"

    def train_command(self, job: Job) -> list[str]:
        """Write the recipe as mace's YAML config (JSON is YAML) and return mace_run_train on it."""
        e0s = "{" + ", ".join(f"{z}: {e!r}" for z, e in sorted(job.files.e0s.items())) + "}"
        config: dict[str, Any] = {
            "name": NAME, "seed": job.seed, "work_dir": str(self._root(job)),
            "device": "cpu", "default_dtype": "float32", "log_level": "INFO", "plot": False,
            "train_file": str(job.files.train), "valid_file": str(job.files.valid), "E0s": e0s,
            "energy_key": "REF_energy", "forces_key": "REF_forces",
            "model": "ScaleShiftMACE", "num_interactions": 2, "correlation": 3, "max_ell": 3,
            "r_max": 5.0, "num_radial_basis": 8, "num_cutoff_basis": 5, "scaling": "rms_forces_scaling",
            **SIZES[job.size],
            "loss": "weighted", "energy_weight": 27.0, "forces_weight": 1000.0,
            "batch_size": 5, "valid_batch_size": 10, "lr": 0.01, "weight_decay": 5e-7,
            "amsgrad": True, "ema": True, "ema_decay": 0.99, "clip_grad": "None",
            "scheduler": "ReduceLROnPlateau", "lr_factor": 0.8, "scheduler_patience": 50,
            # the run ends at the CPU cap, not at an epoch count; 256 is the recipe's patience
            "max_num_epochs": 1_000_000, "patience": 256, "eval_interval": 1,
            "error_table": "PerAtomRMSE", "save_cpu": True,
        }
        job.workdir.mkdir(parents=True, exist_ok=True)
        self._config(job).write_text(json.dumps(config, indent=1) + "\n")
        return [str(job.bin / "mace_run_train"), "--config", str(self._config(job))]

    def curve_point(self, line: str) -> dict[str, float] | None:
        """mace logs ``Epoch N: head: Default, loss=…, RMSE_E_per_atom=… meV, RMSE_F=… meV / A``
        after N + 1 epochs (it counts from 0; the validation before training is ``Initial:``)."""
        match = _EPOCH.search(line)
        return {"epoch": int(match[1]) + 1, "valid_f_rmse": float(match[2])} if match else None

    def model_file(self, job: Job) -> Path:
        """The ``.model`` of a finished run, else one exported from the checkpoint (see the module doc)."""
        model = self._root(job) / f"{NAME}.model"
        if model.is_file():
            return model
        epochs = [int(m[1]) for p in (self._root(job) / "checkpoints").glob("*.pt")
                  if (m := _CHECKPOINT.match(p.name))]
        if not epochs:
            raise RuntimeError(f"mace saved no checkpoint under {self._root(job)} (no validation epoch "
                               "finished inside the cap; see its log)")
        command = [str(job.bin / "mace_run_train"), "--config", str(self._config(job)),
                   "--restart_latest", "--max_num_epochs", str(max(epochs))]
        env = dict(os.environ, OMP_NUM_THREADS=str(job.threads), MKL_NUM_THREADS=str(job.threads))
        with open(job.workdir / "export.log", "w") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
        if not model.is_file():
            raise RuntimeError(f"mace_run_train --restart_latest wrote no {model}; see {job.workdir / 'export.log'}")
        return model

    def num_parameters(self, job: Job) -> int | None:
        model = self._root(job) / f"{NAME}.model"
        if not model.is_file():
            return None
        script = ("import sys, torch; m = torch.load(sys.argv[1], map_location='cpu', weights_only=False); "
                  "print(sum(p.numel() for p in m.parameters()))")
        out = subprocess.run([str(job.python), "-c", script, str(model)], capture_output=True, text=True)
        return int(out.stdout.split()[-1]) if out.returncode == 0 and out.stdout.split() else None

    @staticmethod
    def calculator(model_path: str, dtype: str) -> Any:
        from mace.calculators import MACECalculator

        return MACECalculator(model_paths=model_path, device="cpu", default_dtype=dtype)
