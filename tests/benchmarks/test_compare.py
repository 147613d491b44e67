"""The side-by-side benchmark's own machinery: the CPU-time cap, the splits, the one error code
and resumption (benchmarks/compare; the trainings themselves are benchmarks, not tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.compare.budget import _stat, read_log, run_capped, tree_cpu_seconds
from benchmarks.compare.datasets import DATASETS, load_split
from benchmarks.compare.metrics import errors
from benchmarks.compare import results as results_module
from benchmarks.compare.results import append_record, done_keys, latest, ours_changed_since

SPIN_WITH_CHILD = """
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "while True: pass"])
print("started", flush=True)
while True:
    pass
"""


def test_tree_cpu_time_includes_children():
    """The cap's clock sums the whole process tree: a spinning child's time is in its parent's total."""
    parent = subprocess.Popen([sys.executable, "-c", SPIN_WITH_CHILD], stdout=subprocess.PIPE, text=True)
    try:
        parent.stdout.readline()
        # the child spins; on a loaded machine it may take a while to be given 0.2 s of CPU
        deadline = time.monotonic() + 60.0
        while tree_cpu_seconds(parent.pid) <= _stat(parent.pid)[1] + 0.2 and time.monotonic() < deadline:
            time.sleep(0.5)
        own = _stat(parent.pid)[1]
        assert tree_cpu_seconds(parent.pid) > own + 0.2
    finally:
        for child in Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split():
            os.kill(int(child), signal.SIGKILL)
        parent.kill()
        parent.wait()


def test_cap_stops_a_silent_command(tmp_path):
    """A command that spins in two processes and prints nothing more is stopped at the cap (all
    its processes); lines are stamped with CPU and wall seconds."""
    result = run_capped([sys.executable, "-c", SPIN_WITH_CHILD], 3.0, tmp_path / "log", grace=2.0)
    assert result.capped and result.returncode != 0
    assert 3.0 <= result.cpu_seconds < 8.0
    lines = read_log(tmp_path / "log")
    assert [line for _, _, line in lines] == ["started"]


def test_a_command_inside_its_cap_runs_to_the_end(tmp_path):
    code = "import sys\nfor i in range(3): print(i)\nsys.exit(3)"
    result = run_capped([sys.executable, "-c", code], 60.0, tmp_path / "log")
    assert not result.capped and result.returncode == 3
    assert [line for _, _, line in read_log(tmp_path / "log")] == ["0", "1", "2"]


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_committed_splits_are_disjoint_and_sized(name):
    split, spec = load_split(name), DATASETS[name]
    train, valid = set(split["train"]), set(split["valid"])
    assert len(train) == spec.num_train and len(valid) == spec.num_valid and not train & valid
    assert max(train | valid) < split["source_frames"] and split["source"] == spec.source


