"""Losses and metrics against values computed by hand on a two-structure batch."""

import math

import pytest
import torch

from irreps.data.graph import AtomicGraph
from irreps.train.losses import WeightedLoss
from irreps.train.metrics import ErrorAccumulator, format_table, mae_rmse
from irreps.train.validation import validation_row, validation_sums


def _batch() -> AtomicGraph:
    # structure 0: 2 atoms (config_type "a"), structure 1: 1 atom (config_type "b")
    return AtomicGraph(
        positions=torch.zeros(3, 3, dtype=torch.float64),
        atomic_numbers=torch.tensor([1, 1, 8]),
        edge_index=torch.zeros(2, 0, dtype=torch.int64),
        shifts=torch.zeros(0, 3, dtype=torch.float64),
        batch=torch.tensor([0, 0, 1]),
        cell=torch.zeros(2, 3, 3, dtype=torch.float64),
        pbc=torch.zeros(2, 3, dtype=torch.bool),
        num_graphs=2,
        targets={
            "energy": torch.tensor([-10.0, -4.0], dtype=torch.float64),
            "forces": torch.zeros(3, 3, dtype=torch.float64),
        },
        info={"config_type": ["a", "b"]},
    )


PRED = {
    "energy": torch.tensor([-9.0, -7.0], dtype=torch.float64),  # errors +1 (2 atoms), -3 (1 atom)
    "forces": torch.tensor([[1.0, 0, 0], [0, 2.0, 0], [0, 0, -2.0]], dtype=torch.float64),
}


def test_mse_loss_by_hand():
    loss = WeightedLoss({"energy": 2.0, "forces": 0.5})
    total, terms = loss(PRED, _batch())
    energy = ((1.0 / 2) ** 2 + (-3.0 / 1) ** 2) / 2  # per-atom errors 0.5 and -3
    forces = (1 + 4 + 4) / 9
    assert terms["energy"].item() == pytest.approx(energy)
    assert terms["forces"].item() == pytest.approx(forces)
    assert total.item() == pytest.approx(2.0 * energy + 0.5 * forces)


def test_huber_loss_by_hand():
    loss = WeightedLoss({"forces": 1.0}, kind="huber", huber_delta=1.0)
    _, terms = loss(PRED, _batch())
    # huber(1) = 0.5, huber(2) = delta (|x| - delta/2) = 1.5, six zeros
    assert terms["forces"].item() == pytest.approx((0.5 + 1.5 + 1.5) / 9)


def test_pooled_loss_equals_batch_loss_on_one_batch():
    loss = WeightedLoss({"energy": 3.0, "forces": 1.0})
    errors = ErrorAccumulator()
    errors.update(PRED, _batch())
    total, terms = loss(PRED, _batch())
    pooled_total, pooled_terms = loss.pooled(errors)
    assert pooled_total == pytest.approx(total.item())
    assert pooled_terms == pytest.approx({k: v.item() for k, v in terms.items()})


def _structure(index: int) -> tuple[dict[str, torch.Tensor], AtomicGraph]:
    """Structure ``index`` of :func:`_batch` alone, with its predictions."""
    batch, atoms = _batch(), [[0, 1], [2]][index]
    graph = AtomicGraph(
        positions=batch.positions[atoms], atomic_numbers=batch.atomic_numbers[atoms], edge_index=batch.edge_index,
        shifts=batch.shifts, batch=torch.zeros(len(atoms), dtype=torch.int64), cell=batch.cell[[index]],
        pbc=batch.pbc[[index]], num_graphs=1,
        targets={"energy": batch.targets["energy"][[index]], "forces": batch.targets["forces"][atoms]},
        info={"config_type": [batch.info["config_type"][index]]},
    )
    return {"energy": PRED["energy"][[index]], "forces": PRED["forces"][atoms]}, graph


@pytest.mark.parametrize("kind", ["mse", "huber"])
def test_validation_sums_of_parts_add_up_to_the_whole_sets_row(kind):
    """A data-parallel validation: parts of unequal size (one empty) give the whole set's row, not a mean of means."""
    loss = WeightedLoss({"energy": 3.0, "forces": 1.0}, kind=kind, huber_delta=1.0)
    whole = ErrorAccumulator()
    whole.update(PRED, _batch())
    parts = [ErrorAccumulator() for _ in range(3)]
    parts[0].update(*_structure(0))
    parts[2].update(*_structure(1))  # parts[1] saw nothing
    added: dict[str, torch.Tensor] = {}
    for part in parts:
        for name, value in validation_sums(loss, part).items():
            added[name] = added[name] + value if name in added else value
    row = validation_row(loss, added)
    expected = validation_row(loss, validation_sums(loss, whole))
    assert row == pytest.approx(expected, rel=1e-15)
    assert row["valid_loss"] == pytest.approx(loss.pooled(whole)[0], rel=1e-15)
    assert row["valid_forces_mae"] == pytest.approx(5 / 9) and row["valid_energy_rmse"] == pytest.approx(math.sqrt(5))
    assert validation_sums(loss, parts[1]) == {}
    with pytest.raises(ValueError, match="no 'energy' values were collected"):
        validation_row(loss, {})


