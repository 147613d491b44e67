"""An epoch's validation row from sums that add up over the parts of the validation set.

In a data-parallel run each rank validates only its share of every validation batch
(``data.valid_batch_size`` is shared out over the ranks like ``data.batch_size``). Averaging
the ranks' means would weigh a short share like a full one (the shares of a last batch can
differ, or be empty), so each rank keeps sums instead: every loss term's penalties and
entries, every field's sum of |error|, of error^2 and its entries. Added up over the ranks
(:meth:`irreps.train.distributed.World.add_up`) and divided once, they give every rank the
row one process computes over the whole set, to rounding.
"""

from __future__ import annotations

from torch import Tensor

from irreps.train.losses import WeightedLoss
from irreps.train.metrics import ErrorAccumulator, mae_rmse_of

_LOSS, _ERROR = "loss:", "error:"


def validation_sums(loss: WeightedLoss, errors: ErrorAccumulator) -> dict[str, Tensor]:
    """The sums behind the row of ``errors`` (one part of the validation set, or all of it)."""
    return {
        **{_LOSS + name: value for name, value in loss.pooled_sums(errors).items()},
        **{_ERROR + name: value for name, value in errors.moments().items()},
    }


def validation_row(loss: WeightedLoss, sums: dict[str, Tensor]) -> dict[str, float]:
    """``valid_loss``, each term ``valid_<term>`` and ``valid_<field>_mae`` / ``_rmse`` (eV units)
    from :func:`validation_sums` (added up over the parts)."""
    total, terms = loss.pooled_from({k.removeprefix(_LOSS): v for k, v in sums.items() if k.startswith(_LOSS)})
    row = {"valid_loss": total, **{f"valid_{name}": value for name, value in terms.items()}}
    for key, moments in sums.items():
        if key.startswith(_ERROR):
            name, values = key.removeprefix(_ERROR), mae_rmse_of(moments)
            row[f"valid_{name}_mae"], row[f"valid_{name}_rmse"] = values["mae"], values["rmse"]
    return row