def test_errors_in_mev():
    ref_e, ref_f = np.array([1.0, 2.0]), np.zeros((5, 3))
    pred_f = ref_f.copy()
    pred_f[0, 0] = 0.003
    out = errors(ref_e + [0.002, -0.002], pred_f, ref_e, ref_f, np.array([2, 3]))
    assert out["e_mae"] == pytest.approx(2.0) and out["e_rmse"] == pytest.approx(2.0)
    assert out["e_per_atom_mae"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert out["f_mae"] == pytest.approx(3.0 / 15) and out["f_rmse"] == pytest.approx(np.sqrt(9.0 / 15))
    with pytest.raises(ValueError, match="shapes"):
        errors(ref_e, pred_f[:4], ref_e, ref_f, np.array([2, 3]))


def test_resume_skips_recorded_peers_and_redoes_ours_when_our_code_changed(tmp_path, monkeypatch):
    changed = {"aaa": True, "bbb": False}
    monkeypatch.setattr(results_module, "ours_changed_since", lambda recorded, system: changed[recorded])
    common = dict(dataset="acac", size="small", seed=0, minutes=3.0, threads=1)
    append_record(dict(common, system="mace", commit="aaa"), tmp_path)
    append_record(dict(common, system="irreps", commit="aaa"), tmp_path)
    append_record(dict(common, system="irreps", size="recommended", commit="aaa"), tmp_path)
    append_record(dict(common, system="irreps", commit="bbb", note="newer"), tmp_path)
    both = {("acac", "mace", "small", 0, 3.0, 1), ("acac", "irreps", "small", 0, 3.0, 1)}
    assert done_keys("acac", "ccc", tmp_path) == both  # bbb's run stands: our code is the same since
    changed["bbb"] = True
    assert done_keys("acac", "ccc", tmp_path) == {("acac", "mace", "small", 0, 3.0, 1)}
    assert done_keys("acac", "bbb", tmp_path) == both  # a record at this very commit needs no check
    records = [json.loads(line) for line in (tmp_path / "acac.jsonl").read_text().splitlines()]
    assert [r.get("note") for r in latest(records) if r["system"] == "irreps" and r["size"] == "small"] == ["newer"]


def test_ours_changed_since_reads_git_and_distrusts_dirty_records():
    assert ours_changed_since("abc123-dirty", "irreps") and ours_changed_since("unknown", "irreps")
    assert ours_changed_since("0000000", "irreps")  # no such commit: cannot vouch for it


def test_a_systems_code_is_the_library_less_the_model_families_it_does_not_use(tmp_path):
    models = tmp_path / results_module.MODELS
    for family, text in {"a": 'from irreps.models.b.layers import L\n@register_model("x", XConfig)',
                         "b": "import torch", "c": '@register_model( "y", YConfig)\nimport irreps.models.c'}.items():
        (models / family).mkdir(parents=True)
        (models / family / "__init__.py").write_text(text)
    assert results_module.model_families("x", tmp_path) == {"a", "b"}  # b: imported by a
    assert results_module.model_families("y", tmp_path) == {"c"}
    assert results_module.model_families("z", tmp_path) == set()
    code = results_module.our_code("irreps")
    assert "examples/train_acac.yaml" in code and "src/irreps" in code
    excluded = {spec.rsplit("/", 1)[1] for spec in code if spec.startswith(":(exclude)")}
    assert "tensornet" not in excluded and {"equiformer", "ace", "tfn"} <= excluded
    assert "equiformer" not in {s.rsplit("/", 1)[1] for s in results_module.our_code("irreps-escn")
                                if s.startswith(":(exclude)")}


def test_timing_uses_each_systems_fast_path(tmp_path, monkeypatch):
    """Errors come from ``calculator`` (float64 where allowed); the timed calls from
    ``timing_calculator``: a peer's float32 calculator (its compiled file for NequIP/Allegro),
    ours with the compiled inference path."""
    import torch

    from benchmarks.compare.systems import get_system
    from irreps.models import build_model, save_model

    mace = get_system("mace")
    seen = []
    monkeypatch.setattr(type(mace), "calculator", staticmethod(lambda path, dtype: seen.append((path, dtype)) or "calc"))
    assert mace.timing_calculator("m.model") == "calc" and seen == [("m.model", "float32")]

    model = build_model("tensornet", {"elements": [1, 6, 8], "hidden_dim": 4, "num_layers": 1, "num_rbf": 4, "cutoff": 3.0})
    path = save_model(model, tmp_path / "tiny.pt")
    ours = get_system("irreps")
    timed, scored = ours.timing_calculator(str(path)), ours.calculator(str(path), "float64")
    assert timed.compiled is not None and scored.compiled is None
    assert next(timed.models[0].parameters()).dtype == torch.float32


@pytest.mark.parametrize("name,minutes,compiled,max_minutes",
                         [("irreps", 30, True, 29.1), ("irreps-tfn", 30, True, 29.1), ("irreps-tfn", 12, False, 11.46),
                          ("irreps-gaunt_ace", 30, True, 29.1), ("irreps-se3_transformer", 30, True, 29.1),
                          ("irreps-se3_transformer", 20, False, 19.3), ("irreps-escn", 15, True, 14.4),
                          ("irreps-escn", 10, False, 9.5), ("irreps-equiformer_v2", 120, True, 117.3),
                          ("irreps-equiformer_v2", 20, False, 19.3)])
def test_our_train_command_compiles_per_system(name, minutes, compiled, max_minutes, tmp_path):
    """Each system compiles from its own budget on; the same reserve (start-up, final evaluation)
    whether compiled or not, since the trainer's CPU clock counts the compiler's processes."""
    from types import SimpleNamespace

    from benchmarks.compare.systems import get_system
    from benchmarks.compare.systems.base import Job

    files = SimpleNamespace(train="t.xyz", valid="v.xyz", isolated="i.xyz")
    job = Job("acac", name, "recommended", 0, minutes, 1, tmp_path, files, Path(sys.executable))
    command = get_system(name).train_command(job)
    sets = dict(item.split("=", 1) for item in command[command.index("--set"):] if item != "--set")
    assert sets["run.compile"] == ("true" if compiled else "false")
    assert float(sets["run.max_minutes"]) == pytest.approx(max_minutes)


@pytest.mark.parametrize("name", ["irreps", "irreps-equiformer_v2", "irreps-escn", "irreps-gaunt_ace"])
def test_every_size_of_ours_reaches_irreps_train_as_overrides(name, tmp_path):
    """A size is the recipe plus its ``--set`` overrides; each described size has them."""
    from types import SimpleNamespace

    from benchmarks.compare.systems import get_system
    from benchmarks.compare.systems.base import Job

    system = get_system(name)
    files = SimpleNamespace(train="t.xyz", valid="v.xyz", isolated="i.xyz")
    for size in system.sizes:
        job = Job("acac", name, size, 0, 30, 1, tmp_path, files, Path(sys.executable))
        command = system.train_command(job)
        sets = dict(item.split("=", 1) for item in command[command.index("--set"):] if item != "--set")
        assert {key: str(value) for key, value in system.size_overrides[size].items()}.items() <= sets.items()
    if name == "irreps-gaunt_ace":
        assert system.size_overrides["wide"] == {"model.options.channels": 64}


def test_the_table_marks_each_timing_made_during_a_run(monkeypatch):
    """A table mixing quiet re-timings and in-run timings says which row is which, not one
    word for the whole table; a row of ours made before its code changed is marked too."""
    from benchmarks.compare.report import table

    outdated = {"abc": False}
    monkeypatch.setattr(results_module, "ours_changed_since", lambda recorded, system: outdated[recorded])

    def record(system, us):
        return dict(dataset="acac", system=system, size="recommended", seed=0, minutes=30.0, threads=1,
                    tests={"test": dict(f_rmse=10.0, f_mae=7.0, e_rmse=1.0, e_mae=0.8)}, epochs=100, params=1000,
                    timing=dict(us_per_atom=us, peak_mb=500.0), version="1", commit="abc", machine="cpu")

    records = [record("irreps", 400.0), record("mace", 7000.0)]
    quiet = {("acac", "irreps", "recommended", 0, 30.0, 1): dict(us_per_atom=410.0, peak_mb=480.0)}
    text = table("acac", 30.0, records, quiet)
    irreps_row, mace_row = (next(line for line in text.splitlines() if line.startswith(f"| {s} |"))
                            for s in ("irreps", "mace"))
    assert "| **410** |" in irreps_row and "*" not in irreps_row.replace("**", "")
    assert "| 7,000* |" in mace_row and "* timed during the run" in text
    assert "*" not in table("acac", 30.0, records[:1], quiet).replace("**", "")
    assert "†" not in text
    rerun = dict(records[0], date="2026-12-08T10:00:00", timing=dict(us_per_atom=390.0, peak_mb=470.0))
    quiet_before = {key: dict(t, date="2026-12-07T15:45:39") for key, t in quiet.items()}
    assert "390*" in table("acac", 30.0, [records[0], rerun], quiet_before)  # it timed the earlier model
    outdated["abc"] = True
    text = table("acac", 30.0, records, quiet)
    assert any(line.startswith("| irreps † |") for line in text.splitlines()) and "| mace |" in text
    assert "† made at an earlier commit" in text


def test_our_run_cut_at_the_cap_is_evaluated_from_its_last_checkpoint(tmp_path):
    """A run the cap killed after its last checkpoint but before model.pt: the harness writes
    model.pt from that checkpoint (the best epoch's EMA weights) without training further."""
    from types import SimpleNamespace

    import torch

    from benchmarks.compare.systems import get_system
    from benchmarks.compare.systems.base import Job
    from irreps.models.file import load_model
    from irreps.train.config import load_config
    from irreps.train.run import train

    tiny = ["data.train_file=bundled:acac_train", "data.isolated_atoms_file=bundled:acac_isolated_atoms",
            "data.max_train=12", "data.valid_fraction=0.1", "data.batch_size=6", "run.progress=false",
            "model.options={hidden_dim: 8, num_layers: 1, num_rbf: 8}", "run.device=cpu", "run.epochs=2"]
    run = train(load_config(None, tiny), tmp_path / "run", log=lambda line: None)
    trained = load_model(run.model_path)
    run.model_path.unlink()  # as when the cap's SIGKILL came during the final evaluation
    job = Job("acac", "irreps", "recommended", 0, 30, 1, tmp_path, SimpleNamespace(), Path(sys.executable))
    path = get_system("irreps").model_file(job)
    assert path == run.model_path and path.is_file()
    restored = load_model(path)
    for (name, a), b in zip(trained.state_dict().items(), restored.state_dict().values()):
        assert torch.equal(a, b), name
    assert len(json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]) == 2  # no third epoch
    (tmp_path / "run" / "model.pt").unlink()
    for name in ("last.pt", "best.pt"):
        (tmp_path / "run" / "checkpoints" / name).unlink()
    with pytest.raises(RuntimeError, match="no epoch finished inside the cap"):
        get_system("irreps").model_file(job)


