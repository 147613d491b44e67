"""``irreps train``: help, config resolution, errors, and a tiny real run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from irreps.cli.main import main
from irreps.models import load_model

TINY_YAML = """\
data:
  train_file: bundled:acac_train
  isolated_atoms_file: bundled:acac_isolated_atoms
  test_file: bundled:acac_test
  max_train: 16
  valid_fraction: 0.05
model:
  options: {hidden_dim: 8, num_layers: 1, num_rbf: 8}
run:
  epochs: 2
  progress: false
  device: cpu
"""


def _help(capsys, argv):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_help_documents_every_option_and_section(capsys):
    out = _help(capsys, ["train", "--help"])
    for word in ("--set", "--resume", "--overwrite", "--output", "--print-config", "threads",
                 "bundled:", "optim", "ema_decay", "warmup_epochs", "huber", "float64", "max_minutes"):
        assert word in out, word


def test_print_config_applies_overrides(capsys):
    assert main(["train", "--print-config", "--set", "optim.lr=2e-4", "--set", "run.name=x"]) == 0
    out = capsys.readouterr().out
    assert "lr: 0.0002" in out and "name: x" in out and "bundled:acac_train" in out


def test_bad_override_is_a_one_line_error(capsys):
    assert main(["train", "--set", "optim.lrr=1", "--print-config"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'lrr'" in err and "did you mean 'lr'" in err and "Traceback" not in err
    assert main(["train", "--set", "optim.schedule=linear", "--print-config"]) == 2
    assert "'linear' is not one of" in capsys.readouterr().err


def test_train_then_refuse_to_clobber(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_YAML)
    run = tmp_path / "run"
    assert main(["train", str(config), "--output", str(run), "--set", "run.threads=1"]) == 0
    out = capsys.readouterr().out
    assert "test errors" in out and "F RMSE (meV/Å)" in out
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert metrics["energy"]["count"] == 100 and metrics["forces"]["count"] == 100 * 15 * 3
    assert main(["train", str(config), "--output", str(run)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--set", "run.epochs=3"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert len(json.loads((run / "metrics.json").read_text())["history"]) == 3
    assert main(["train", str(config), "--resume", str(run)]) == 2


@pytest.mark.slow
def test_default_quickstart_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "model.pt").is_file() and (run / "test_parity.png").is_file()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_cleanly_with_a_model_and_the_resume_command(tmp_path, signum):
    """Ctrl-C or a scheduler's SIGTERM after the first epoch: model.pt from the best epoch,
    the resume command printed, exit status 128 + signal, and the printed command works."""
    (tmp_path / "tiny.yaml").write_text(TINY_YAML.replace("epochs: 2", "epochs: 10000"))
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "irreps.cli.main", "train", str(tmp_path / "tiny.yaml"), "--output", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        deadline = time.monotonic() + 240
        while not (run / "checkpoints" / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signum)
        out, err = process.communicate(timeout=240)
    finally:
        process.kill()
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith(f"irreps train: stopped by {signal.Signals(signum).name}; model written to {run / 'model.pt'}")
    assert lines[1].startswith(f"resume with: irreps train --resume {run}")
    assert f"{signal.Signals(signum).name} received: stopped" in out
    model = load_model(run / "model.pt")
    done = int(lines[1].split("after epoch ")[1].rstrip(")"))
    assert model.metadata["training"]["stopped_by"] == signal.Signals(signum).name and done >= 1
    assert main(["train", "--resume", str(run), "--set", f"run.epochs={done + 1}"]) == 0
    assert load_model(run / "model.pt").metadata["training"]["epochs"] == done + 1
