"""`irreps train` killed with SIGKILL at random points, then resumed, again and again.

Each session is a real process (forked from a multiprocessing fork server that has imported
torch and irreps once, so a session starts in milliseconds instead of seconds) running the
command's ``main``. A session is killed either after a random delay or from inside one of its
writes of ``checkpoints/last.pt`` (after ``torch.save`` filled the temporary file, whole or
truncated to half: a kill mid-write). After every kill the checkpoint must load (intact), hold
every epoch the log reported and at most one fewer than ``metrics.csv`` (at most one finished
epoch lost); the next session must say it resumed from that epoch and go on with the next
one; the run that finally finishes must give bit for bit the model of a run never killed
(float64, one thread) and leave no temporary files behind.
"""

import multiprocessing
import os
import random
import re
import signal
import sys
import threading
import time
from pathlib import Path

import ase.io
import pytest
import torch
from tqdm import tqdm

from irreps.cli.main import main
from irreps.data import bundled_path
from irreps.train.checkpoint import load_checkpoint

EPOCHS = 6
# What a session would import first: the command, the trainer, the optimiser's torch._dynamo
# (4 s), the plots (matplotlib and its font cache). Imported once, in the fork server.
PRELOAD = ["irreps.cli.main", "irreps.train.run", "irreps.train.evaluation", "irreps.train.plots", "torch._dynamo",
           "matplotlib.pyplot", "matplotlib.font_manager"]
CONFIG = """\
data:
  train_file: {train}
  isolated_atoms_file: bundled:acac_isolated_atoms
  valid_fraction: 0.15
  batch_size: 4
model:
  options: {{hidden_dim: 8, num_layers: 1, num_rbf: 8}}
run:
  epochs: {epochs}
  dtype: float64
  progress: false
  device: cpu
  threads: 1
"""


def _session(argv: list[str], log: str, kill_write: tuple[int, bool] | None) -> None:
    """One `irreps train` process writing its output to ``log``. With ``kill_write=(k,
    truncate)`` it SIGKILLs itself inside its k-th write of checkpoints/last.pt, once
    ``torch.save`` has filled the temporary file (cut to half its size when ``truncate``)."""
    sys.stdout = sys.stderr = open(log, "w", buffering=1)
    # tqdm would make a multiprocessing lock, which a killed process leaves to the resource
    # tracker to warn about when the tests end; a thread lock does as well here.
    tqdm.set_lock(threading.RLock())
    if kill_write is not None:
        k, truncate = kill_write
        save, writes = torch.save, []

        def save_then_die(obj, path, *args, **kwargs):
            save(obj, path, *args, **kwargs)
            if Path(path).name.lstrip(".").startswith("last.pt"):  # the temporary file, or last.pt itself
                writes.append(path)
                if len(writes) == k:
                    if truncate:
                        os.truncate(path, os.path.getsize(path) // 2)
                    os.kill(os.getpid(), signal.SIGKILL)

        torch.save = save_then_die
    sys.exit(main(argv))


class _Sessions:
    """Starts sessions in fork-server processes and kills them."""

    def __init__(self, folder: Path):
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(PRELOAD)
        self.folder, self.count = folder, 0
        warm_up = self.context.Process(target=int)  # starts the server (seconds), so sessions can be timed
        warm_up.start()
        warm_up.join()

    def run(self, argv: list[str], kill_after: float | None = None, kill_write=None) -> tuple[int, str]:
        """Run a session; SIGKILL it after ``kill_after`` seconds if still running.
        Returns its exit code (``-SIGKILL`` when killed) and its output."""
        self.count += 1
        log = self.folder / f"session{self.count}.log"
        process = self.context.Process(target=_session, args=(argv, str(log), kill_write))
        process.start()
        process.join(kill_after if kill_after is not None else 300)
        if process.is_alive():
            process.kill()
            process.join()
        return process.exitcode, log.read_text() if log.exists() else ""


def _epochs_logged(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"^epoch +(\d+) ", output, flags=re.M)]