def test_the_lmax_table_reports_cost_per_step_from_the_learning_curve():
    """Epoch cost is the median CPU time between curve points after the first (which carries the
    start-up); ms/step divides it by the recipe's steps per epoch (acac: 450 structures, batch 4)."""
    from benchmarks.compare.report import epoch_seconds, lmax_table

    def record(size, f_rmse, cpu_s):
        curve = [dict(epoch=k + 1, cpu_s=c, valid_f_rmse=1.0) for k, c in enumerate(cpu_s)]
        return dict(dataset="acac", system="irreps-escn", size=size, seed=0, minutes=30.0, threads=1,
                    tests={"test_MD_300K": dict(f_rmse=f_rmse)}, epochs=len(cpu_s), params=1000, curve=curve,
                    timing=dict(us_per_atom=1.0, peak_mb=1.0), version="1", commit="abc", machine="cpu")

    small, large = record("lmax2", 30.0, [100.0, 111.3, 122.6, 140.0, 151.3]), record("lmax6", 90.0, [300.0, 356.5])
    assert epoch_seconds(small) == pytest.approx(11.3) and epoch_seconds(large) is None
    text = lmax_table({"acac": [small, large]}, 30.0)
    rows = [line for line in text.splitlines() if line.startswith("| acac")]
    assert rows == ["| acac | escn | 2 | 30.00 (test_MD_300K) | 1,000 | 5 | 100 |",
                    "| acac | escn | 6 | 90.00 (test_MD_300K) | 1,000 | 2 | n/a |"]
    assert lmax_table({"acac": [dict(small, system="irreps")]}, 30.0) == ""
    assert lmax_table({"acac": [small]}, 30.0) == ""  # one l_max: nothing to compare
