"""Training runs on the bundled acetylacetone data with a tiny TensorNet."""

import dataclasses
import os

import ase.io
import pytest
import torch

from irreps.data import bundled_path
from irreps.models import load_model
from irreps.models.domain import shortest_distances
from irreps.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from irreps.train.config import load_config
from irreps.train.prepare import prepare_data
from irreps.train.run import model_options, train
from irreps.train.run_dir import claim_run_dir
from lone_atoms import isolated_atom_energies, lone_atom_energy
from train_helpers import TINY


def _quiet(line: str) -> None:
    pass


def test_loss_decreases_on_real_data(tmp_path):
    config = load_config(None, TINY + ["run.epochs=8", "optim.lr=5e-3", "optim.ema_decay=null"])
    result = train(config, tmp_path / "run", log=_quiet)
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < 0.8 * first["train_loss"]
    assert last["valid_loss"] < 0.8 * first["valid_loss"]
    model = load_model(result.model_path)
    assert model.metadata["training"]["num_train"] == 24
    assert model.metadata["training"]["e0_source"] == "isolated_atoms_file"
    distances = shortest_distances(model)  # every acac pair meets within 5 Å; C-H bonds near 1.09 Å
    assert set(distances) == {(1, 1), (1, 6), (1, 8), (6, 6), (6, 8), (8, 8)} and 0.9 < distances[1, 6] < 1.09
    isolated = {int(a.numbers[0]): a.get_potential_energy() for a in ase.io.read(bundled_path("acac_isolated_atoms"), ":")}
    assert model.config.elements == (1, 6, 8)
    assert model.config.e0s == pytest.approx([isolated[z] for z in (1, 6, 8)])
    assert model.config.cutoff == 5.0 and model.config.scale > 0.1  # RMS force of acac, eV/Å
    for name in ("metrics.csv", "metrics.json", "learning_curve.png", "valid_parity.png", "checkpoints/best.pt"):
        assert (tmp_path / "run" / name).is_file(), name


def test_cosine_over_time_spends_the_budget(tmp_path):
    """With optim.cosine_over=time the run stops on run.max_minutes (cumulative training time),
    not on the epoch cap: before the first epoch that, as long as the one before, would end past
    it, so the limit is kept; a cap reached first says so."""
    common = TINY + ["optim.schedule=cosine", "optim.cosine_over=time", "optim.min_lr=1e-5"]
    lines: list[str] = []
    timed = train(load_config(None, common + ["run.max_minutes=0.05", "run.epochs=1000"]), tmp_path / "timed", log=lines.append)
    assert 2 <= len(timed.history) < 1000
    ends = [0.0] + [row["seconds"] for row in timed.history]
    predicted = [2 * b - a for a, b in zip(ends, ends[1:])]  # where one more epoch of the same length would end
    assert all(p <= 3.0 for p in predicted[:-1]) and predicted[-1] > 3.0 and ends[-1] <= 3.0
    assert any("another epoch would end past run.max_minutes=0.05" in line for line in lines)
    state = load_checkpoint(tmp_path / "timed" / "checkpoints" / "last.pt")["schedule"]
    assert state["elapsed"] >= 3.0 - 1.0  # the last step of the last epoch came before validation
    lines.clear()
    capped = train(load_config(None, common + ["run.max_minutes=60", "run.epochs=1"]), tmp_path / "capped", log=lines.append)
    assert len(capped.history) == 1 and any("raise run.epochs" in line for line in lines)


def test_a_long_first_epoch_does_not_end_the_run(tmp_path, monkeypatch):
    """A first epoch with one step that took most of run.max_minutes (as one that compiles the
    training step can) does not predict every later epoch as long, and does not stop the run:
    a CPU clock that jumps 30 s at the first step, with a limit of 36 s, still lets it reach its
    epoch cap (the old rule, the last epoch's length, stopped it after one epoch)."""
    import irreps.train.trainer as trainer_module

    jumped: list[bool] = []
    clock = trainer_module.cpu_seconds
    monkeypatch.setattr(trainer_module, "cpu_seconds", lambda: clock() + (30.0 if jumped else 0.0))
    init = trainer_module.Trainer.__init__

    def jump_at_the_first_step(self, *args, **kwargs):
        init(self, *args, **kwargs)
        step = self.optimizer.step

        def jumping(*a, **k):
            jumped.append(True)
            return step(*a, **k)

        self.optimizer.step = jumping

    monkeypatch.setattr(trainer_module.Trainer, "__init__", jump_at_the_first_step)
    config = load_config(None, TINY + ["run.clock=cpu", "run.max_minutes=0.6", "run.epochs=4"])
    run = train(config, tmp_path / "run", log=_quiet)
    assert run.history[0]["seconds"] > 30.0 and len(run.history) == 4


