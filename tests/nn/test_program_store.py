"""The program store: keys follow what shapes a recording (not the weights or fitted E0s), and a
stored program is used only after it reproduces the eager computation."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from irreps.models import build_model
from irreps.nn.program_store import CompiledProgram, equal_outputs, fingerprint, load_checked, store_folder
from irreps.nn.recording import compile_program

CONFIG = dict(elements=[1, 6, 8], hidden_dim=8, num_layers=1, num_rbf=6, cutoff=3.0)
CPU = torch.device("cpu")


def _key(model, options=("potential",)):
    return fingerprint(model, options, CPU)


def test_weights_and_fitted_reference_energies_leave_the_key_alone():
    first = build_model("tensornet", dict(CONFIG, e0s=[-13.6, -1029.0, -2041.0], scale=1.7, shift=-0.4))
    second = build_model("tensornet", dict(CONFIG, e0s=[-13.0, -1030.0, -2040.0], scale=0.9))
    with torch.no_grad():
        for p in second.parameters():
            p.add_(1.0)
    assert _key(first) == _key(second)


class _Lookup(torch.nn.Module):
    """A module with an integer buffer: its values are constants of a recording."""

    def __init__(self, table):
        super().__init__()
        self.register_buffer("table", torch.tensor(table))
        self.weight = torch.nn.Parameter(torch.ones(3))


@pytest.mark.parametrize("change", ["cutoff", "width", "mode", "dtype", "options", "integer buffer"])
def test_what_shapes_the_recording_changes_the_key(change):
    base = build_model("tensornet", CONFIG)
    options = ("potential",)
    if change == "cutoff":
        other = build_model("tensornet", dict(CONFIG, cutoff=3.5))
    elif change == "width":
        other = build_model("tensornet", dict(CONFIG, hidden_dim=16))
    elif change == "mode":
        other = build_model("tensornet", CONFIG).eval()
    elif change == "dtype":
        other = build_model("tensornet", CONFIG).double()
    elif change == "options":
        other, options = build_model("tensornet", CONFIG), ("potential", "stress")
    else:
        base, other = _Lookup([0, 1, 2]), _Lookup([0, 2, 1])
    assert _key(base) != _key(other, options)


def test_the_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("IRREPS_COMPILE_CACHE", raising=False)
    assert store_folder() == Path.home() / ".cache" / "irreps" / "compiled"
    monkeypatch.setenv("IRREPS_COMPILE_CACHE", str(tmp_path))
    assert store_folder() == tmp_path
    monkeypatch.setenv("IRREPS_COMPILE_CACHE", "")
    assert store_folder() is None
    assert load_checked("0" * 32, lambda x: x, (torch.ones(2),), "nothing") is None


def test_an_unreadable_stored_file_is_ignored_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("IRREPS_COMPILE_CACHE", str(tmp_path))
    (tmp_path / f"{'1' * 32}.bin").write_bytes(b"not a program")
    with pytest.warns(UserWarning, match="ignoring the stored compiled program"):
        assert load_checked("1" * 32, lambda x: x, (torch.ones(2),), "nothing") is None


def test_outputs_compare_to_the_programs_precision():
    x = torch.tensor([1.0, -2.0], dtype=torch.float64)
    assert equal_outputs([x + 1e-11], [x])
    assert not equal_outputs([x + 1e-7], [x])
    assert equal_outputs([x.float() + 1e-6], [x])
    assert not equal_outputs([x], [x, x])
    assert not equal_outputs([x[:1]], [x])
    # a float32 training step: its loss summed in float64 carries float32 rounding (2e-9 seen),
    # which must not make every warm start recompile; a wrong program is still refused
    loss, grad = torch.tensor(0.8149, dtype=torch.float64), torch.tensor([0.17, -0.05])
    assert equal_outputs([loss + 2e-9, grad + 1e-7], [loss, grad])
    assert not equal_outputs([loss + 1e-3, grad], [loss, grad])
    assert not equal_outputs([loss, grad + 1e-3], [loss, grad])


@pytest.mark.slow
def test_a_stored_program_serves_other_sizes_and_is_replaced_when_it_disagrees(monkeypatch, tmp_path):
    """Compiled once with 5 entries, loaded for 7; loaded for a function it does not compute
    (as a stale key would), it is refused with a warning."""
    monkeypatch.setenv("IRREPS_COMPILE_CACHE", str(tmp_path))

    def function(x, scale):
        return [torch.sin(x) * scale[0], (x * x).sum()]

    args = (torch.linspace(0, 1, 5, dtype=torch.float64), [torch.tensor([2.0], dtype=torch.float64)])
    program = make_fx(function, tracing_mode="symbolic")(*args)
    compiled = compile_program(program, "inductor", args, key="2" * 32)
    assert isinstance(compiled, CompiledProgram) and (tmp_path / f"{'2' * 32}.bin").is_file()
    other = (torch.linspace(-1, 3, 7, dtype=torch.float64), [torch.tensor([0.5], dtype=torch.float64)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        loaded = load_checked("2" * 32, function, other, "a test function")
    assert loaded is not None
    for got, want in zip(loaded(*other), function(*other)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    with pytest.warns(UserWarning, match="does not reproduce the eager computation"):
        assert load_checked("2" * 32, lambda x, s: [torch.cos(x) * s[0], (x * x).sum()], other, "another") is None


# A function with tensor constants (an integer index table and coefficients made before recording,
# as models make theirs), and the check a later process makes of its stored program.
_WITH_CONSTANTS = """
import torch
INDEX = torch.tensor([2, 0, 1, 1, 2])
WEIGHT = torch.linspace(-1.0, 1.0, 3, dtype=torch.float64)[:, None]

