"""Compiled programs kept on disk, found again by what determines them: no recording, no compile.

A compiled program (:func:`irreps.nn.recording.compile_program`) depends only on the code,
the model's architecture and the call's options, never on the weights, E0s, scale or shift
(those are its inputs). Recording it takes 20-60 s and compiling it minutes, and torch's own
caches still repeat the recording. So the program is saved once under a key made of everything
that shapes it (:func:`fingerprint`: this package's source, torch, Python, the CPU's vector
instructions, every module's type and plain attributes, the names, shapes and dtypes of
parameters and buffers, the values of integer buffers, the options of the call); a later process
with the same key loads it in seconds.

A loaded program is checked before use: its outputs on the first call must equal those of the
function it stands for, evaluated eagerly (to 1e-9 in float64, 1e-5 in float32, relative to
each output's largest entry). A program that fails is recorded and compiled again, with a
warning, and replaced on disk. A stale key can cost time but not give a wrong number.

Where: ``$IRREPS_COMPILE_CACHE``, by default ``~/.cache/irreps/compiled``; set it to an empty
string to keep nothing on disk. Two files per program (the compiled code, a few MB, and the
tensor constants it was recorded with), each written atomically; deleting the folder is always
safe.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import platform
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils._pytree import TreeSpec, tree_flatten, tree_unflatten

_ENV = "IRREPS_COMPILE_CACHE"
_PLAIN = (bool, int, float, str, type(None), torch.dtype, torch.device)
# Configuration fields (and the readout's attributes of the same names) whose values the readout
# holds in a floating buffer (its affine table), an input of the recording: fitted to each
# split, they are not part of the key.
INPUT_FIELDS = frozenset({"e0s", "scale", "shift"})


class CompiledProgram:
    """An inductor program compiled without Dynamo (``standalone_compile``), called with the
    nested inputs of the function it was recorded from and returning its nested outputs.

    ``constants`` are the recording's tensor constants, passed after the inputs
    (:func:`irreps.nn.recording.lift_constants`)."""

    def __init__(self, artifact: Any, out_spec: TreeSpec, constants: list[torch.Tensor]):
        self.artifact = artifact
        self.out_spec = out_spec
        self.constants = constants

    def __call__(self, *args: Any) -> Any:
        # flattened again: inductor may hand back the recording's nesting or a flat list
        outputs = self.artifact(*tree_flatten(args)[0], *self.constants)
        return tree_unflatten(tree_flatten(outputs)[0], self.out_spec)


def store_folder() -> Path | None:
    """The folder programs are kept in (``$IRREPS_COMPILE_CACHE``); ``None`` when switched off."""
    value = os.environ.get(_ENV)
    if value is None:
        return Path.home() / ".cache" / "irreps" / "compiled"
    return Path(value).expanduser() if value.strip() else None


@functools.lru_cache(maxsize=1)
def _source_digest() -> bytes:
    """Digest of every Python file of the installed ``irreps`` package (a code change is a new key)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.digest()


def _plain(value: Any) -> str | None:
    """``value`` written out if it is a number, string, flag, dtype or a tuple, list or
    dataclass of those (a dataclass without its :data:`INPUT_FIELDS`); otherwise ``None``."""
    if isinstance(value, _PLAIN):
        return repr(value)
    if isinstance(value, (tuple, list)):
        parts = [_plain(v) for v in value]
        return None if None in parts else f"{type(value).__name__}({', '.join(parts)})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = [(f.name, _plain(getattr(value, f.name))) for f in dataclasses.fields(value)
                 if f.name not in INPUT_FIELDS]
        return None if any(p is None for _, p in parts) else f"{type(value).__qualname__}{parts}"
    return None


