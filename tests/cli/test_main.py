import subprocess
import sys

import irreps
from irreps.cli.main import main


def exit_status(argv: list[str]) -> int:
    """What ``irreps ARGV`` exits with: main's return value, or the code of the SystemExit that
    argparse raises for --help and --version (``None`` there means 0)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return 0 if stop.code is None else stop.code


def test_version(capsys):
    assert exit_status(["--version"]) == 0
    assert capsys.readouterr().out == f"irreps {irreps.__version__}\n"


def test_help_lists_the_commands(capsys):
    assert exit_status(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: irreps")
    for command in ("info", "train", "evaluate", "md", "relax"):
        assert f"    {command} " in out, command


def test_an_unknown_command_exits_2(capsys):
    assert exit_status(["nonsense"]) == 2
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err


def test_info_reports_versions(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "default dtype" in out


def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "irreps.cli.main", "info"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
