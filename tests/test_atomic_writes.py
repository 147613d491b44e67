"""The one atomic write: complete files or none, the old file kept on failure, umask modes."""

import os
import stat

import ase
import pytest

from irreps.io import atomic_path, write_atomic
from irreps.models import build_model, save_model
from irreps.sim.io import write_csv, write_frames, write_json
from irreps.sim.plots import plot_md
from irreps.train.checkpoint import save_checkpoint
from irreps.train.plots import plot_learning_curve


@pytest.fixture
def umask():
    """Set a umask for the test and restore the previous one afterwards."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


WRITERS = {
    "text": lambda path: write_atomic(path, "text"),
    "model": lambda path: save_model(build_model("morse_pair", {"elements": [29]}), path, overwrite=True),
    "checkpoint": lambda path: save_checkpoint(path, {"epoch": 1}),
    "json": lambda path: write_json(path, {"a": 1}),
    "csv": lambda path: write_csv(path, [{"step": 0}]),
    "frames": lambda path: write_frames(path.with_suffix(".xyz"), [ase.Atoms("H")]),
    "learning-curve": lambda path: plot_learning_curve([{"epoch": 1, "train_loss": 1.0, "valid_loss": 1.0}], path),
    "md-plot": lambda path: plot_md([{"step": 0, "time_fs": 0.0, "temperature_K": 1.0, "epot_eV": 0.0,
                                      "ekin_eV": 0.0, "etot_eV": 0.0}], path),
}


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
@pytest.mark.parametrize("writer", list(WRITERS))
def test_every_writer_gives_the_permissions_of_the_umask(tmp_path, umask, writer, mask, mode):
    umask(mask)
    WRITERS[writer](tmp_path / "out.png")
    (written,) = tmp_path.iterdir()
    assert _mode(written) == mode, oct(_mode(written))


def test_text_and_bytes_replace_the_file_and_leave_no_temporary(tmp_path):
    write_atomic(tmp_path / "a" / "x.txt", "one")
    write_atomic(tmp_path / "a" / "x.txt", b"two")
    assert (tmp_path / "a" / "x.txt").read_text() == "two"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.txt"]


def test_a_failure_mid_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_path(path) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("crash")
    assert path.read_text() == "old"
    with pytest.raises(TypeError):
        write_atomic(path, object())  # not text or bytes: fails after the temporary file exists
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_a_failed_first_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "new.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
