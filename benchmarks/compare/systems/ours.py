"""This library's models, trained by ``irreps train`` with the recipes in ``examples/``.

``irreps`` is TensorNet (``examples/train_acac.yaml``), ``irreps-equiformer_v2`` EquiformerV2
(``examples/train_acac_equiformer_v2.yaml``) at ``lmax`` 2, 4 (its recommended size) and 6,
``irreps-escn`` eSCN at the same size (``examples/train_acac_escn.yaml``),
``irreps-gaunt_ace`` the many-body model, ``irreps-tfn`` and ``irreps-se3_transformer`` the
classic baselines, each with the recipe of its ``examples/train_acac_<name>.yaml``.

The budget is CPU time; the recipe's cosine spans ``run.max_minutes`` of training time, counted
in CPU seconds (``run.clock=cpu``: the trainer's process and its finished children, the C++
compiler's included) and set to the budget less a reserve for start-up and the final
evaluation, which count against the cap too. A system compiles its training step
(``compiles``) where that was measured to buy more epochs in the budget
(``benchmarks/bench_compile_epochs.py``, docs/models.md), and only from
``compile_from_minutes`` of budget on: below, the compile would eat most of it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from .base import Job, System

REPO = Path(__file__).resolve().parents[3]
RECIPE = REPO / "examples" / "train_acac.yaml"
# per-dataset batch size and learning rate, chosen on validation data (docs/training.md)
DATASET_RECIPE = {"acac": {"data.batch_size": 4, "optim.lr": 2e-3},
                  "ethanol": {"data.batch_size": 8, "optim.lr": 3e-3},
                  "3bpa": {"data.batch_size": 4, "optim.lr": 2e-3}}
SIZES = {"recommended": {}, "small": {"model.options.hidden_dim": 64, "model.options.num_layers": 1}}
_EPOCH = re.compile(r"epoch\s+(\d+).*F RMSE ([0-9.]+) meV/Å")


def _threads(job: Job) -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS=str(job.threads), MKL_NUM_THREADS=str(job.threads))


class Ours(System):
    name = "irreps"
    env = None
    package = "irreps"
    sizes = {"recommended": "TensorNet 128 ch, 2 layers, 32 RBF, 5 Å (paper size; examples/train_acac.yaml)",
             "small": "TensorNet 64 ch, 1 layer, 32 RBF, 5 Å"}
    recipe = RECIPE
    size_overrides = SIZES
    dataset_recipe = DATASET_RECIPE
    compiles = True  # the compiled training step supports this model
    compile_from_minutes = 10.0  # TensorNet's compile takes ~1.5 CPU minutes

    def train_command(self, job: Job) -> list[str]:
        compiled = self.compiles and job.minutes >= self.compile_from_minutes
        reserve = 0.3 + 0.02 * job.minutes
        overrides = {
            "data.train_file": job.files.train, "data.valid_file": job.files.valid,
            "data.test_file": "null", "data.isolated_atoms_file": job.files.isolated,
            "data.keys": "{energy: REF_energy, forces: REF_forces}",
            "run.max_minutes": round(max(job.minutes - reserve, 0.5), 2), "run.clock": "cpu", "run.seed": job.seed,
            "run.threads": job.threads, "run.device": "cpu", "run.progress": "false",
            "run.compile": "true" if compiled else "false",
            **self.dataset_recipe.get(job.dataset, {}), **self.size_overrides[job.size],
        }
        command = [str(job.python), "-m", "irreps.cli.main", "train", str(self.recipe), "--output",
                   str(job.workdir / "run")]
        for key, value in overrides.items():
            command += ["--set", f"{key}={value}"]
        return command

    def batch_size(self, dataset: str) -> int:
        """Structures per training step of this system's recipe on ``dataset``."""
        import yaml

        override = self.dataset_recipe.get(dataset, {}).get("data.batch_size")
        return int(override if override is not None else yaml.safe_load(self.recipe.read_text())["data"]["batch_size"])

    def curve_point(self, line: str) -> dict[str, float] | None:
        match = _EPOCH.search(line)
        return {"epoch": int(match[1]), "valid_f_rmse": float(match[2])} if match else None

    def model_file(self, job: Job) -> Path:
        """``model.pt`` of a run that finished inside the cap, else one written from its last
        checkpoint by resuming it with ``run.epochs`` at the checkpoint's epoch: no training
        step runs, only the final validation and the file (the best epoch's EMA weights)."""
        run = job.workdir / "run"
        path = run / "model.pt"
        if path.is_file():
            return path
        from irreps.train.checkpoint import latest_checkpoint, load_checkpoint

        checkpoint = latest_checkpoint(run)
        if checkpoint is None:
            raise RuntimeError(f"{path} was not written and no epoch finished inside the cap (see its log)")
        epoch = int(load_checkpoint(checkpoint)["epoch"])
        command = [str(job.python), "-m", "irreps.cli.main", "train", "--resume", str(run),
                   "--set", f"run.epochs={epoch}", "--set", "run.compile=false"]
        with open(job.workdir / "export.log", "w") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=_threads(job), check=False)
        if not path.is_file():
            raise RuntimeError(f"resuming {run} at epoch {epoch} wrote no {path}; see {job.workdir / 'export.log'}")
        return path

    def num_parameters(self, job: Job) -> int | None:
        log = job.workdir / "train.log"
        match = re.search(r"([0-9,]+) parameters", log.read_text()) if log.is_file() else None
        return int(match[1].replace(",", "")) if match else None

    @staticmethod
    def calculator(model_path: str, dtype: str):
        from irreps.calculators import IrrepsCalculator

        # limits=None: the benchmark scores whatever a model predicts, however wrong
        return IrrepsCalculator(model_path, dtype=dtype, limits=None)

    @classmethod
    def timing_calculator(cls, model_path: str):
        """Our compiled inference path (one inductor program for energy and forces), as the
        peers' compiled files are timed; the warm-up calls absorb its compilation."""
        from irreps.calculators import IrrepsCalculator

        return IrrepsCalculator(model_path, dtype="float32", limits=None, compile=True)