def test_cpu_clock_counts_children():
    """The CPU clock counts the CPU time of finished child processes (the C++ compiler's), which
    ``time.process_time`` does not."""
    import subprocess
    import sys
    import time

    from irreps.train.trainer import cpu_seconds

    before, own_before = cpu_seconds(), time.process_time()
    subprocess.run([sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass"],
                   check=True)
    assert cpu_seconds() - before >= 0.45 and time.process_time() - own_before < 0.2


def test_cpu_clock_counts_process_time(tmp_path, monkeypatch):
    """run.clock=cpu measures run.max_minutes in CPU time, not wall time: a fake CPU clock that
    jumps 10 minutes a reading stops the run after one epoch, while the wall clock, untouched,
    lets the same config run all three."""
    import irreps.train.trainer as trainer_module

    readings = iter(range(0, 10**6, 600))
    monkeypatch.setattr(trainer_module, "cpu_seconds", lambda: float(next(readings)))
    common = TINY + ["run.max_minutes=5", "run.epochs=3"]
    cpu = train(load_config(None, common + ["run.clock=cpu"]), tmp_path / "cpu", log=_quiet)
    wall = train(load_config(None, common), tmp_path / "wall", log=_quiet)
    assert len(cpu.history) == 1 and cpu.history[0]["seconds"] >= 600
    assert len(wall.history) == 3
    with pytest.raises(ValueError, match="run.clock"):
        load_config(None, ["run.clock=gpu"])


@pytest.mark.parametrize(
    "schedule",
    [
        ["optim.schedule=plateau", "optim.plateau_patience=0", "optim.optimizer=adamw", "optim.weight_decay=0.01"],
        ["optim.schedule=cosine", "optim.warmup_epochs=1.5", "optim.grad_clip=0.5"],
    ],
    ids=["plateau-adamw", "cosine-amsgrad"],
)
def test_resume_continues_bitwise(tmp_path, schedule):
    """3 epochs in one go == 1 epoch, stop (time limit), resume for the remaining 2 (float64)."""
    common = TINY + schedule + ["run.dtype=float64", "run.epochs=3"]
    whole = train(load_config(None, common), tmp_path / "whole", log=_quiet)
    lines: list[str] = []
    stopped = train(load_config(None, common + ["run.max_minutes=1e-9"]), tmp_path / "split", log=lines.append)
    assert len(stopped.history) == 1
    stop = next(line for line in lines if line.startswith("stopping after epoch 1"))
    assert ("cosine decay was at epoch 1 of 3" in stop) == ("optim.schedule=cosine" in schedule)
    resumed = train(load_config(None, common), tmp_path / "split", resume=True, log=_quiet)

    drop_time = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # noqa: E731
    assert drop_time(resumed.history) == drop_time(whole.history)
    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    for key in ("model", "best_weights"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)
    for name, tensor in a["ema"]["shadow"].items():
        assert torch.equal(tensor, b["ema"]["shadow"][name]), name
    for index, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["optimizer"]["state"][index][name]))
    assert a["schedule"] == b["schedule"]


def test_resume_from_best_when_last_is_missing_or_older(tmp_path):
    """With run.checkpoint_every > 1 a killed run can hold only best.pt (or a last.pt older than
    it): --resume continues from the later one, bit-for-bit as if never stopped (float64)."""
    common = TINY + ["optim.schedule=plateau", "run.dtype=float64", "run.epochs=3"]
    whole = train(load_config(None, common), tmp_path / "whole", log=_quiet)
    stopped = train(load_config(None, common + ["run.max_minutes=1e-9"]), tmp_path / "split", log=_quiet)
    assert len(stopped.history) == 1
    (tmp_path / "split" / "checkpoints" / "last.pt").unlink()
    assert latest_checkpoint(tmp_path / "split").name == "best.pt"
    resumed = train(load_config(None, common), tmp_path / "split", resume=True, log=_quiet)
    drop_time = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # noqa: E731
    assert drop_time(resumed.history) == drop_time(whole.history)

    state = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")
    save_checkpoint(tmp_path / "both" / "checkpoints" / "last.pt", {**state, "epoch": 2})
    save_checkpoint(tmp_path / "both" / "checkpoints" / "best.pt", {**state, "epoch": 3})
    assert latest_checkpoint(tmp_path / "both").name == "best.pt"
    save_checkpoint(tmp_path / "both" / "checkpoints" / "last.pt", {**state, "epoch": 3})
    assert latest_checkpoint(tmp_path / "both").name == "last.pt"
    assert latest_checkpoint(tmp_path / "none") is None


