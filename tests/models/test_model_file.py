"""Model files: safe loading, refusal to clobber, and refusal of files from another architecture version."""

import pytest
import torch

from irreps.models import build_model, load_model, save_model
from irreps.models.domain import encode_shortest_distances, shortest_distances
from irreps.models.registry import model_entry


def _model():
    return build_model("harmonic_pair", {"elements": [1, 8], "k": 12.0})


def _trained_looking_tensornet() -> torch.nn.Module:
    """A tiny TensorNet whose weights differ from any fresh build's (what a trained file holds)."""
    torch.manual_seed(0)
    model = build_model("tensornet", {"elements": [1, 8], "hidden_dim": 4, "num_layers": 1, "num_rbf": 4})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    return model


def test_round_trip_keeps_config_weights_and_metadata(tmp_path):
    model = _trained_looking_tensornet()
    path = save_model(model, tmp_path / "m.pt", metadata={"note": "x"})
    torch.manual_seed(1)  # a load that kept freshly initialised weights would get other values
    loaded = load_model(path)
    assert loaded.config == model.config
    assert loaded.metadata == {"note": "x"}
    saved, restored = model.state_dict(), loaded.state_dict()
    assert saved.keys() == restored.keys()
    for name, value in saved.items():
        assert torch.equal(restored[name], value), name


def test_never_clobbers_without_overwrite(tmp_path):
    path = tmp_path / "m.pt"
    path.write_bytes(b"user data")
    with pytest.raises(FileExistsError):
        save_model(_model(), path)
    assert path.read_bytes() == b"user data"
    save_model(_model(), path, overwrite=True)
    assert load_model(path).config.k == 12.0


def test_other_architecture_version_is_refused(tmp_path):
    path = save_model(_model(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["model_version"] == model_entry("harmonic_pair").version
    payload["model_version"] += 1
    torch.save(payload, path)
    with pytest.raises(ValueError, match="version"):
        load_model(path)


def test_evaluation_options_of_a_model_without_any_are_refused(tmp_path):
    path = save_model(_model(), tmp_path / "m.pt")
    with pytest.raises(ValueError, match="'k' cannot change after training; options of 'harmonic_pair' at evaluation: none"):
        load_model(path, options={"k": 1.0})
    assert load_model(path, options={}).config.k == 12.0


def test_not_a_model_file(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="missing"):
        load_model(path)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable"):
        load_model(path)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.pt")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda payload: torch.zeros(3), "it holds a Tensor, not a mapping"),
        (lambda payload: {**payload, "format_version": None}, "its format_version is a NoneType, not a int"),
        (lambda payload: {**payload, "metadata": None}, "its metadata is a NoneType, not a dict"),
        (lambda payload: {**payload, "state_dict": torch.zeros(2)}, "its state_dict is a Tensor, not a dict"),
        (lambda payload: {**payload, "state_dict": {"k": 1.0}}, "state_dict entry 'k' is not a named tensor"),
        (lambda payload: {**payload, "config": {}}, r"model \(harmonic_pair\): missing key 'elements'"),
        (lambda payload: {**payload, "state_dict": {**payload["state_dict"], "k": torch.zeros(1)}},
         r"the weights do not fit the model its config describes \(Error\(s\) in loading state_dict"),
    ],
    ids=["not-a-mapping", "version", "metadata", "state-dict", "entry", "config", "weights"],
)
def test_well_formed_files_with_wrong_content_are_value_errors(tmp_path, change, message):
    """Found by tests/test_fuzz.py: each of these raised TypeError, RuntimeError or AttributeError."""
    path = save_model(_model(), tmp_path / "m.pt")
    torch.save(change(torch.load(path, weights_only=True)), path)
    with pytest.raises(ValueError, match=message):
        load_model(path)


def test_unreadable_files_name_the_cause_in_one_line(tmp_path):
    path = tmp_path / "m.pt"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"m\.pt is not a readable irreps model file: the file is empty \(0 bytes\)$"):
        load_model(path)
    path.write_bytes(save_model(_model(), tmp_path / "whole.pt").read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match=r"is not a readable irreps model file: \S") as error:
        load_model(path)
    assert "\n" not in str(error.value)


def test_unknown_architecture_lists_known_ones(tmp_path):
    path = save_model(_model(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["model_name"] = "nonexistent"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="known models: .*tensornet"):
        load_model(path)


def test_training_distances_round_trip_and_old_files_have_none(tmp_path):
    rows = encode_shortest_distances({(8, 1): 0.94, (6, 1): 1.0})
    assert rows == [[1, 6, 1.0], [1, 8, 0.94]]
    path = save_model(_model(), tmp_path / "m.pt", metadata={"training": {"shortest_distances": rows}})
    assert shortest_distances(load_model(path)) == {(1, 6): 1.0, (1, 8): 0.94}
    assert shortest_distances(load_model(save_model(_model(), tmp_path / "old.pt"))) is None
    assert shortest_distances(_model()) is None  # built in Python: no metadata at all
    path = save_model(_model(), tmp_path / "bad.pt", metadata={"training": {"shortest_distances": [[1, "H", 1.0]]}})
    with pytest.raises(ValueError, match="shortest_distances are malformed"):
        shortest_distances(load_model(path))
