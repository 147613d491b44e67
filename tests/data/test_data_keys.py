"""The field registry and its agreement with KeySpec."""

import pytest

from irreps.data import FIELDS, TARGETS, KeySpec, get_field


def test_every_keyspec_entry_is_a_declared_field():
    assert set(KeySpec().file_keys()) <= set(FIELDS)
    assert set(TARGETS) <= set(KeySpec().file_keys())


def test_declarations():
    assert get_field("forces").level == "atom" and get_field("forces").unit == "eV/Å"
    assert get_field("stress").shape == (3, 3) and get_field("stress").entry_size() == 9
    assert get_field("hessian").level == "atom_pair" and get_field("hessian").unit == "eV/Å^2"
    assert get_field("energy").entry_size() == 1 and get_field("config_type").kind == "str"
    assert get_field("edge_index").level == "edge"
    with pytest.raises(ValueError, match="unknown field 'energies'"):
        get_field("energies")
