"""The weighted training loss: energy per atom, forces, stress, dipole and Hessian terms.

``hessian_eigen`` is the optional eigenvalue-aware Hessian term: each reference eigenvalue
against the predicted Hessian's curvature along the reference eigenvector (first-order
eigenvalue error, :func:`irreps.train.metrics.projected_eigenvalues`): it fits the numbers that
vibrational analysis and saddle searches read. It is a mean over 3N modes where ``hessian`` is
a mean over 9N^2 entries, so for equal emphasis its weight is about ``hessian / (3N)``.

Each term is the mean of an elementwise penalty (squared error or Huber) over its entries;
the total is the weighted sum. The energy term divides by the atom count of each structure
so that molecules and crystals of any size weigh alike and the weight means the same thing
for every dataset.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from irreps.data.graph import AtomicGraph
from irreps.train.metrics import ErrorAccumulator, projected_eigenvalues

LOSS_FIELDS = ("energy", "forces", "stress", "dipole", "hessian", "hessian_eigen")


class WeightedLoss:
    """Weighted sum of per-property penalties.

    Parameters
    ----------
    weights : dict[str, float]
        Non-zero weights by field name (a subset of :data:`LOSS_FIELDS`).
    kind : "mse" or "huber"
    huber_delta : float
        Transition point of the Huber penalty, in the units of each term.
    direct_forces : bool
        Compare the reference forces with the model's ``direct_forces`` (its
        non-conservative head, no second derivative in training) instead of ``-dE/dx``.
    """

    def __init__(
        self, weights: dict[str, float], kind: Literal["mse", "huber"] = "mse", huber_delta: float = 0.01,
        direct_forces: bool = False,
    ):
        unknown = sorted(set(weights) - set(LOSS_FIELDS))
        if unknown:
            raise ValueError(f"no loss term for {', '.join(unknown)}; known: {', '.join(LOSS_FIELDS)}")
        if kind not in ("mse", "huber"):
            raise ValueError(f"loss kind must be 'mse' or 'huber', got {kind!r}")
        self.weights = {k: float(v) for k, v in weights.items() if v > 0.0}
        if not self.weights:
            raise ValueError("every loss weight is 0: nothing to train")
        self.kind = kind
        self.huber_delta = huber_delta
        self.direct_forces = direct_forces and "forces" in self.weights

    def prediction_flags(self) -> dict[str, bool]:
        """Keyword arguments asking the model for the derivatives this loss compares.

        ``compute_hessian`` is only passed when a Hessian term is weighted, so models without
        Hessians keep the plain ``(graph, compute_forces, compute_stress)`` signature.
        """
        flags = {"compute_forces": "forces" in self.weights and not self.direct_forces,
                 "compute_stress": "stress" in self.weights}
        if self.direct_forces:
            flags["direct_forces"] = True
        if "hessian" in self.weights or "hessian_eigen" in self.weights:
            flags["compute_hessian"] = True
        return flags

    def _penalty(self, pred: Tensor, ref: Tensor, reduction: str) -> Tensor:
        if self.kind == "huber":
            return F.huber_loss(pred, ref, delta=self.huber_delta, reduction=reduction)
        return F.mse_loss(pred, ref, reduction=reduction)

    def _terms(self, pairs: dict[str, tuple[Tensor, Tensor]], reduction: str = "mean") -> dict[str, Tensor]:
        out = {}
        for name, (p, r) in pairs.items():
            if p.shape != r.shape:
                raise ValueError(f"'{name}': prediction shape {tuple(p.shape)} != reference shape {tuple(r.shape)}")
            # energies may be kept in float64 (totals of ~1e4 eV lose meV in float32)
            dtype = torch.promote_types(p.dtype, r.dtype)
            out[name] = self._penalty(p.to(dtype), r.to(dtype), reduction)
        return out

    def terms(self, pred: dict[str, Tensor], graph: AtomicGraph) -> dict[str, Tensor]:
        """Unweighted loss of each weighted property on one batch (scalars).

        ``pred`` holds the model outputs (``energy`` [G], ``forces`` [N, 3], ``stress``
        [G, 3, 3], ``dipole`` [G, 3], ``hessian`` flattened blocks); ``graph.targets`` the
        reference values under the same names.
        """
        return self._terms(self._pairs(pred, graph))

    def sums(self, pred: dict[str, Tensor], graph: AtomicGraph) -> tuple[dict[str, Tensor], dict[str, int]]:
        """Each weighted term's sum of penalties over its entries, and the number of entries.

        :meth:`terms` is their ratio; a batch spread over processes divides each process's sums
        by the counts added up over all of them (:mod:`irreps.train.distributed`).
        """
        pairs = self._pairs(pred, graph)
        return self._terms(pairs, "sum"), {name: p.numel() for name, (p, _) in pairs.items()}

    def _pairs(self, pred: dict[str, Tensor], graph: AtomicGraph) -> dict[str, tuple[Tensor, Tensor]]:
        """(prediction, reference) of each weighted term, energies per atom."""
        pairs = {}
        for name in self.weights:
            source = "hessian" if name == "hessian_eigen" else name
            if source not in graph.targets:
                raise ValueError(f"loss.{name} has a non-zero weight but the data has no '{source}' values")
            predicted = "direct_forces" if name == "forces" and self.direct_forces else source
            if predicted not in pred:
                raise ValueError(f"loss.{name} has a non-zero weight but the model does not predict '{predicted}'")
            p, r = pred[predicted], graph.targets[source]
            if name == "hessian_eigen":
                r, p = projected_eigenvalues(p, r.to(p.dtype), graph.atoms_per_graph())
            if name == "energy":
                atoms = graph.atoms_per_graph().to(p.dtype)
                p, r = p / atoms, r / atoms
            pairs[name] = (p, r)
        return pairs

    def __call__(self, pred: dict[str, Tensor], graph: AtomicGraph) -> tuple[Tensor, dict[str, Tensor]]:
        """Total loss (scalar) and the unweighted terms, on one batch."""
        terms = self.terms(pred, graph)
        return self.total(terms), terms

    def total(self, terms: dict[str, Tensor]) -> Tensor:
        """The weighted sum of ``terms`` (float64 scalar)."""
        return torch.stack([self.weights[name] * value.double() for name, value in terms.items()]).sum()

    def pooled(self, errors: ErrorAccumulator) -> tuple[float, dict[str, float]]:
        """The loss over a whole data set collected in ``errors`` (no batch averaging).

        Used for validation: the same penalty as in training, on every entry at once.
        """
        return self.pooled_from(self.pooled_sums(errors))

    def pooled_sums(self, errors: ErrorAccumulator) -> dict[str, Tensor]:
        """``[sum of penalties, entries]`` (float64, [2]) of each weighted term collected in
        ``errors``: sums over parts of a data set (the ranks' shares) add up to the whole set's."""
        pairs = {}
        for name in self.weights:
            source = "energy_per_atom" if name == "energy" else name
            if source in errors.fields():
                ref, out = errors.values(source)
                pairs[name] = (out, ref)
        penalties = self._terms(pairs, "sum")
        return {name: torch.stack([penalties[name].double(), torch.tensor(float(pairs[name][0].numel()), dtype=torch.float64)])
                for name in pairs}

    def pooled_from(self, sums: dict[str, Tensor]) -> tuple[float, dict[str, float]]:
        """The loss and its terms from :meth:`pooled_sums` (of one set, or added up over its parts)."""
        missing = [name for name in self.weights if name not in sums or float(sums[name][1]) == 0]
        if missing:
            raise ValueError(f"loss.{missing[0]} has a non-zero weight but no '{missing[0]}' values were collected")
        terms = {name: sums[name][0] / sums[name][1] for name in self.weights}
        return float(self.total(terms)), {k: float(v) for k, v in terms.items()}