def test_joined_parts_give_the_whole_sets_metrics_per_config_type():
    """Rank 0 of a data-parallel evaluation joins the ranks' errors; each part numbered its
    config_types in its own order ("b" is code 0 of the first part, "a" code 0 of the last)."""
    parts = [ErrorAccumulator() for _ in range(3)]
    parts[0].update(*_structure(1))
    parts[0].update(*_structure(0))
    parts[2].update(*_structure(0))  # parts[1] saw nothing
    whole = ErrorAccumulator()
    for index in (1, 0, 0):
        whole.update(*_structure(index))
    result = ErrorAccumulator.joined(parts).result()
    assert result == whole.result()
    by_type = result["by_config_type"]
    assert by_type["a"]["energy"]["count"] == 2 and by_type["b"]["energy"]["count"] == 1
    assert by_type["a"]["energy"]["mae"] == pytest.approx(1.0) and by_type["b"]["energy"]["mae"] == pytest.approx(3.0)


def test_loss_errors_name_the_problem():
    with pytest.raises(ValueError, match="no loss term for polarisation"):
        WeightedLoss({"polarisation": 1.0})
    with pytest.raises(ValueError, match="every loss weight is 0"):
        WeightedLoss({"energy": 0.0})
    with pytest.raises(ValueError, match="the data has no 'stress' values"):
        WeightedLoss({"stress": 1.0})(PRED, _batch())
    batch = _batch()
    batch.targets["dipole"] = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="the model does not predict 'dipole'"):
        WeightedLoss({"dipole": 1.0})(PRED, batch)
    assert WeightedLoss({"hessian": 1.0}).prediction_flags()["compute_hessian"] is True
    with pytest.raises(ValueError, match="loss kind must be 'mse' or 'huber', got 'l1'"):
        WeightedLoss({"energy": 1.0}, kind="l1")
    wrong_shape = {**PRED, "forces": PRED["forces"][:2]}
    with pytest.raises(ValueError, match=r"'forces': prediction shape \(2, 3\) != reference shape \(3, 3\)"):
        WeightedLoss({"forces": 1.0})(wrong_shape, _batch())
    errors = ErrorAccumulator()
    errors.update(PRED, _batch())
    with pytest.raises(ValueError, match="loss.dipole has a non-zero weight but no 'dipole' values were collected"):
        WeightedLoss({"energy": 1.0, "dipole": 1.0}).pooled(errors)


def test_metrics_by_hand_and_per_config_type():
    errors = ErrorAccumulator()
    errors.update(PRED, _batch())
    result = errors.result()
    assert result["energy"]["mae"] == pytest.approx(2.0)
    assert result["energy"]["rmse"] == pytest.approx(math.sqrt(5.0))
    assert result["energy_per_atom"]["mae"] == pytest.approx(1.75)
    assert result["energy_per_atom"]["rmse"] == pytest.approx(math.sqrt((0.25 + 9) / 2))
    assert result["forces"]["mae"] == pytest.approx(5 / 9)
    assert result["forces"]["rmse"] == pytest.approx(1.0)
    a, b = result["by_config_type"]["a"], result["by_config_type"]["b"]
    assert a["energy"]["rmse"] == pytest.approx(1.0) and b["energy"]["rmse"] == pytest.approx(3.0)
    assert a["forces"]["rmse"] == pytest.approx(math.sqrt(5 / 6)) and a["forces"]["count"] == 6
    assert b["forces"]["mae"] == pytest.approx(2 / 3)
    table = format_table(result)
    assert "2000.000" in table and "a " in table.splitlines()[3]


def test_metrics_accumulate_over_batches_exactly():
    one, two = ErrorAccumulator(), ErrorAccumulator()
    one.update(PRED, _batch())
    for _ in range(2):
        two.update(PRED, _batch())
    assert one.result()["forces"]["rmse"] == pytest.approx(two.result()["forces"]["rmse"])
    assert two.result()["forces"]["count"] == 18
    assert math.isnan(mae_rmse(torch.zeros(0))["mae"])
    with pytest.raises(KeyError, match="stress"):
        one.values("stress")
