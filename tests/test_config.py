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


def test_bad_literal_lists_options():
    with pytest.raises(ValueError, match="'linear' is not one of"):
        config_from_dict(Outer, {"inner": {"schedule": "linear"}})


def test_wrong_type():
    with pytest.raises(ValueError, match="expected a number"):
        config_from_dict(Outer, {"inner": {"lr": "fast"}})