def fingerprint(model: torch.nn.Module, options: tuple, device: torch.device) -> str:
    """A key for the program of ``model`` under ``options`` (a tuple of plain values naming the
    function and its variant) on ``device``: equal keys mean equal recordings."""
    digest = hashlib.sha256(_source_digest())
    digest.update(repr((torch.__version__, sys.version_info[:3], platform.machine(), device.type, options)).encode())
    if device.type == "cpu":
        from torch._inductor.cpu_vec_isa import pick_vec_isa

        digest.update(str(pick_vec_isa()).encode())  # AVX-512 code must not load on an AVX2 machine
    for name, module in model.named_modules():
        attributes = sorted((k, _plain(v)) for k, v in vars(module).items()
                            if not k.startswith("_") and k not in INPUT_FIELDS)
        digest.update(repr((name, type(module).__module__, type(module).__qualname__, attributes)).encode())
    for name, p in model.named_parameters():
        digest.update(repr((name, tuple(p.shape), p.dtype, p.requires_grad)).encode())
    for name, b in model.named_buffers():
        digest.update(repr((name, tuple(b.shape), b.dtype)).encode())
        if not b.is_floating_point():  # integer buffers are constants of the recording
            digest.update(b.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def load_checked(key: str, function: Callable[..., Any], args: tuple, what: str) -> CompiledProgram | None:
    """The stored program of ``key`` if there is one and it reproduces ``function(*args)`` run
    eagerly (warns when it does not); otherwise ``None``: record and compile."""
    folder = store_folder()
    path = None if folder is None else folder / f"{key}.bin"
    if path is None or not path.is_file():
        return None
    try:
        constants = torch.load(_constants_path(path), weights_only=True)
        artifact = torch._inductor.CompiledArtifact.load(path=str(path), format="binary")
        with torch.no_grad():
            got = tree_flatten(artifact(*tree_flatten(args)[0], *constants))[0]
    except Exception as err:  # another torch build, a truncated file, no constants: compile again
        warnings.warn(f"ignoring the stored compiled program {path} ({type(err).__name__}: {err}); compiling again")
        return None
    with torch.enable_grad():
        want, out_spec = tree_flatten(function(*args))
    if not equal_outputs(got, want):
        warnings.warn(f"the stored compiled program of {what} ({path}) does not reproduce the eager computation; "
                      "recording and compiling it again")
        return None
    return CompiledProgram(artifact, out_spec, constants)


def _constants_path(path: Path) -> Path:
    """Where the constants of the program at ``path`` are kept (``<key>.constants.pt``)."""
    return path.with_suffix(".constants.pt")


def save(key: str, program: CompiledProgram) -> None:
    """Keep ``program`` under ``key``. A folder that cannot be written costs the next process a
    compile, not this one its run."""
    folder = store_folder()
    if folder is None:
        return
    path = folder / f"{key}.bin"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Each written to a temporary name and renamed, so a reader never sees half a file; the
        # constants first: a reader that finds the program finds them.
        partial = path.with_suffix(f".{os.getpid()}.partial")
        torch.save(program.constants, partial)
        os.replace(partial, _constants_path(path))
        program.artifact.save(path=str(path), format="binary")
    except OSError as err:
        warnings.warn(f"could not keep the compiled program in {folder} ({err}); the next run compiles again")


def equal_outputs(got: list[torch.Tensor], want: list[torch.Tensor]) -> bool:
    """Whether two flat lists of outputs agree to rounding, each tensor to a tolerance of its
    largest entry (at least 1): 1e-9 when every floating output is float64, else 1e-5.

    One tolerance for the whole program: a float64 output of a float32 computation (a loss or a
    total energy summed in float64) carries float32 rounding, and a wrong program is off by far
    more than either tolerance.
    """
    if len(got) != len(want):
        return False
    if any(not isinstance(a, torch.Tensor) or a.shape != b.shape for a, b in zip(got, want)):
        return False
    floating = [a.dtype for a in got if a.is_floating_point()]
    relative = 1e-9 if floating and all(d == torch.float64 for d in floating) else 1e-5
    for a, b in zip(got, want):
        if a.numel() == 0:
            continue
        b = b.detach().to(a.dtype)
        tolerance = relative * max(float(b.abs().max()), 1.0)
        if not bool(((a - b).abs() <= tolerance).all()):
            return False
    return True
