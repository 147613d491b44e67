import subprocess
import sys

import irreps
from irreps.cli.main import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert irreps.__version__ in capsys.readouterr().out


def test_help_lists_info(capsys):
    try:
        main(["--help"])
    except SystemExit as stop:
        assert stop.code == 0
    assert "info" in capsys.readouterr().out


def test_info_reports_versions(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "default dtype" in out


def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "irreps.cli.main", "info"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