class OursEquiformerV2(Ours):
    name = "irreps-equiformer_v2"
    sizes = {"recommended": "EquiformerV2 lmax 4, mmax 2, 32 ch, 4 layers (examples/train_acac_equiformer_v2.yaml)",
             "lmax2": "EquiformerV2 lmax 2, mmax 2, otherwise as recommended",
             "lmax6": "EquiformerV2 lmax 6, mmax 2, otherwise as recommended"}
    recipe = REPO / "examples" / "train_acac_equiformer_v2.yaml"
    size_overrides = {"recommended": {}, "lmax2": {"model.options.lmax": 2}, "lmax6": {"model.options.lmax": 6}}
    dataset_recipe: dict = {}  # the recipe's batch size and learning rate on every dataset
    # compiled (Python wrapper): acac epochs at l_max 4 took 52.4 CPU s against 99.5 eager after a
    # compile of ~9.7 CPU minutes (benchmarks/results/compile_epochs_acac_equiformer_v2.json)
    compiles = True
    compile_from_minutes = 30.0  # break-even ~20 CPU minutes


class OursESCN(OursEquiformerV2):
    """Compiled (without inductor's C++ wrapper: the graph is too large for it): on acac an epoch
    took 39-44 CPU s against ~70 eager after a compile of ~6 CPU minutes (docs/models.md)."""

    name = "irreps-escn"
    sizes = {"recommended": "eSCN lmax 4, mmax 2, 32 sphere ch, 64 hidden, 4 layers (examples/train_acac_escn.yaml)",
             "lmax2": "eSCN lmax 2, mmax 2, otherwise as recommended",
             "lmax6": "eSCN lmax 6, mmax 2, otherwise as recommended"}
    recipe = REPO / "examples" / "train_acac_escn.yaml"
    compile_from_minutes = 15.0  # break-even ~9 CPU minutes


class _OursExample(Ours):
    """A model of ours with one size: its example recipe as written."""

    sizes = {"recommended": ""}
    size_overrides = {"recommended": {}}
    dataset_recipe: dict = {}
    compiles = False


class OursGauntACE(_OursExample):
    """Compiled: on acac (450 structures, one thread) an epoch took 7.8 CPU s against 17.7 s eager;
    the compile cost ~3 CPU minutes (~1.2 of them in the C++ compiler), so 30 CPU minutes buy ~200
    epochs against ~100 (``benchmarks/bench_compile_epochs.py``)."""

    name = "irreps-gaunt_ace"
    compiles = True  # break-even ~6 CPU minutes; from the default 10 on
    sizes = {"recommended": "Gaunt many-body model, 32 ch, lmax 3, correlation 3, 2 layers (examples/train_acac_ace.yaml)",
             "wide": "the same at 64 channels (a candidate recipe, judged on validation data)"}
    size_overrides = {"recommended": {}, "wide": {"model.options.channels": 64}}
    recipe = REPO / "examples" / "train_acac_ace.yaml"


class OursTFN(_OursExample):
    """Compiled: on acac (450 structures, one thread) an epoch took 10.8 CPU s against 25.7 s eager;
    the compile cost ~6 CPU minutes (~2.7 of them in the C++ compiler, outside the trainer's clock),
    so 30 CPU minutes buy ~130 epochs against ~70 (``benchmarks/bench_compile_epochs.py``)."""

    name = "irreps-tfn"
    compiles = True
    compile_from_minutes = 15.0  # break-even ~11 CPU minutes
    sizes = {"recommended": "Tensor Field Network (examples/train_acac_tfn.yaml)"}
    recipe = REPO / "examples" / "train_acac_tfn.yaml"


class OursSE3Transformer(_OursExample):
    """Compiled from 30 CPU minutes, without inductor's C++ wrapper (with it the compile had not
    finished after 17 CPU minutes): ~16 CPU minutes of compilation, then acac epochs of 14.5-15.3
    CPU s against 46 eager (docs/models.md), ~50 epochs in 30 minutes against ~40."""

    name = "irreps-se3_transformer"
    compiles = True
    compile_from_minutes = 30.0  # break-even ~23 CPU minutes
    sizes = {"recommended": "SE(3)-Transformer (examples/train_acac_se3_transformer.yaml)"}
    recipe = REPO / "examples" / "train_acac_se3_transformer.yaml"
