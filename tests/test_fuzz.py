"""Fuzzing what users hand the library: extxyz files, training configs (YAML and --set), Irreps
strings and model files. Arbitrary bytes and mutations of valid inputs must give a valid
result or a ``ValueError`` with a message: never another exception, never a hang.

Examples per target: the ``irreps`` Hypothesis profile (tests/conftest.py), deterministic;
``--hypothesis-profile=irreps-fuzz`` runs many more, from a random seed.
"""

import io
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

import ase
import ase.io
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from irreps.data import read_atoms
from irreps.models import build_model, load_model, save_model
from irreps.o3 import Irreps
from irreps.train.config import TrainConfig, default_config_path, load_config

HANG_SECONDS = 20  # one example this slow is a hang
# torch warns about the pickle protocol byte of some random files before refusing them.
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")


@contextmanager
def _no_hang():
    """Fail an example that runs longer than :data:`HANG_SECONDS`."""

    def stop(signum, frame):
        raise TimeoutError(f"no answer within {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _valid_or_value_error(function, *args):
    """``function(*args)``; a ``ValueError`` must carry a message; returns the result or None."""
    with _no_hang():
        try:
            return function(*args)
        except ValueError as err:
            assert str(err).strip(), f"a ValueError without a message from {function.__name__}"
            return None


@st.composite
def _mutations(draw, valid: bytes) -> bytes:
    """``valid`` with a few random edits: bytes flipped, cut, inserted or repeated, or truncated."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        edit = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "truncate"]))
        if edit == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif edit == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        else:
            del data[at:]
    return bytes(data)


def _file(data: bytes, suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    handle.write(data)
    handle.close()
    return Path(handle.name)


# -- extended XYZ ------------------------------------------------------------------------------
def _extxyz() -> bytes:
    frames = []
    for n, symbols in enumerate(["H2O", "CH4"]):
        atoms = ase.Atoms(symbols)
        atoms.positions = np.random.default_rng(n).normal(size=(len(atoms), 3)) * 1.5
        atoms.info.update(energy=-10.0 - n, config_type="md")
        atoms.arrays["forces"] = np.full((len(atoms), 3), 0.1 * n)
        frames.append(atoms)
    frames[1].cell, frames[1].pbc = np.eye(3) * 6.0, True
    frames[1].info["stress"] = np.arange(6, dtype=float)
    text = io.StringIO()
    ase.io.write(text, frames, format="extxyz")
    return text.getvalue().encode()


def _read_extxyz(data: bytes) -> None:
    path = _file(data, ".xyz")
    try:
        frames = _valid_or_value_error(read_atoms, path)
        assert frames is None or all(isinstance(atoms, ase.Atoms) for atoms in frames)
    finally:
        path.unlink()


@given(st.binary(max_size=2000))
def test_extxyz_reader_on_arbitrary_bytes(data):
    _read_extxyz(data)


@given(_mutations(_extxyz()))
def test_extxyz_reader_on_mutated_files(data):
    _read_extxyz(data)


# -- training configs ---------------------------------------------------------------------------
_YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=3),
    max_leaves=6,
)


def _load_config(text: str, overrides: list[str]) -> None:
    path = _file(text.encode("utf-8", "surrogatepass"), ".yaml")
    try:
        config = _valid_or_value_error(load_config, path, overrides)
        assert config is None or isinstance(config, TrainConfig)
    finally:
        path.unlink()


@given(st.text(max_size=400), st.lists(st.text(max_size=60), max_size=3))
def test_config_loader_on_arbitrary_text_and_overrides(text, overrides):
    _load_config(text, overrides)


@given(_mutations(default_config_path().read_bytes()))
def test_config_loader_on_mutated_yaml(data):
    _load_config(data.decode("utf-8", "replace"), [])


@given(
    st.sampled_from(["data", "model", "optim", "loss", "run", "data.keys", "model.options", "optim.lr", "run.epochs",
                     "loss.energy", "data.cutoff", "nothing", "run.name.x"]),
    _YAML_VALUES,
)
def test_config_loader_on_overrides_of_any_value(key, value):
    import yaml

    _load_config(default_config_path().read_text(), [f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}"])


# -- Irreps strings -----------------------------------------------------------------------------
def _parse_irreps(text: str) -> None:
    irreps = _valid_or_value_error(Irreps, text)
    if irreps is not None:
        assert Irreps(str(irreps)) == irreps  # what parses prints back to the same irreps


@given(st.text(max_size=60))
def test_irreps_parser_on_arbitrary_text(text):
    _parse_irreps(text)


@given(_mutations(b"16x0e + 8x1o+4x2e + 0o + 3x10e"))
def test_irreps_parser_on_mutated_strings(data):
    _parse_irreps(data.decode("utf-8", "replace"))


# -- model files --------------------------------------------------------------------------------
def _model_file() -> bytes:
    torch.manual_seed(0)
    model = build_model("tensornet", {"elements": [1, 8], "hidden_dim": 4, "num_layers": 1, "num_rbf": 4})
    with tempfile.TemporaryDirectory() as folder:
        return save_model(model, Path(folder) / "m.pt", metadata={"training": {"cutoff": 5.0}}).read_bytes()


MODEL_FILE = _model_file()


def _load_model(data: bytes) -> None:
    path = _file(data, ".pt")
    try:
        model = _valid_or_value_error(load_model, path)
        assert model is None or isinstance(model, torch.nn.Module)
    finally:
        path.unlink()


@given(st.binary(max_size=2000))
def test_model_file_loading_on_arbitrary_bytes(data):
    _load_model(data)


@given(_mutations(MODEL_FILE))
def test_model_file_loading_on_mutated_files(data):
    _load_model(data)


_PAYLOAD_VALUES = _YAML_VALUES | st.builds(torch.zeros, st.lists(st.integers(0, 3), max_size=3))


@given(st.data())
def test_model_file_loading_on_mutated_payloads(data):
    """A well-formed file whose content is wrong: an entry dropped or replaced, at any depth."""
    payload = torch.load(io.BytesIO(MODEL_FILE), weights_only=True)
    node = payload
    while True:
        key = data.draw(st.sampled_from(sorted(node, key=str)))
        if isinstance(node[key], dict) and node[key] and data.draw(st.booleans()):
            node = node[key]
            continue
        if data.draw(st.booleans()):
            del node[key]
        else:
            node[key] = data.draw(_PAYLOAD_VALUES)
        break
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    _load_model(buffer.getvalue())


def test_the_valid_inputs_are_valid(tmp_path):
    """The fuzzed inputs start from valid ones (else the mutation tests prove little)."""
    (tmp_path / "a.xyz").write_bytes(_extxyz())
    (tmp_path / "m.pt").write_bytes(MODEL_FILE)
    assert len(read_atoms(tmp_path / "a.xyz")) == 2
    assert isinstance(load_config(default_config_path()), TrainConfig)
    assert isinstance(load_model(tmp_path / "m.pt"), torch.nn.Module)
    assert Irreps("16x0e + 8x1o+4x2e + 0o + 3x10e").dim == 16 + 24 + 20 + 1 + 63

