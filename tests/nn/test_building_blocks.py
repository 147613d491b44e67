"""nn building blocks: element lookup, readout, edge pairing, autograd derivatives."""

import pytest
import torch

from irreps.nn import (
    MLP, AtomicEnergyReadout, ElementIndex, activation_module, forces_and_stress, neighbour_occupancy, strained_inputs,
)
from irreps.nn.edges import pair_reverse_edges


def test_element_index_maps_and_names_unknown_elements():
    index = ElementIndex((8, 1, 6))
    torch.testing.assert_close(index(torch.tensor([1, 6, 8, 1])), torch.tensor([1, 2, 0, 1]))
    with pytest.raises(ValueError, match=r"\[7, 200\]"):
        index(torch.tensor([1, 7, 200]))
    for bad in ((), (1, 1), (0,), (119,)):
        with pytest.raises(ValueError):
            ElementIndex(bad)


def test_readout_applies_e0_scale_shift():
    readout = AtomicEnergyReadout(2, e0s=(-1.5, -10.0), scale=2.0, shift=0.25)
    out = readout(torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64), torch.tensor([0, 1, 1]))
    torch.testing.assert_close(out, torch.tensor([0.75, -9.75, -11.75], dtype=torch.float64))
    with pytest.raises(ValueError, match="e0s"):
        AtomicEnergyReadout(3, e0s=(1.0,))


def test_neighbour_occupancy_weights_the_shift():
    """w_i = 1 - prod_j (1 - f_ij): 0 without neighbours, 1 - (1 - 0.5)(1 - 0.5) for two halves."""
    cutoff_values = torch.tensor([0.5, 0.5, 0.2, 0.0], dtype=torch.float64)
    occupancy = neighbour_occupancy(cutoff_values, torch.tensor([0, 0, 1, 2]), 4)
    torch.testing.assert_close(occupancy, torch.tensor([0.75, 0.2, 0.0, 0.0], dtype=torch.float64))
    readout = AtomicEnergyReadout(1, e0s=(-100.0,), scale=1.0, shift=-4.0)
    out = readout(torch.zeros(4, dtype=torch.float32), torch.zeros(4, dtype=torch.long), occupancy.float())
    torch.testing.assert_close(out, torch.tensor([-103.0, -100.8, -100.0, -100.0], dtype=torch.float64))


def test_mlp_layers_and_activation_names():
    mlp = MLP((4, 8, 2), "tanh")
    assert [type(m).__name__ for m in mlp] == ["Linear", "Tanh", "Linear"]
    assert type(MLP((4, 2), activate_last=True)[-1]).__name__ == "SiLU"
    with pytest.raises(ValueError, match="swish"):
        activation_module("swish")


def test_edge_pairing_finds_reverse_edges_with_periodic_images():
    edge_index = torch.tensor([[0, 1, 0, 0, 2, 1], [1, 0, 0, 0, 1, 2]])
    shifts = torch.tensor([[0, 0, 0], [0, 0, 0], [3.0, 0, 0], [-3.0, 0, 0], [0, 0, 1.5], [0, 0, -1.5]])
    pairing = pair_reverse_edges(edge_index, shifts)
    assert len(pairing.canonical) == 3
    # each edge and its reverse map to the same canonical row
    for a, b in ((0, 1), (2, 3), (4, 5)):
        assert pairing.expand[a] == pairing.expand[b]
    assert len(set(pairing.expand.tolist())) == 3
    assert pair_reverse_edges(edge_index[:, :5], shifts[:5]) is None  # a half list: no pairing


def test_stress_of_a_homogeneous_energy_is_its_strain_derivative():
    # E = k * V for a cell: dE/d eps_ab = k V delta_ab, so stress = k * identity.
    cell = torch.tensor([[[3.0, 0.2, 0.0], [0.0, 2.5, 0.1], [0.3, 0.0, 4.0]]], dtype=torch.float64)
    positions = torch.randn(4, 3, dtype=torch.float64)
    batch = torch.zeros(4, dtype=torch.long)
    shifts = cell[0, :2].clone()
    pos, sh, leaf, strain = strained_inputs(positions, shifts, batch, torch.tensor([0, 1]), 1, True, True)
    strained_cell = cell + cell @ (0.5 * (strain + strain.transpose(1, 2)))
    energy = 0.7 * torch.linalg.det(strained_cell) + 0 * pos.sum() + 0 * sh.sum()
    out = forces_and_stress(energy, leaf, strain, cell, create_graph=False)
    torch.testing.assert_close(out["stress"][0], 0.7 * torch.eye(3, dtype=torch.float64))
    assert torch.all(out["forces"] == 0)
    with pytest.raises(ValueError, match="cell"):
        forces_and_stress(energy.detach().requires_grad_(), None, strain.detach().requires_grad_(),
                          torch.zeros(1, 3, 3, dtype=torch.float64), False)
