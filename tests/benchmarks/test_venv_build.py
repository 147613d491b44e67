"""The pinned-virtualenv builder behind ``python -m benchmarks.peers`` and ``python -m benchmarks.engines``.

Nothing here installs anything: the decisions are checked through :func:`plan`, and the
commands through fake environments whose ``bin/python`` is a shell script answering ``pip list``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.engines import ENGINES, HERE, engine_python
from benchmarks.venv_build import build, missing_pins, pins, plan, required_python, status, venv_python_version

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = "# made on 2026-12-06\n# python: 3.12\nase==3.29.0\nmetatomic_torch==0.1.19\nnumpy==2.0\n"
INSTALLED = {"ase": "3.29.0", "metatomic-torch": "0.1.19", "numpy": "2.0.0", "pip": "25.0"}


def test_engine_requirement_files_are_fully_pinned_and_name_their_python():
    for name, file in ENGINES.items():
        text = (HERE / file).read_text()
        assert required_python(text) in ("3.11", "3.12"), name
        assert "torch" in pins(text), name  # each engine pins the torch its plugin was built for


def test_pins_and_directives_are_parsed_strictly():
    assert pins(REQUIREMENTS) == {"ase": "3.29.0", "metatomic-torch": "0.1.19", "numpy": "2.0"}
    assert required_python("ase==3.29.0\n") is None
    with pytest.raises(ValueError, match="more than one"):
        required_python("# python: 3.11\n# python: 3.12\n")
    with pytest.raises(ValueError, match="not a 'name==version' pin: 'ase>=3'"):
        pins("ase>=3\n")


def test_missing_pins_compares_canonical_names_and_versions():
    assert missing_pins(REQUIREMENTS, INSTALLED) == []  # metatomic_torch == metatomic-torch, 2.0 == 2.0.0
    assert missing_pins(REQUIREMENTS, {**INSTALLED, "ASE": "3.28.0", "ase": "3.28.0"}) == ["ase==3.29.0"]
    assert missing_pins(REQUIREMENTS, {"ase": "3.29.0"}) == ["metatomic-torch==0.1.19", "numpy==2.0"]


def test_plan_keeps_an_up_to_date_venv_and_rebuilds_anything_else():
    assert plan(REQUIREMENTS, None, None, None) == ("create", "no environment")
    assert plan(REQUIREMENTS, "3.12", REQUIREMENTS, None) == ("ok", "READY matches the requirement file")
    assert plan(REQUIREMENTS, "3.12", None, INSTALLED) == ("ok", "every pin is installed")
    assert plan(REQUIREMENTS, "3.12", REQUIREMENTS, None, force=True) == ("create", "--force")
    assert plan(REQUIREMENTS, "3.11", REQUIREMENTS, None) == ("create", "made by Python 3.11, the file wants 3.12")
    assert plan(REQUIREMENTS, "3.12", "ase==3.28.0\n", None)[0] == "create"  # a changed file, pip not asked yet
    action, why = plan(REQUIREMENTS, "3.12", None, {"ase": "3.29.0"})
    assert action == "create" and why == "pins not installed: metatomic-torch==0.1.19, numpy==2.0"
    assert plan("ase==1\n", "3.9", None, {"ase": "1"}) == ("ok", "every pin is installed")  # no python line: any


def test_venv_python_version_reads_pyvenv_cfg():
    assert venv_python_version("home = /usr/bin\nversion = 3.12.1\n") == "3.12"
    assert venv_python_version("home = /usr/bin\nversion_info = 3.11.7.final.0\n") == "3.11"
    assert venv_python_version("home = /usr/bin\n") is None


def fake_venv(root: Path, version: str, installed: dict[str, str]) -> Path:
    """A venv whose python only answers ``pip list --format=json`` with ``installed``."""
    (root / "bin").mkdir(parents=True)
    (root / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {version}.1\n")
    listing = json.dumps([{"name": k, "version": v} for k, v in installed.items()])
    python = root / "bin" / "python"
    python.write_text(f"#!/bin/sh\necho '{listing}'\n")
    python.chmod(0o755)
    return root


def test_status_asks_pip_of_a_venv_without_marker(tmp_path):
    root = fake_venv(tmp_path / "env", "3.12", INSTALLED)
    assert status(root, REQUIREMENTS) == ("ok", "every pin is installed")
    assert status(root, REQUIREMENTS.replace("ase==3.29.0", "ase==3.30.0")) == (
        "create", "pins not installed: ase==3.30.0")
    assert status(tmp_path / "absent", REQUIREMENTS) == ("create", "no environment")


def test_build_keeps_an_up_to_date_venv_and_marks_it(tmp_path, capsys):
    root = fake_venv(tmp_path / "env", "3.12", INSTALLED)
    file = tmp_path / "req.txt"
    file.write_text(REQUIREMENTS)
    assert build("demo", root, file, [])
    assert (root / "READY").read_text() == REQUIREMENTS and (root / "bin" / "python").exists()
    assert "[ok] demo: up to date" in capsys.readouterr().out


def test_build_without_the_named_python_fails_with_one_line(tmp_path, capsys):
    file = tmp_path / "req.txt"
    file.write_text("# python: 1.99\nase==3.29.0\n")
    assert not build("demo", tmp_path / "env", file, [])
    assert "[fail] demo: the requirement file needs Python 1.99: no python1.99 on PATH" in capsys.readouterr().out
    assert not (tmp_path / "env").exists()


def test_engine_python_skips_a_missing_engine_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IRREPS_VENVS", str(tmp_path))
    assert engine_python("torchsim") is None
    assert capsys.readouterr().out == (f"[skip] torchsim: no environment at {tmp_path / 'torchsim'} "
                                       "(build it with `python -m benchmarks.engines build torchsim`)\n")
    fake_venv(tmp_path / "openmm", "3.11", {})
    assert engine_python("openmm") == tmp_path / "openmm" / "bin" / "python"
    with pytest.raises(ValueError, match="unknown engine 'lammps'"):
        engine_python("lammps")


def test_build_command_dry_run_names_each_decision(tmp_path):
    fake_venv(tmp_path / "openmm", "3.11", {})
    env = dict(os.environ, IRREPS_VENVS=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "benchmarks.engines", "build", "--dry-run"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith(f"[build] openmm: {tmp_path / 'openmm'} (pins not installed: ")
    assert out[1] == f"[build] torchsim: {tmp_path / 'torchsim'} (no environment)"
    assert not (tmp_path / "torchsim").exists()
    bad = subprocess.run([sys.executable, "-m", "benchmarks.engines", "build", "gromacs"], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown engine(s) gromacs; known: openmm, torchsim" in bad.stderr
