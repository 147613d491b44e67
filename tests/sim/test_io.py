"""Simulation outputs: CSV round trips, refusing to overwrite, trajectory formats."""

import pytest

from irreps.sim.io import check_outputs, frame_format, partial_path, read_csv, write_csv


def test_csv_rows_round_trip_into_a_new_folder(tmp_path):
    target = tmp_path / "sub" / "rows.csv"
    write_csv(target, [{"step": 0, "x": 1.5}, {"step": 1, "x": 2.5}])
    assert read_csv(target) == [{"step": 0.0, "x": 1.5}, {"step": 1.0, "x": 2.5}]
    assert [p.name for p in target.parent.iterdir()] == ["rows.csv"]


def test_existing_outputs_are_refused_unless_overwrite(tmp_path):
    (tmp_path / "a").write_text("keep")
    with pytest.raises(FileExistsError, match="a"):
        check_outputs([tmp_path / "a", tmp_path / "b", None], overwrite=False)
    check_outputs([tmp_path / "a"], overwrite=True)
    assert partial_path(tmp_path / "t.xyz").name == "t.xyz.part"
    with pytest.raises(ValueError):
        frame_format("t.pdb")
    with pytest.raises(ValueError, match="no rows"):
        write_csv(tmp_path / "c.csv", [])
