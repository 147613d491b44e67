"""Learning-curve and parity plots as PNG files (matplotlib, no display needed).

Figures are drawn on an Agg canvas directly, so nothing touches matplotlib's global backend
or pyplot state, and written atomically.
"""

from __future__ import annotations

import io
import os
from typing import Any, Sequence

from irreps.io import write_atomic
from irreps.train.metrics import ErrorAccumulator


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | os.PathLike) -> None:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    write_atomic(path, buffer.getvalue())


def plot_learning_curve(history: Sequence[dict[str, float]], path: str | os.PathLike) -> None:
    """Training and validation loss, and validation errors, against the epoch.

    ``history`` is the list of per-epoch rows the trainer logs (``epoch``, ``train_loss``,
    ``valid_loss`` and ``valid_*_rmse`` columns in eV units).
    """
    figure = _figure(10.0, 4.0)
    loss_axes, error_axes = figure.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    for key, label in (("train_loss", "train"), ("valid_loss", "validation")):
        loss_axes.plot(epochs, [row[key] for row in history], label=label)
    loss_axes.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    loss_axes.legend()
    for key, label in (("valid_energy_per_atom_rmse", "E RMSE (meV/atom)"), ("valid_forces_rmse", "F RMSE (meV/Å)")):
        if history and key in history[0]:
            error_axes.plot(epochs, [1000 * row[key] for row in history], label=label)
    error_axes.set(xlabel="epoch", ylabel="validation RMSE", yscale="log", title="validation errors (EMA weights)")
    error_axes.legend()
    _save(figure, path)


def plot_parity(errors: ErrorAccumulator, path: str | os.PathLike, title: str = "") -> None:
    """Predicted against reference energies per atom and force components."""
    panels = [(name, unit) for name, unit in (("energy_per_atom", "eV/atom"), ("forces", "eV/Å")) if name in errors.fields()]
    if not panels:
        raise ValueError("no energies or forces were collected: nothing to plot")
    figure = _figure(4.5 * len(panels), 4.3)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, unit) in zip(axes, panels):
        ref, pred = (t.reshape(-1).numpy() for t in errors.values(name))
        low, high = min(ref.min(), pred.min()), max(ref.max(), pred.max())
        ax.plot([low, high], [low, high], color="0.6", linewidth=1)
        ax.scatter(ref, pred, s=4, alpha=0.5)
        ax.set(xlabel=f"reference ({unit})", ylabel=f"predicted ({unit})", title=f"{title} {name}".strip())
    _save(figure, path)
