"""The run directory: refused when used, claimed with a lock, earlier runs deleted on request."""

import os
import subprocess
import sys

import pytest

from irreps.train.run_dir import LOCK_NAME, RUN_FILES, check_run_dir, claim_run_dir


def test_run_directory_rules(tmp_path):
    run = tmp_path / "run"
    check_run_dir(run)  # new: nothing is created
    assert not run.exists()
    with claim_run_dir(run):
        pass
    with claim_run_dir(run):  # empty but for the lock file is fine
        pass
    (run / "model.pt").write_text("earlier")
    (run / "mine.txt").write_text("keep")
    with pytest.raises(ValueError, match="not empty; pass --resume"):
        check_run_dir(run)
    with pytest.raises(ValueError, match="either --resume or --overwrite"):
        check_run_dir(run, resume=True, overwrite=True)
    with pytest.raises(ValueError, match="cannot resume"):
        check_run_dir(run, resume=True)
    check_run_dir(run, overwrite=True)
    assert (run / "model.pt").exists()  # checking deletes nothing
    with claim_run_dir(run, overwrite=True):
        assert not (run / "model.pt").exists() and (run / "mine.txt").read_text() == "keep"
    assert "model.pt" in RUN_FILES
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        check_run_dir(tmp_path / "file")


def test_a_locked_run_directory_names_its_holder(tmp_path):
    run = tmp_path / "run"
    with claim_run_dir(run):
        with pytest.raises(ValueError, match=f"in use by process {os.getpid()} on "):
            with claim_run_dir(run):
                pass
    with claim_run_dir(run):  # released at the end of the block
        pass


def test_the_lock_of_another_process_holds_until_it_ends(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom irreps.train.run_dir import claim_run_dir\n"
         f"with claim_run_dir({str(run)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(ValueError, match=f"in use by process {holder.pid} on "):
            with claim_run_dir(run):
                pass
    finally:
        holder.kill()  # like kill -9: the kernel releases the lock
        holder.wait()
    with claim_run_dir(run):
        assert (run / LOCK_NAME).read_text().startswith(f"process {os.getpid()} ")


def test_claiming_deletes_what_killed_writers_left(tmp_path):
    """A kill -9 mid-write leaves atomic_path's temporary files; the next claim (here a resume)
    deletes them, and files of other names stay."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"checkpoint")
    leftovers = [run / "checkpoints" / ".last.pt.0123456789ab.tmp", run / ".model.pt.ba9876543210.tmp"]
    for path in leftovers:
        path.write_bytes(b"half a file")
    (run / ".notes.tmp").write_text("mine")
    with claim_run_dir(run, resume=True):
        assert not any(path.exists() for path in leftovers)
    assert (run / ".notes.tmp").read_text() == "mine" and (run / "checkpoints" / "last.pt").exists()