def function(x, scale):
    return [(x[:, INDEX] * scale[0]).sum(1) + (x[:, :3] @ WEIGHT).sum(1)]

args = (torch.linspace(0.0, 1.0, 20, dtype=torch.float64).reshape(4, 5), [torch.tensor([2.0], dtype=torch.float64)])
"""
_LOAD = """
import warnings
from irreps.nn.program_store import load_checked
warnings.simplefilter("error", UserWarning)
other = (torch.linspace(-2.0, 1.0, 35, dtype=torch.float64).reshape(7, 5), args[1])
program = load_checked("3" * 32, function, other, "a function with constants")
assert program is not None, "not loaded"
torch.testing.assert_close(program(*other)[0], function(*other)[0], rtol=1e-12, atol=1e-12)
print("loaded and equal")
"""


def test_a_stored_program_with_constants_runs_in_another_process(monkeypatch, tmp_path):
    """Inductor hands a recording's tensor constants to the compiled code as hidden inputs that a
    saved artifact loses: loaded in another process, it read past its arguments and crashed
    (a gaunt_ace model's program did, issue 32). They are now inputs, kept beside the program."""
    monkeypatch.setenv("IRREPS_COMPILE_CACHE", str(tmp_path))
    namespace: dict = {}
    exec(_WITH_CONSTANTS, namespace)
    function, args = namespace["function"], namespace["args"]
    program = make_fx(function, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*args)
    assert any(node.op == "get_attr" for node in program.graph.nodes)  # the case this test is about
    compiled = compile_program(program, "inductor", args, key="3" * 32)
    torch.testing.assert_close(compiled(*args)[0], function(*args)[0], rtol=1e-12, atol=1e-12)
    run = subprocess.run([sys.executable, "-c", _WITH_CONSTANTS + _LOAD], capture_output=True, text=True,
                         env={**os.environ, "IRREPS_COMPILE_CACHE": str(tmp_path)}, timeout=300)
    assert run.returncode == 0 and "loaded and equal" in run.stdout, (run.returncode, run.stderr[-2000:])
