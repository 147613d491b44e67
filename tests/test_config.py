from dataclasses import dataclass, field
from typing import Literal

import pytest

from irreps.config import config_from_dict, config_to_dict


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    schedule: Literal["plateau", "cosine"] = "plateau"


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    sizes: tuple[int, ...] = (1, 2)
    inner: Inner = field(default_factory=Inner)


def test_round_trip():
    cfg = Outer(name="y", sizes=(3,), inner=Inner(lr=0.1, schedule="cosine"))
    assert config_from_dict(Outer, config_to_dict(cfg)) == cfg


def test_unknown_key_names_it_and_suggests():
    with pytest.raises(ValueError, match="unknown key 'lrr'.*did you mean 'lr'"):
        config_from_dict(Outer, {"inner": {"lrr": 1.0}})


def test_keys_that_are_not_strings_and_missing_required_keys():
    """Found by tests/test_fuzz.py: a YAML key ``0`` raised TypeError, and so did a model
    file whose config lacked a field without a default."""
    with pytest.raises(ValueError, match="unknown key '0'"):
        config_from_dict(Outer, {0: None})

    @dataclass(frozen=True)
    class Needs:
        elements: tuple[int, ...]
        cutoff: float
        width: int = 4

    with pytest.raises(ValueError, match="model: missing keys 'elements', 'cutoff'"):
        config_from_dict(Needs, {"width": 2}, where="model")
    assert config_from_dict(Needs, {"elements": [1], "cutoff": 5.0}) == Needs((1,), 5.0)


def test_bad_literal_lists_options():
    with pytest.raises(ValueError, match="'linear' is not one of"):
        config_from_dict(Outer, {"inner": {"schedule": "linear"}})


def test_wrong_type():
    with pytest.raises(ValueError, match="expected a number"):
        config_from_dict(Outer, {"inner": {"lr": "fast"}})