def _checkpoint_after_kill(run: Path, output: str, kill_write) -> int | None:
    """Check what a SIGKILL left in ``run``; the epoch to resume from (``None``: no checkpoint yet)."""
    last = run / "checkpoints" / "last.pt"
    if not last.exists():
        return None
    state = load_checkpoint(last)  # intact: it loads
    if kill_write is not None:
        assert list(last.parent.glob(".last.pt.*.tmp")), "the kill was not inside a checkpoint write"
    done = int(state["epoch"])
    assert len(state["history"]) == done
    metrics = run / "metrics.csv"  # written (atomically) just before the checkpoint
    finished = len(metrics.read_text().splitlines()) - 1 if metrics.exists() else 0
    assert done >= finished - 1, (done, finished)  # at most one finished epoch lost
    assert done >= max(_epochs_logged(output), default=0)  # no epoch reported done is lost
    return done


def _trials(tmp_path: Path, count: int, seed: int) -> dict[str, int]:
    """Kill and resume until ``count`` resumes were checked; returns how many of each kind."""
    ase.io.write(tmp_path / "train.xyz", ase.io.read(bundled_path("acac_train"), ":14"))
    (tmp_path / "tiny.yaml").write_text(CONFIG.format(train=tmp_path / "train.xyz", epochs=EPOCHS))
    sessions = _Sessions(tmp_path)
    fresh = ["train", str(tmp_path / "tiny.yaml"), "--output"]
    started = time.monotonic()
    code, output = sessions.run(fresh + [str(tmp_path / "reference")])
    assert code == 0, output
    duration = time.monotonic() - started
    reference = torch.load(tmp_path / "reference" / "model.pt", weights_only=True)["state_dict"]

    rng = random.Random(seed)
    kinds = {"random time": 0, "mid-write, whole": 0, "mid-write, half": 0}
    chain = 0
    while sum(kinds.values()) < count:
        chain += 1
        run = tmp_path / f"run{chain}"
        argv = fresh + [str(run), "--overwrite"]
        done = 0  # epochs in the checkpoint the next session resumes from
        while True:
            # A third of the kills inside a checkpoint write, while one is left to make; a kill
            # inside the first write of a fresh run would leave nothing to resume from.
            writes = kinds["mid-write, whole"] + kinds["mid-write, half"]
            in_write = done < EPOCHS and 3 * writes <= sum(kinds.values())
            kind = rng.choice(["mid-write, whole", "mid-write, half"]) if in_write else "random time"
            first = 2 if "--overwrite" in argv else 1
            kill_write = (rng.randint(first, EPOCHS - done), kind.endswith("half")) if in_write else None
            code, output = sessions.run(argv, None if in_write else rng.uniform(0.0, duration), kill_write)
            if "--resume" in argv and _epochs_logged(output):
                # A resumed session that got as far as training started from the checkpoint's epoch.
                assert f"resumed from {run / 'checkpoints' / 'last.pt'} at epoch {done}" in output, output
                assert _epochs_logged(output)[0] == done + 1, output
            if code == 0:
                break
            assert code == -signal.SIGKILL, output
            checkpoint = _checkpoint_after_kill(run, output, kill_write)
            if checkpoint is None:  # killed before the first checkpoint of a fresh run: start again
                continue
            done = checkpoint
            kinds[kind] += 1
            argv = ["train", "--resume", str(run)]
        final = torch.load(run / "model.pt", weights_only=True)["state_dict"]
        assert all(torch.equal(final[name], tensor) for name, tensor in reference.items())
        assert not list(run.rglob(".*.tmp"))
    return kinds


@pytest.mark.parametrize(
    "count", [4, pytest.param(24, marks=pytest.mark.slow)], ids=["4-trials", "24-trials"],
)
def test_sigkill_at_random_points_then_resume(tmp_path, count):
    """``count`` kills, a third inside checkpoint writes (see the module docstring)."""
    kinds = _trials(tmp_path, count, seed=count)
    assert sum(kinds.values()) >= count and kinds["mid-write, whole"] + kinds["mid-write, half"] >= count // 3
