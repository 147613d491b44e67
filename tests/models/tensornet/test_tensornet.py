"""TensorNet specifics: parameter count, config validation, SO(3) vs O(3), features, pairing."""

import ase
import pytest
import torch

import irreps.models.tensornet.model as tensornet
from irreps.data import atoms_to_graph
from irreps.models import build_model
from irreps.models.tensornet import TensorNetConfig

# TorchMD-Net 3.1 TensorNet + Scalar head, 128 channels, 2 layers, 32 rbf, max_z = 128:
# 769921 parameters (counted in its own virtualenv); its element table has 128 rows, ours one
# row per element, so the counts differ by (128 - K) * 128.
TORCHMD_NET_PARAMETERS_MAX_Z_128 = 769921


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_matches_torchmd_net_layout():
    model = build_model("tensornet", {"elements": [1, 6, 7, 8]})
    assert _count(model) == TORCHMD_NET_PARAMETERS_MAX_Z_128 - (128 - 4) * 128


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"elements": []}, "at least one"),
        ({"elements": [1, 1]}, "duplicates"),
        ({"e0s": [1.0]}, "e0s"),
        ({"hidden_dim": 0}, "hidden_dim"),
        ({"cutoff": 0.0}, "cutoff"),
        ({"equivariance": "SE(3)"}, "SE"),
        ({"activation": "swish"}, "swish"),
        ({"num_layer": 2}, "num_layers"),
    ],
)
def test_config_errors_name_the_problem(changes, message):
    with pytest.raises(ValueError, match=message):
        build_model("tensornet", {"elements": [1, 6], **changes})


def _chiral():
    return ase.Atoms("CHOH", positions=[[0, 0, 0], [1.1, 0, 0], [-0.3, 1.2, 0.1], [0.1, -0.4, 1.0]])


def _model(**kw):
    torch.manual_seed(1)
    model = build_model("tensornet", dict(elements=[1, 6, 8], hidden_dim=8, num_rbf=6, cutoff=3.0, **kw))
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def test_so3_model_tells_mirror_images_apart_and_o3_does_not():
    atoms = _chiral()
    mirror = atoms.copy()
    mirror.positions[:, 0] *= -1
    graphs = [atoms_to_graph(a, 4.0, keys=None, dtype=torch.float64) for a in (atoms, mirror)]
    o3 = [_model()(g)["energy"].item() for g in graphs]
    so3_model = _model(equivariance="SO(3)")
    so3 = [so3_model(g)["energy"].item() for g in graphs]
    assert o3[0] == pytest.approx(o3[1], abs=1e-12)
    assert abs(so3[0] - so3[1]) > 1e-9  # far above float64 round-off (~1e-17 here)
    rotated = atoms.copy()
    rotated.rotate(73, (1, 2, 3))
    assert so3_model(atoms_to_graph(rotated, 4.0, keys=None, dtype=torch.float64))["energy"].item() == pytest.approx(
        so3[0], abs=1e-10
    )


def test_features_are_the_decomposed_final_tensors():
    model = _model()
    graph = atoms_to_graph(_chiral(), 4.0, keys=None, dtype=torch.float64)
    out = model(graph, compute_forces=False, return_features=True)
    i, a, s = out["node_I"], out["node_A"], out["node_S"]
    assert i.shape == a.shape == s.shape == (4, 8, 3, 3) and out["node_scalars"].shape == (4, 8)
    torch.testing.assert_close(a, -a.transpose(-1, -2))
    torch.testing.assert_close(s, s.transpose(-1, -2))
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(i, i.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None] * eye)


def test_reverse_edge_pairing_does_not_change_predictions(monkeypatch):
    model = _model()
    atoms = ase.Atoms("CHO", positions=[[0, 0, 0], [1.0, 0.2, 0], [0, 1.3, 0.4]], cell=[3.2, 3.4, 3.6], pbc=True)
    graph = atoms_to_graph(atoms, 4.0, keys=None, dtype=torch.float64)
    paired = model(graph, compute_stress=True)
    monkeypatch.setattr(tensornet, "pair_reverse_edges", lambda *args: None)
    unpaired = model(graph, compute_stress=True)
    for key in ("energy", "forces", "stress"):
        torch.testing.assert_close(paired[key], unpaired[key], atol=1e-12, rtol=0)


def test_defaults_are_the_paper_hyperparameters():
    config = TensorNetConfig(elements=(1,))
    assert (config.hidden_dim, config.num_layers, config.num_rbf, config.cutoff) == (128, 2, 32, 5.0)
    assert config.equivariance == "O(3)" and config.activation == "silu"


def test_same_weights_give_torchmd_net_forces():
    """Independent reference: TorchMD-Net 3.1's own predictions (tests/models/data, see its script)."""
    from pathlib import Path

    from irreps.models.tensornet import load_torchmd_net_state_dict

    ref = torch.load(Path(__file__).with_name("data") / "tmdnet_reference.pt", weights_only=True)
    hyper = ref["hyper"]
    model = build_model("tensornet", dict(
        elements=[1, 6, 8], hidden_dim=hyper["embedding_dimension"], num_layers=hyper["num_layers"],
        num_rbf=hyper["num_rbf"], cutoff=hyper["cutoff_upper"],
    )).double().eval()
    load_torchmd_net_state_dict(model, ref["state"])
    energies = []
    for positions, forces in zip(ref["positions"], ref["forces"]):
        atoms = ase.Atoms(numbers=ref["atomic_numbers"].numpy(), positions=positions.detach().numpy())
        out = model(atoms_to_graph(atoms, hyper["cutoff_upper"], keys=None, dtype=torch.float64))
        # TorchMD-Net builds its radial-basis constants in float32: agreement to ~1e-7 relative.
        torch.testing.assert_close(out["forces"], forces, atol=1e-6, rtol=1e-6)
        energies.append(out["energy"][0])
    expected = ref["energies"][0] - ref["energies"][1]
    assert (energies[0] - energies[1]).item() == pytest.approx(expected.item(), abs=1e-6)


def test_porting_rejects_mismatched_sizes():
    from pathlib import Path

    from irreps.models.tensornet import load_torchmd_net_state_dict

    ref = torch.load(Path(__file__).with_name("data") / "tmdnet_reference.pt", weights_only=True)
    with pytest.raises(ValueError, match="shape"):
        load_torchmd_net_state_dict(build_model("tensornet", dict(elements=[1, 6, 8], hidden_dim=16, num_rbf=6)), ref["state"])


def test_shift_with_neighbours_keeps_the_shift_from_lone_atoms_only():
    """Off (files written before the option): every atom gets the shift. On: a lone atom
    gets none, and atoms with close neighbours nearly all of it."""
    options = dict(elements=[1, 8], hidden_dim=8, num_layers=1, num_rbf=8, cutoff=4.0, e0s=[-13.0, -2040.0], shift=-3.0)
    torch.manual_seed(0)
    plain = build_model("tensornet", options).double()
    weighted = build_model("tensornet", {**options, "shift_with_neighbours": True}).double()
    weighted.load_state_dict(plain.state_dict())
    energy = {}
    for name, atoms in {"lone": ase.Atoms("O"), "water": ase.Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])}.items():
        graph = atoms_to_graph(atoms, 4.0, keys=None, dtype=torch.float64)
        energy[name] = [model(graph, compute_forces=False)["energy"].item() for model in (plain, weighted)]
    assert energy["lone"] == pytest.approx([-2043.0, -2040.0], abs=1e-10)
    assert abs(energy["water"][1] - energy["water"][0]) < 0.15 * 3 * 3.0  # occupancy > 0.85 each
