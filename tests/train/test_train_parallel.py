"""Data-parallel training (run.processes): the same run as one process, to rounding."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from irreps.data import GraphLoader
from irreps.models import load_model
from irreps.train.checkpoint import load_checkpoint
from irreps.train.config import load_config
from irreps.train.run import train
from irreps.train.trainer import collect_errors

# acac: every structure has 15 atoms, so averaging the shares' gradients per structure is the
# single-process mean exactly. 21 training structures in batches of 4 leave a last batch of
# one, so with 2 processes one of them gets an empty share (and must still take part). The 5
# validation structures in batches of 4 are shared 2 + 2 and 0 + 1: rank 0 validates 2 of them.
COMMON = [
    "data.train_file=bundled:acac_train",
    "data.isolated_atoms_file=bundled:acac_isolated_atoms",
    "data.max_train=22",
    "data.valid_fraction=0.025",
    "data.batch_size=4",
    "data.valid_batch_size=4",
    "model.options={hidden_dim: 8, num_layers: 1, num_rbf: 8}",
    "optim.schedule=cosine",
    "optim.grad_clip=0.5",
    "run.progress=false",
    "run.device=cpu",
    "run.dtype=float64",
    "run.epochs=2",
    "run.threads=1",
]


def _quiet(line: str) -> None:
    pass


def test_loader_shares_cover_each_batch_once(monkeypatch):
    monkeypatch.setattr("irreps.data.loader.collate", list)  # batches as lists of items
    data = list(range(10))
    order = [list(b) for b in GraphLoader(data, 4, shuffle=True, seed=3)]
    shares = zip(*(GraphLoader(data, 4, shuffle=True, seed=3, share=(k, 3)) for k in range(3)))
    batches = [list(parts) for parts in shares]
    assert [sum((part or [] for part in parts), []) for parts in batches] == order
    assert [len(part or []) for part in batches[2]] == [0, 1, 1]  # 2 structures over 3 processes
    assert batches[2][0] is None
    with pytest.raises(ValueError, match="share"):
        GraphLoader(data, 4, share=(3, 3))


def test_two_processes_equal_one(tmp_path, monkeypatch):
    validated: list[int] = []  # structures this process (rank 0 of two) validates per epoch

    def counting(model, batches, flags=None):
        batches = list(batches)
        validated.append(sum(batch.num_graphs for batch in batches if batch is not None))
        return collect_errors(model, batches, flags)

    one = train(load_config(None, COMMON), tmp_path / "one", log=_quiet)
    lines: list[str] = []
    monkeypatch.setattr("irreps.train.trainer.collect_errors", counting)
    monkeypatch.setattr("irreps.train.evaluation.collect_errors", counting)
    two = train(load_config(None, COMMON + ["run.processes=2"]), tmp_path / "two", log=lines.append)
    assert any("2 processes" in line for line in lines)
    # each rank validates its share (2 epochs, then the final model); the rows and metrics are the whole set's
    assert validated == [2, 2, 2]
    assert one.valid_metrics["energy"]["count"] == two.valid_metrics["energy"]["count"] == 5
    for field in ("energy", "energy_per_atom", "forces"):
        for stat in ("mae", "rmse"):
            assert two.valid_metrics[field][stat] == pytest.approx(one.valid_metrics[field][stat], rel=1e-10, abs=0)
    assert two.valid_metrics["by_config_type"].keys() == one.valid_metrics["by_config_type"].keys()
    for a, b in zip(one.history, two.history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-10)
        valid = [key for key in a if key.startswith("valid_")]
        assert len(valid) == 9 and valid == [key for key in b if key.startswith("valid_")]
        assert [b[key] for key in valid] == pytest.approx([a[key] for key in valid], rel=1e-10, abs=0)
    assert two.best_epoch == one.best_epoch
    first, second = load_model(one.model_path), load_model(two.model_path)
    for (name, p), q in zip(first.state_dict().items(), second.state_dict().values()):
        torch.testing.assert_close(q, p, rtol=1e-9, atol=1e-12, msg=name)
    # the optimiser state rank 0 saved is that of the whole batch, too
    s1 = load_checkpoint(tmp_path / "one" / "checkpoints" / "last.pt")["optimizer"]["state"]
    s2 = load_checkpoint(tmp_path / "two" / "checkpoints" / "last.pt")["optimizer"]["state"]
    torch.testing.assert_close(s2[0]["exp_avg"], s1[0]["exp_avg"], rtol=1e-8, atol=1e-14)
    # stopped after one epoch and resumed: every process picks up the checkpoint
    stopped = train(load_config(None, COMMON + ["run.processes=2", "run.max_minutes=1e-9"]), tmp_path / "split", log=_quiet)
    assert len(stopped.history) == 1
    resumed = train(load_config(None, COMMON + ["run.processes=2"]), tmp_path / "split", resume=True, log=_quiet)
    assert resumed.history[-1]["valid_loss"] == pytest.approx(one.history[-1]["valid_loss"], rel=1e-9)
    for (name, p), q in zip(first.state_dict().items(), load_model(resumed.model_path).state_dict().values()):
        torch.testing.assert_close(q, p, rtol=1e-9, atol=1e-12, msg=name)


def _assert_same_training(run, reference, rel: float) -> None:
    for a, b in zip(reference.history, run.history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=rel, abs=0), a["epoch"]
        assert b["valid_loss"] == pytest.approx(a["valid_loss"], rel=rel, abs=0), a["epoch"]
    reference_weights = load_model(reference.model_path).state_dict()
    for name, q in load_model(run.model_path).state_dict().items():
        torch.testing.assert_close(q, reference_weights[name], rtol=rel, atol=1e-12, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["eager", "inductor"])
def test_two_processes_with_the_compiled_step_equal_one_eager_process(tmp_path, backend):
    """The compiled step computes gradients inside its program, out of DDP's sight; handed to DDP
    as the linear form sum <p, g>, they are averaged as eager ones are. Both ranks record (and
    compile) their own programs, one of them for the empty share's stand-in structure. The
    tolerance is that of the single-process compiled-against-eager check
    (tests/train/test_compiled_step.py: 1e-10 on the loss, 1e-9 on gradients) over 2 epochs of
    Adam: 1e-9 relative."""
    one = train(load_config(None, COMMON), tmp_path / "one", log=_quiet)
    compiled = COMMON + ["run.processes=2", "run.compile=true", f"run.compile_backend={backend}"]
    two = train(load_config(None, compiled), tmp_path / "two", log=_quiet)
    _assert_same_training(two, one, rel=1e-9)


def test_parallel_config_errors():
    with pytest.raises(ValueError, match="run.processes must be >= 1"):
        load_config(None, COMMON + ["run.processes=0"])
    with pytest.raises(ValueError, match="data.batch_size=1 is shared out over run.processes=2"):
        load_config(None, COMMON + ["run.processes=2", "data.batch_size=1"])
    with pytest.raises(ValueError, match="not supported"):
        load_config(None, COMMON + ["run.processes=2", "run.device=cuda"])


def test_a_signal_to_rank_zero_stops_every_process_at_the_same_step(tmp_path):
    """SIGTERM reaches only the first process; the gradient all-reduce carries the stop to
    the helper, so both stop after the same step (no hang) and model.pt is written."""
    run = tmp_path / "run"
    overrides = [a for o in COMMON if not o.startswith("run.epochs") for a in ("--set", o)]
    process = subprocess.Popen(
        [sys.executable, "-m", "irreps.cli.main", "train", *overrides, "--set", "run.epochs=10000",
         "--set", "run.processes=2", "--output", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        deadline = time.monotonic() + 240
        while not (run / "checkpoints" / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # this test's own session: the run and its helper
    assert process.returncode == 143, err
    assert err.startswith(f"irreps train: stopped by SIGTERM; model written to {run / 'model.pt'}"), err
    assert load_model(run / "model.pt").metadata["training"]["stopped_by"] == "SIGTERM"
