"""Error metrics of predictions against reference data: MAE and RMSE, overall and per config_type.

Errors are collected batch by batch (:class:`ErrorAccumulator`) and reduced once at the end,
so the numbers are exact over the whole set, not averages of batch averages. Values are in the
library's units (eV, eV/Å, eV/Å^3, e·Å); :func:`format_table` prints them in meV.

Keys of the result: ``energy`` (total energy per structure), ``energy_per_atom``, ``forces``
(every Cartesian component of every atom), and ``stress`` / ``dipole`` / ``hessian`` (every
entry) when both the model and the data have them; each maps to ``{"mae": ..., "rmse": ..., "count": ...}``.
With Hessians, ``hessian_eigen`` compares each reference eigenvalue with the curvature of the
predicted Hessian along the reference eigenvector (:func:`projected_eigenvalues`).
``by_config_type`` repeats them per ``config_type`` of the structures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from irreps.data.batch import split_hessian
from irreps.data.graph import AtomicGraph

DEFAULT_CONFIG_TYPE = "default"


def error_moments(error: Tensor) -> Tensor:
    """``[sum |e|, sum e^2, count]`` of the entries of ``error`` (float64, [3]): sums, so that the
    moments of the parts of a data set (a data-parallel run's ranks) add up to the whole set's."""
    error = error.reshape(-1).to(torch.float64)
    return torch.stack([error.abs().sum(), error.square().sum(), torch.tensor(float(error.numel()), dtype=torch.float64)])


def mae_rmse_of(moments: Tensor) -> dict[str, float]:
    """Mean absolute and root-mean-square error from :func:`error_moments` (added up over parts)."""
    abs_sum, square_sum, count = (float(v) for v in moments)
    if count == 0:
        return {"mae": float("nan"), "rmse": float("nan"), "count": 0}
    return {"mae": abs_sum / count, "rmse": math.sqrt(square_sum / count), "count": int(count)}


def mae_rmse(error: Tensor) -> dict[str, float]:
    """Mean absolute and root-mean-square value of the entries of ``error``."""
    return mae_rmse_of(error_moments(error))


def projected_eigenvalues(predicted: Tensor, reference: Tensor, atoms_per_graph: Tensor) -> tuple[Tensor, Tensor]:
    """Reference Hessian eigenvalues and the predicted Hessian's curvature along their eigenvectors.

    For each structure, with ``reference = V diag(lam) V^T``, returns ``lam`` and
    ``diag(V^T predicted V)``. Their difference is the first-order error of every eigenvalue
    (and so of the harmonic frequencies), without differentiating an eigendecomposition of
    the prediction: gradients flow through the projection only, and stay finite when
    eigenvalues are degenerate.

    Parameters
    ----------
    predicted, reference : Tensor [sum_b 9 N_b^2]
        Flattened per-structure Hessians, as in ``AtomicGraph.targets["hessian"]``.
    atoms_per_graph : Tensor [num_graphs]

    Returns
    -------
    (Tensor [sum_b 3 N_b], Tensor [sum_b 3 N_b])
        Reference eigenvalues (ascending per structure) and the projected predictions.
    """
    lams, projected = [], []
    for h_pred, h_ref in zip(split_hessian(predicted, atoms_per_graph), split_hessian(reference, atoms_per_graph)):
        lam, vectors = torch.linalg.eigh(0.5 * (h_ref + h_ref.T).detach())
        lams.append(lam)
        projected.append(torch.einsum("ik,ij,jk->k", vectors, h_pred, vectors))
    return torch.cat(lams), torch.cat(projected)


class ErrorAccumulator:
    """Collects reference and predicted values over batches; :meth:`result` reduces them."""

    def __init__(self) -> None:
        # field -> list of (reference, prediction) per batch, [items, ...] float64 on CPU
        self._pairs: dict[str, list[tuple[Tensor, Tensor]]] = defaultdict(list)
        # field -> list of config_type codes per batch, [items] (structures, atoms or entries)
        self._codes: dict[str, list[Tensor]] = defaultdict(list)
        self._labels: dict[str, int] = {}  # config_type -> code

    def update(self, pred: dict[str, Tensor], graph: AtomicGraph) -> None:
        """Add one batch: ``pred`` as returned by a model, references from ``graph.targets``."""
        types = graph.info.get("config_type", [None] * graph.num_graphs)
        labels = [DEFAULT_CONFIG_TYPE if t is None else str(t) for t in types]
        codes = torch.tensor([self._labels.setdefault(t, len(self._labels)) for t in labels], dtype=torch.int64)
        atoms = graph.atoms_per_graph().cpu()
        for name in ("energy", "forces", "stress", "dipole", "hessian"):
            if name not in pred or name not in graph.targets:
                continue
            ref = graph.targets[name].detach().to(device="cpu", dtype=torch.float64)
            out = pred[name].detach().to(device="cpu", dtype=torch.float64)
            if name == "forces":
                self._add(name, ref, out, codes[graph.batch.cpu()])
            elif name == "hessian":  # one code per entry of each structure's (3N x 3N) block
                self._add(name, ref, out, torch.repeat_interleave(codes, 9 * atoms**2))
                self._add("hessian_eigen", *projected_eigenvalues(out, ref, atoms), torch.repeat_interleave(codes, 3 * atoms))
            else:
                self._add(name, ref.reshape(graph.num_graphs, -1), out.reshape(graph.num_graphs, -1), codes)
            if name == "energy":
                self._add("energy_per_atom", ref / atoms, out / atoms, codes)

    def _add(self, name: str, ref: Tensor, out: Tensor, codes: Tensor) -> None:
        self._pairs[name].append((ref, out))
        self._codes[name].append(codes)

    @classmethod
    def joined(cls, parts: Sequence["ErrorAccumulator"]) -> "ErrorAccumulator":
        """One accumulator holding the values of ``parts`` in turn (a data-parallel run's ranks'
        shares of a data set), their config_type codes renumbered to the joined labels."""
        joined = cls()
        for part in parts:
            # part._labels lists its labels in the order of their codes 0, 1, ...
            recode = torch.tensor([joined._labels.setdefault(label, len(joined._labels)) for label in part._labels],
                                  dtype=torch.int64)
            for name, pairs in part._pairs.items():
                for (ref, out), codes in zip(pairs, part._codes[name]):
                    joined._add(name, ref, out, recode[codes])
        return joined

    def values(self, name: str) -> tuple[Tensor, Tensor]:
        """All (reference, prediction) values of ``name`` collected so far, [items, ...]."""
        if name not in self._pairs:
            raise KeyError(f"no '{name}' values were collected")
        refs, outs = zip(*self._pairs[name])
        return torch.cat(refs), torch.cat(outs)

    def fields(self) -> list[str]:
        return list(self._pairs)

    def moments(self) -> dict[str, Tensor]:
        """:func:`error_moments` of every collected field, overall (no per-config_type split)."""
        moments = {}
        for name in self._pairs:
            ref, out = self.values(name)
            moments[name] = error_moments(out - ref)
        return moments

    def result(self) -> dict[str, Any]:
        """MAE and RMSE of every collected field, overall and per config_type."""
        overall: dict[str, Any] = {}
        by_type: dict[str, dict[str, Any]] = defaultdict(dict)
        for name in self._pairs:
            ref, out = self.values(name)
            error = out - ref
            overall[name] = mae_rmse(error)
            codes = torch.cat(self._codes[name])
            for label, code in sorted(self._labels.items()):
                mask = codes == code
                if bool(mask.any()):
                    by_type[label][name] = mae_rmse(error[mask])
        overall["by_config_type"] = dict(by_type)
        return overall


_TABLE_COLUMNS = (
    ("energy_per_atom", "E/atom", "meV/atom"),
    ("energy", "E", "meV"),
    ("forces", "F", "meV/Å"),
    ("stress", "S", "meV/Å³"),
    ("dipole", "mu", "me·Å"),
    ("hessian", "H", "meV/Å²"),
    ("hessian_eigen", "H eig", "meV/Å²"),
)


def format_table(metrics: dict[str, Any]) -> str:
    """Readable table of MAE / RMSE in meV units, one row overall and one per config_type."""
    columns = [c for c in _TABLE_COLUMNS if c[0] in metrics]
    header = ["set", "N"] + [f"{label} {stat} ({unit})" for _, label, unit in columns for stat in ("MAE", "RMSE")]
    rows = [("all", metrics)]
    by_type = metrics.get("by_config_type", {})
    if len(by_type) > 1:
        rows += sorted(by_type.items())
    lines = []
    for label, values in rows:
        count = values.get("energy", {}).get("count", "")
        cells = [str(label), str(count)]
        for name, _, _ in columns:
            entry = values.get(name)
            cells += [f"{1000 * entry[s]:.3f}" if entry else "-" for s in ("mae", "rmse")]
        lines.append(cells)
    widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        # first column left-aligned (labels), numbers right-aligned
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in lines])