def test_refuses_a_used_run_directory(tmp_path):
    config = load_config(None, TINY + ["run.epochs=1"])
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        train(config, tmp_path / "run", log=_quiet)
    with pytest.raises(ValueError, match="cannot resume"):
        train(config, tmp_path / "run", resume=True, log=_quiet)
    train(config, tmp_path / "run", overwrite=True, log=_quiet)
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


def test_missing_train_file_and_weighted_missing_field(tmp_path):
    with pytest.raises(ValueError, match="data.train_file is not set"):
        train(load_config(None, ["run.epochs=1"]), tmp_path / "a", log=_quiet)
    with pytest.raises(ValueError, match="missing required field 'stress'"):
        train(load_config(None, TINY + ["loss.stress=1.0"]), tmp_path / "b", log=_quiet)
    # The data failed to load, so no run directory was claimed and the name is still free.
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert train(load_config(None, TINY + ["run.epochs=1"]), tmp_path / "b", log=_quiet).model_path.is_file()


def test_an_element_without_an_e0_is_refused_naming_it(tmp_path):
    e0s = [a for a in ase.io.read(bundled_path("acac_isolated_atoms"), ":") if a.numbers[0] != 8]
    ase.io.write(tmp_path / "e0.xyz", e0s)
    config = load_config(None, TINY + [f"data.isolated_atoms_file={tmp_path / 'e0.xyz'}", "run.epochs=1"])
    with pytest.raises(ValueError, match=r"E0.* for atomic numbers \[8\]"):  # found by the data statistics first
        train(config, tmp_path / "run", log=_quiet)
    assert not (tmp_path / "run").exists()
    # model_options (train/run.py) refuses data prepared without the statistics' check too
    data = prepare_data(load_config(None, TINY).data, ("energy",), seed=1, log=_quiet)
    without_oxygen = dataclasses.replace(data, e0s={z: e for z, e in data.e0s.items() if z != 8})
    with pytest.raises(ValueError, match=r"^no E0 for atomic numbers \[8\]: add them to data.isolated_atoms_file$"):
        model_options(config, without_oxygen)


def test_an_unknown_device_is_a_value_error(tmp_path):
    config = load_config(None, TINY + ["run.device=warp9", "run.epochs=1"])
    with pytest.raises(ValueError, match=r"^run.device: 'warp9' is not a device"):
        train(config, tmp_path / "run", log=_quiet)


def test_a_run_directory_in_use_is_refused(tmp_path):
    with claim_run_dir(tmp_path / "run"):
        with pytest.raises(ValueError, match=f"in use by process {os.getpid()}"):
            train(load_config(None, TINY + ["run.epochs=1"]), tmp_path / "run", log=_quiet)


def test_hessian_loss_trains_a_hessian_head(tmp_path):
    """Weighted Hessian term on the bundled xTB Hessians; E0s fitted (one molecule: warns)."""
    config = load_config(None, [
        "data.train_file=bundled:acac_hessians", "data.valid_fraction=0.1", "data.batch_size=6",
        "model.options={hidden_dim: 8, num_layers: 1, num_rbf: 8, hessian_head: true, hessian: {hidden_dim: 8, channels: 4}}",
        "loss.hessian=1.0", "run.epochs=2", "run.progress=false", "run.device=cpu",
    ])
    with pytest.warns(UserWarning, match="rank"):
        result = train(config, tmp_path / "run", log=_quiet)
    assert "valid_hessian" in result.history[0] and result.valid_metrics["hessian"]["count"] == 2 * 45 * 45
    assert result.history[1]["train_hessian"] < result.history[0]["train_hessian"]


