"""What the benchmark needs from a system: a training command, its learning curve, a model file,
and an ASE calculator for that file.

A system is trained by its authors' own training command, inside its own virtualenv, on the
files of :class:`~benchmarks.compare.datasets.DatasetFiles`, on ``job.threads`` threads, while
:mod:`benchmarks.compare.budget` caps its CPU seconds. Afterwards :meth:`System.model_file`
turns what it saved last before the cap into a file that :meth:`System.calculator` loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Job:
    """One training run: a system at one recipe size on one dataset, seed and CPU budget."""

    dataset: str
    system: str
    size: str
    seed: int
    minutes: float                  # CPU minutes the training command may use
    threads: int
    workdir: Path                   # everything this run writes (kept in the cache directory)
    files: Any                      # benchmarks.compare.datasets.DatasetFiles
    python: Path                    # interpreter of the system's environment

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.system}-{self.size}/seed{self.seed}-{self.minutes:g}min-{self.threads}thr"

    @property
    def bin(self) -> Path:
        """The environment's bin folder (where the peers' console scripts live)."""
        return self.python.parent


class System:
    """Base class; subclasses set the attributes and implement the methods."""

    name: str = ""
    env: str | None = None          # peer environment name (benchmarks.peers), None: this interpreter
    package: str = ""               # the distribution whose version is reported
    sizes: dict[str, str] = {}      # recipe size -> one line saying what it is and where it comes from
    quiet_progress: bool = True     # run with TQDM_DISABLE=1 (False: the progress bar marks epochs)

    def train_command(self, job: Job) -> list[str]:
        """The authors' training command for ``job`` (files it needs are written into job.workdir,
        which the runner has emptied)."""
        raise NotImplementedError

    def curve_point(self, line: str) -> dict[str, float] | None:
        """A validation point from one line the training command printed, or None.

        Keys: ``epoch`` and, in meV/Å, ``valid_f_rmse`` and/or ``valid_f_mae``. A point with
        ``epoch`` alone marks the CPU time at which that epoch ended, for the points of
        ``curve_from_files(job)``, which a system defines when its errors are only in files.
        """
        raise NotImplementedError

    def model_file(self, job: Job) -> Path:
        """The model file to evaluate: from the last checkpoint saved before the cap.

        May run a short command in the environment (outside the training budget) to turn a
        checkpoint into a deployable file; raises RuntimeError saying why when there is none.
        """
        raise NotImplementedError

    def num_parameters(self, job: Job) -> int | None:
        """Trainable parameters of the trained model, when the log or the file tells."""
        return None

    @staticmethod
    def calculator(model_path: str, dtype: str) -> Any:
        """An ASE calculator for the model file (called inside the system's environment)."""
        raise NotImplementedError

    @classmethod
    def timing_calculator(cls, model_path: str) -> Any:
        """The float32 calculator that is timed: the system's own fastest documented CPU
        inference path (NequIP and Allegro time their compiled files, so the file is already
        that path; ours overrides this with its compiled path). Errors are still measured
        with :meth:`calculator`, eager and in float64 where allowed."""
        return cls.calculator(model_path, "float32")
