"""The training domain recorded in model files and the extrapolation signal built on it."""

from __future__ import annotations

import ase
import numpy as np
import pytest
import torch

from irreps.calculators import IrrepsCalculator
from irreps.data import atoms_to_graph
from irreps.models import build_model, save_model
from irreps.models.domain import domain_distance_ratio, encode_shortest_distances
from irreps.sim.md import MDConfig, run_md
from irreps.train.evaluation import outside_domain

DOMAIN = {(1, 6): 1.0, (6, 8): 1.2, (1, 8): 0.9}  # no H-H, C-C or O-O pairs in "training"


def test_ratio_is_the_closest_pair_relative_to_its_training_minimum_and_unseen_pairs_count():
    numbers = torch.tensor([6, 8, 1, 1])
    edge_index = torch.tensor([[0, 0, 2], [1, 2, 3]])
    lengths = torch.tensor([1.8, 0.5, 1.5])  # C-O 1.5x, C-H 0.5x, H-H unseen
    ratio, unseen = domain_distance_ratio(DOMAIN, numbers, edge_index, lengths)
    assert ratio == pytest.approx(0.5) and unseen == 1
    assert domain_distance_ratio(DOMAIN, numbers, edge_index[:, 2:], lengths[2:]) == (float("inf"), 1)


def _model_file(tmp_path):
    torch.manual_seed(0)
    model = build_model("tensornet", {"elements": [1, 6, 8], "hidden_dim": 4, "num_layers": 1, "num_rbf": 4, "cutoff": 3.0})
    metadata = {"training": {"shortest_distances": encode_shortest_distances(DOMAIN)}}
    return save_model(model, tmp_path / "model.pt", metadata=metadata)


def test_calculator_and_md_log_report_leaving_the_training_domain(tmp_path):
    path = _model_file(tmp_path)
    atoms = ase.Atoms("CO", positions=[[0, 0, 0], [1.44, 0, 0]])
    atoms.calc = IrrepsCalculator(path, dtype="float64")
    atoms.get_potential_energy()
    assert atoms.calc.results["domain_distance_ratio"] == pytest.approx(1.2) and atoms.calc.results["unseen_pairs"] == 0
    atoms.positions[1, 0] = 0.6
    atoms.get_potential_energy()
    assert atoms.calc.results["domain_distance_ratio"] == pytest.approx(0.5)
    run_md(ase.Atoms("CO", positions=[[0, 0, 0], [1.44, 0, 0]]), IrrepsCalculator(path, dtype="float64"),
           MDConfig(steps=3, traj_every=1), tmp_path / "t.extxyz", tmp_path / "log.csv", progress=False)
    header = (tmp_path / "log.csv").read_text().splitlines()[0].split(",")
    assert header[-2:] == ["domain_distance_ratio", "unseen_pairs"]


def test_evaluation_lists_the_frames_outside_the_domain():
    frames = [ase.Atoms("CO", positions=[[0, 0, 0], [d, 0, 0]]) for d in (1.5, 0.8, 2.0)]
    frames.append(ase.Atoms("OO", positions=[[0, 0, 0], [1.5, 0, 0]]))
    graphs = [atoms_to_graph(a, 3.0, keys=None, dtype=torch.float64) for a in frames]
    result = outside_domain(graphs, DOMAIN, 3.0)
    assert [f["frame"] for f in result["frames"]] == [1, 3] and result["count"] == 2
    assert result["closest_distance_ratio"] == pytest.approx(0.8 / 1.2)
    assert np.isinf(outside_domain(graphs[:1], {}, 3.0)["closest_distance_ratio"])
