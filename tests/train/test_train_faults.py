"""Training faults: an injected NaN (loss or gradient) is skipped, the epoch's start restored
and the rate halved; a fault that keeps coming stops the run with a clear message."""

import math

import pytest
import torch

import irreps.train.run as run_module
from irreps.cli.main import main
from irreps.train.checkpoint import load_checkpoint
from irreps.train.config import load_config
from irreps.train.run import train
from train_helpers import TINY as BASE

TINY = BASE + ["optim.schedule=constant", "optim.lr=2e-3"]


def _nan_energy(trainer, steps):
    """The energy of the training steps numbered in ``steps`` (from 1, over the run) becomes NaN."""
    count = {"n": 0}

    def hook(module, inputs, output):
        if not module.training:
            return output
        count["n"] += 1
        return {**output, "energy": output["energy"] * math.nan} if count["n"] in steps else output

    trainer.model.register_forward_hook(hook)


def _nan_gradient(trainer, steps):
    """The gradient of one weight in the training steps numbered in ``steps`` becomes NaN."""
    count = {"n": 0}

    def hook(grad):
        count["n"] += 1
        return grad * math.nan if count["n"] in steps else grad

    next(p for p in trainer.model.parameters() if p.requires_grad).register_hook(hook)


def _train(monkeypatch, tmp_path, inject, options, log):
    """Train TINY + ``options`` with ``inject(trainer)`` applied to the run's trainer."""

    class Injected(run_module.Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            inject(self)

    monkeypatch.setattr(run_module, "Trainer", Injected)
    return train(load_config(None, TINY + options), tmp_path / "run", log=log)


@pytest.mark.parametrize("inject", [_nan_energy, _nan_gradient], ids=["loss", "gradient"])
def test_a_nan_step_is_skipped_the_epoch_start_restored_and_the_rate_halved(inject, tmp_path, monkeypatch):
    """A NaN in step 2 of epoch 2: that step is skipped; when the recovery is logged, the
    weights, optimiser moments and EMA are exactly epoch 1's checkpoint; the rate is halved
    from then on (kept in the checkpoint) and the run finishes with finite losses."""
    checkpoint = tmp_path / "run" / "checkpoints" / "last.pt"
    trainers, lines, restored = [], [], []

    def log(line):
        lines.append(line)
        if ": skipped; restored" in line:
            state, trainer = load_checkpoint(checkpoint), trainers[0]
            moments = trainer.optimizer.state_dict()["state"]
            restored.extend([
                all(torch.equal(v, state["model"][k]) for k, v in trainer.model.state_dict().items()),
                all(torch.equal(v, state["ema"]["shadow"][k]) for k, v in trainer.ema.shadow.items()),
                all(torch.equal(torch.as_tensor(v), torch.as_tensor(state["optimizer"]["state"][i][k]))
                    for i, entry in moments.items() for k, v in entry.items()),
            ])

    result = _train(monkeypatch, tmp_path, lambda trainer: (trainers.append(trainer), inject(trainer, {6})),
                    ["run.epochs=3"], log)
    (line,) = [line for line in lines if ": skipped; restored" in line]
    what = "training loss" if inject is _nan_energy else "gradient norm"
    assert line == (f"epoch 2, step 2: the {what} is nan: skipped; restored the weights, optimiser and EMA of the "
                    "epoch's start and halved the learning rate to 1.00e-03 (recovery 1 of 3)")
    assert restored == [True, True, True]
    assert [row["lr"] for row in result.history] == [2e-3, 2e-3, 1e-3]
    assert all(math.isfinite(row["train_loss"]) and math.isfinite(row["valid_loss"]) for row in result.history)
    state = load_checkpoint(checkpoint)
    assert state["recoveries"] == 1 and state["schedule"]["recovery_scale"] == 0.5


def test_a_fault_that_keeps_coming_stops_the_run_with_the_checkpoint_intact(tmp_path, monkeypatch, capsys):
    """Every training step from epoch 2 on is NaN: two recoveries (optim.nonfinite_retries=2),
    then the run stops with a FloatingPointError saying what happened, and epoch 1's
    checkpoint stays loadable."""
    with pytest.raises(FloatingPointError) as stop:
        _train(monkeypatch, tmp_path, lambda trainer: _nan_energy(trainer, range(5, 10**6)),
               ["run.epochs=3", "optim.nonfinite_retries=2"], lambda line: None)
    assert str(stop.value) == (
        "epoch 2, step 3: the training loss is nan, and the optim.nonfinite_retries=2 recoveries (each restoring the "
        "start of the epoch and halving the learning rate, now 5.00e-04) are spent: stopped; the last checkpoint is "
        "intact: resume it with a lower optim.lr, or look for broken structures")
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["epoch"] == 1
    with pytest.raises(ValueError, match="nonfinite_retries must be >= 0"):
        load_config(None, ["optim.nonfinite_retries=-1"])
    assert main(["train", "--print-config", "--set", "optim.nonfinite_retries=0"]) == 0
    assert "nonfinite_retries: 0" in capsys.readouterr().out
