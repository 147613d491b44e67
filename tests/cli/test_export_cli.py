"""``irreps export``: writes a loadable artefact from a model file, refuses bad requests in one line."""

import pytest
import torch

from irreps.cli.main import main
from irreps.models import build_model, save_model


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    model = build_model("tensornet", {"elements": [1, 8], "hidden_dim": 8, "num_layers": 1, "num_rbf": 4, "cutoff": 4.0})
    return save_model(model, tmp_path / "model.pt")


def test_torchscript_export_loads_with_its_declarations(model_file, tmp_path, capsys):
    out = tmp_path / "deploy" / "model_ts.pt"
    assert main(["export", str(model_file), "-o", str(out), "--format", "torchscript", "--dtype", "float64"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "interaction range 8.0 Å" in printed
    module = torch.jit.load(str(out))
    assert module.elements == [1, 8] and module.cutoff == 4.0 and module.dtype == "float64"
    water = torch.tensor([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]], dtype=torch.float64)
    edges = torch.tensor([[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]])
    result = module(water, torch.tensor([8, 1, 1]), torch.zeros(3, 3, dtype=torch.float64),
                    torch.zeros(3, dtype=torch.bool), edges, torch.zeros(6, 3, dtype=torch.long))
    assert result["forces"].shape == (3, 3) and torch.isfinite(result["energy"])


def test_existing_output_and_missing_model_are_errors(model_file, tmp_path, capsys):
    out = tmp_path / "exists.pt"
    out.write_text("keep me")
    assert main(["export", str(model_file), "-o", str(out), "--format", "torchscript"]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == "keep me"
    assert main(["export", str(tmp_path / "none.pt"), "-o", str(tmp_path / "x.pt"), "--format", "torchscript"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_model_that_cannot_be_exported_says_why(tmp_path, capsys):
    path = save_model(build_model("double_well_surface", {"elements": [1]}), tmp_path / "well.pt")
    assert main(["export", str(path), "-o", str(tmp_path / "x.pt"), "--format", "torchscript"]) == 2
    assert "depends on more than the edge vectors" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_help_names_the_formats(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    out = capsys.readouterr().out
    for name in ("metatomic", "torchscript", "aotinductor", "interaction range"):
        assert name in out
