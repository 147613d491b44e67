"""`irreps train` under torchrun: 2 gloo ranks equal one process, and a SIGKILLed 2-rank run resumes identically.

The training set has 9 structures in batches of 4 (steps of 4, 4 and 1 structures), so the
2 ranks get shares of 2 + 2, 2 + 2 and 0 + 1: one rank takes part in the last step with an
empty share. 7 epochs make 21 steps.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from irreps.models import load_model
from irreps.train.config import load_config
from irreps.train.launch import Launch, launch_from_environment
from irreps.train.run import train

EPOCHS = 7
CONFIG = [
    "data.train_file=bundled:acac_train",
    "data.isolated_atoms_file=bundled:acac_isolated_atoms",
    "data.max_train=9",
    "data.valid_fraction=0.02",
    "data.batch_size=4",
    "model.options={hidden_dim: 8, num_layers: 1, num_rbf: 8}",
    "optim.grad_clip=0.5",
    "run.progress=false",
    "run.device=cpu",
    "run.dtype=float64",
    "run.threads=1",
]


def _torchrun(args: list[str], **popen) -> subprocess.Popen:
    """``torchrun --standalone --nproc-per-node 2 -m irreps.cli.main ARGS`` in a session of its own."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "irreps.cli.main", *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env, **popen)


def _kill(process: subprocess.Popen) -> None:
    """SIGKILL torchrun and its workers (which torchrun starts in sessions of their own)."""
    workers = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    pids = [int(pid) for pid in workers.read_text().split()] if workers.exists() else []
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    os.killpg(process.pid, signal.SIGKILL)


def _finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            _kill(process)
    return process.returncode, out + err


def _cli(config, extra: list[str]) -> list[str]:
    """The CLI's arguments for ``config`` (a YAML file: without one the CLI starts from the quickstart config)."""
    return [str(config), *(a for o in CONFIG + extra for a in ("--set", o))]


def _weights(path) -> dict[str, torch.Tensor]:
    return load_model(path).state_dict()


def _assert_same_run(history, reference, weights, reference_weights, rel: float) -> None:
    assert len(history) == len(reference)
    for row, want in zip(history, reference):
        assert row["train_loss"] == pytest.approx(want["train_loss"], rel=rel, abs=0), row["epoch"]
        assert row["valid_loss"] == pytest.approx(want["valid_loss"], rel=rel, abs=0), row["epoch"]
    for name, tensor in reference_weights.items():
        torch.testing.assert_close(weights[name], tensor, rtol=rel, atol=1e-14, msg=name)


def _history(run) -> list[dict[str, float]]:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["history"]


