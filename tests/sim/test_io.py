"""Atomic outputs: nothing appears under the final name unless the write finished."""

import pytest

from irreps.sim.io import atomic_path, check_outputs, frame_format, partial_path, read_csv, write_csv


def test_failed_write_leaves_no_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_successful_write_replaces_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "rows.csv"
    write_csv(target, [{"step": 0, "x": 1.5}, {"step": 1, "x": 2.5}])
    assert read_csv(target) == [{"step": 0.0, "x": 1.5}, {"step": 1.0, "x": 2.5}]
    assert target.stat().st_mode & 0o044  # readable by group/others as with open()
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