def test_isolated_atoms_in_the_training_file_give_the_e0s(tmp_path):
    frames = ase.io.read(bundled_path("acac_isolated_atoms"), ":") + ase.io.read(bundled_path("acac_train"), ":20")
    ase.io.write(tmp_path / "mixed.xyz", frames)
    config = load_config(None, TINY[2:] + [f"data.train_file={tmp_path / 'mixed.xyz'}", "run.epochs=1",
                                           "model.options.scale=2.5"])
    model = load_model(train(config, tmp_path / "run", log=_quiet).model_path)
    assert model.metadata["training"]["e0_source"] == "training file"
    assert model.metadata["training"]["num_train"] + model.metadata["training"]["num_valid"] == 20
    assert model.config.scale == 2.5  # a user's option wins over the data-derived one


def test_model_cutoff_beyond_the_neighbour_lists(tmp_path):
    with pytest.raises(ValueError, match="exceeds data.cutoff"):
        train(load_config(None, TINY + ["model.options.cutoff=6.0"]), tmp_path / "run", log=_quiet)


def test_direct_force_epochs_then_conservative_forces(tmp_path, monkeypatch):
    """The first epochs fit forces through the direct head, the rest through -dE/dx;
    validation always uses conservative forces."""
    from irreps.models.tensornet import TensorNet

    calls: list[tuple[bool, dict]] = []
    forward = TensorNet.forward

    def spy(self, graph, **kwargs):
        calls.append((self.training, kwargs))
        return forward(self, graph, **kwargs)

    monkeypatch.setattr(TensorNet, "forward", spy)
    config = load_config(None, TINY + ["run.epochs=6", "loss.direct_forces_epochs=4", "optim.lr=2e-2",
                                       "optim.warmup_epochs=0", "optim.ema_decay=null"])
    result = train(config, tmp_path / "run", log=_quiet)
    training = [kwargs for is_training, kwargs in calls if is_training]
    per_epoch = len(training) // 6
    assert all(k.get("direct_forces") and not k["compute_forces"] for k in training[: 4 * per_epoch])
    assert all(k["compute_forces"] and not k.get("direct_forces") for k in training[4 * per_epoch :])
    assert all(not k.get("direct_forces") for is_training, k in calls if not is_training)
    history = result.history
    # the head learns (slowly at 8 channels; the full-size model fits acac forces to ~50 meV/Å in 30 epochs)
    assert history[3]["train_forces"] < 0.97 * history[0]["train_forces"]
    assert load_model(result.model_path).config.direct_forces  # switched on by loss.direct_forces_epochs


def test_direct_force_epochs_need_a_model_with_the_head(tmp_path):
    config = load_config(None, TINY + ["model.name=morse_pair", "model.options={}", "loss.direct_forces_epochs=2"])
    with pytest.raises(ValueError, match="direct force head"):
        train(config, tmp_path / "run", log=_quiet)


@pytest.mark.parametrize("kind", ["amsgrad", "adamw"])
def test_fused_optimizer_matches_the_reference_update(kind):
    """build_optimizer's fused AdamW gives the per-parameter loop's update (float64, 20 steps)."""
    from irreps.train.config import OptimConfig
    from irreps.train.trainer import build_optimizer

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 1)).double()
    reference = [p.detach().clone().requires_grad_() for p in model.parameters()]
    ours = build_optimizer(model, OptimConfig(optimizer=kind, lr=1e-2, weight_decay=0.01))
    theirs = torch.optim.AdamW(reference, lr=1e-2, weight_decay=0.01, amsgrad=kind == "amsgrad", foreach=False)
    assert ours.param_groups[0]["fused"]
    for _ in range(20):
        grads = [torch.randn_like(p) for p in reference]
        for p, q, g in zip(model.parameters(), reference, grads):
            p.grad, q.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
    for p, q in zip(model.parameters(), reference):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-12, atol=1e-14)


def test_e0s_from_isolated_atoms_in_the_training_file_give_lone_atoms_their_e0(tmp_path):
    """No per-atom shift is fitted either: the dissociation limit is sum E0. (With
    data.isolated_atoms_file: tests/models/test_physics.py, for every architecture.)"""
    ase.io.write(tmp_path / "mixed.xyz", ase.io.read(bundled_path("acac_isolated_atoms"), ":")
                 + ase.io.read(bundled_path("acac_train"), ":24"))
    options = TINY[2:] + [f"data.train_file={tmp_path / 'mixed.xyz'}", "run.epochs=1"]
    model = load_model(train(load_config(None, options), tmp_path / "run", log=_quiet).model_path)
    assert model.metadata["training"]["e0_source"] == "training file"
    for z, e0 in isolated_atom_energies().items():
        assert lone_atom_energy(model, z) == pytest.approx(e0, abs=1e-9), z