def _kill_after_first_checkpoint(args: list[str], run: Path, epochs: int) -> int:
    """Start ``irreps train ARGS`` under torchrun, SIGKILL torchrun and both ranks as soon as
    the first checkpoint exists; returns its epoch."""
    process = _torchrun(["train", *args, "--output", str(run)])
    deadline = time.monotonic() + 240
    while not (run / "checkpoints" / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    _kill(process)
    code, output = _finish(process)
    assert code == -signal.SIGKILL, output
    done = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"]
    assert 1 <= done < epochs
    return done


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_process_and_resume_after_kill(tmp_path):
    (tmp_path / "empty.yaml").write_text("{}\n")
    config = load_config(tmp_path / "empty.yaml", CONFIG + [f"run.epochs={EPOCHS}"])
    one = train(config, tmp_path / "one", log=lambda line: None)

    code, output = _finish(_torchrun(["train", *_cli(tmp_path / "empty.yaml", [f"run.epochs={EPOCHS}"]), "--output", str(tmp_path / "two")]))
    assert code == 0, output
    assert "2 processes" in output and output.count("model written to") == 1, output  # rank 0 alone reports
    two = tmp_path / "two"
    _assert_same_run(_history(two), one.history, _weights(two / "model.pt"), _weights(one.model_path), rel=1e-10)

    killed = tmp_path / "killed"
    done = _kill_after_first_checkpoint(_cli(tmp_path / "empty.yaml", [f"run.epochs={EPOCHS}"]), killed, EPOCHS)
    shutil.copytree(killed, tmp_path / "alone")
    code, output = _finish(_torchrun(["train", "--resume", str(killed)]))
    assert code == 0, output
    assert f"at epoch {done}" in output
    _assert_same_run(_history(killed), _history(two), _weights(killed / "model.pt"), _weights(two / "model.pt"), rel=0)

    # the 2-rank checkpoint resumed by one process: a run continues under any world size
    alone = train(config, tmp_path / "alone", resume=True, log=lambda line: None)
    _assert_same_run(alone.history, one.history, _weights(alone.model_path), _weights(one.model_path), rel=1e-10)


def test_launch_from_torchrun_and_slurm_variables():
    torchrun = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "node1", "MASTER_PORT": "29500"}
    assert launch_from_environment(torchrun) == Launch(1, 4, 1)
    slurm = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "MASTER_ADDR": "n", "MASTER_PORT": "1"}
    assert launch_from_environment(slurm) == Launch(5, 8, 1)
    assert launch_from_environment({**slurm, **torchrun}) == Launch(1, 4, 1)  # srun torchrun: torchrun's ranks
    assert launch_from_environment({}) is None
    assert launch_from_environment({"RANK": "0", "WORLD_SIZE": "1"}) is None  # a world of one is a plain run
    with pytest.raises(ValueError, match="MASTER_ADDR"):
        launch_from_environment({"SLURM_PROCID": "0", "SLURM_NTASKS": "2"})
    with pytest.raises(ValueError, match="not an integer"):
        launch_from_environment({**torchrun, "RANK": "one"})
    with pytest.raises(ValueError, match="RANK=4 is not a rank of WORLD_SIZE=4"):
        launch_from_environment({**torchrun, "RANK": "4"})


def test_processes_under_torchrun_is_refused(monkeypatch, tmp_path):
    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "localhost", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="run.processes=2 starts processes itself"):
        train(load_config(None, CONFIG + ["run.processes=2"]), tmp_path / "run")


# EquiformerV2 with attention dropout and drop path at 0.3
DROPOUT = [
    "model.name=equiformer_v2",
    "model.options={lmax: 2, mmax: 1, sphere_channels: 4, num_layers: 2, attn_hidden_channels: 4, num_heads: 2, "
    "attn_alpha_channels: 4, attn_value_channels: 2, ffn_hidden_channels: 4, edge_channels: 4, "
    "num_distance_basis: 8, alpha_drop: 0.3, drop_path_rate: 0.3}",
    "run.epochs=4",
]


@pytest.mark.slow
def test_torchrun_with_dropout_repeats_and_resumes_identically_after_kill(tmp_path):
    """Each rank draws its own dropout masks from (run.seed, rank, epoch, step): a 2-rank run is
    not one process's (different masks), but a second run repeats it exactly, and one killed
    after its first checkpoint resumes to the same losses and weights bit for bit."""
    (tmp_path / "empty.yaml").write_text("{}\n")
    args = _cli(tmp_path / "empty.yaml", DROPOUT)
    runs = {}
    for name in ("first", "second"):
        code, output = _finish(_torchrun(["train", *args, "--output", str(tmp_path / name)]))
        assert code == 0, output
        runs[name] = tmp_path / name
    first, weights = _history(runs["first"]), _weights(runs["first"] / "model.pt")
    _assert_same_run(_history(runs["second"]), first, _weights(runs["second"] / "model.pt"), weights, rel=0)
    one = train(load_config(tmp_path / "empty.yaml", CONFIG + DROPOUT), tmp_path / "one", log=lambda line: None)
    assert all(a["train_loss"] != b["train_loss"] for a, b in zip(one.history, first))

    killed = tmp_path / "killed"
    done = _kill_after_first_checkpoint(args, killed, 4)
    code, output = _finish(_torchrun(["train", "--resume", str(killed)]))
    assert code == 0, output
    assert f"at epoch {done}" in output
    _assert_same_run(_history(killed), first, _weights(killed / "model.pt"), weights, rel=0)
