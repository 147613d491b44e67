"""The comparison table (Markdown) and figures from the result records.

Per dataset and budget: one row per system and recipe size (mean over seeds), the test-set
force and energy errors, epochs done, CPU seconds per epoch, parameters, inference µs/atom and
peak memory; the best value of each column is marked, and so is a row of ours made at a commit
whose code for that system has changed since (the next ``compare run`` redoes it). For the models with l_max sizes
(EquiformerV2, eSCN), a table of how force error and cost change with l_max. Figures:
validation force RMSE against CPU minutes (learning curves) and test force RMSE against
µs/atom (the accuracy-speed front).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from .datasets import DATASETS
from . import results
from .results import is_ours, job_key, latest, load_records
from .timing import load_timings

# (header, path into the record, format); lower is better for all
COLUMNS = [("F RMSE", ("f_rmse",), "{:.2f}"), ("F MAE", ("f_mae",), "{:.2f}"), ("E RMSE", ("e_rmse",), "{:.2f}"),
           ("E MAE", ("e_mae",), "{:.2f}")]


def _rows(records: list[dict], minutes: float, quiet: dict[tuple, dict]) -> dict[tuple[str, str], list[dict]]:
    """Records at one budget by (system, size); a quiet re-timing (``quiet``, by job key)
    replaces the in-run timing when it was made after the record, i.e. timed that record's model
    and not an earlier run's of the same job."""
    rows: dict[tuple[str, str], list[dict]] = {}
    for record in latest(records):
        if float(record["minutes"]) == float(minutes):
            timing = quiet.get(job_key(record))
            if timing is not None and timing.get("date", "") >= record.get("date", ""):
                record = dict(record, timing=dict(record["timing"], **timing, quiet=True))
            rows.setdefault((record["system"], record["size"]), []).append(record)
    return rows


def epoch_seconds(record: dict) -> float | None:
    """Median CPU seconds of an epoch from the record's learning curve (validation included),
    leaving out the first, which carries start-up and any compile; None below three epochs."""
    seconds = [p["cpu_s"] for p in record.get("curve") or [] if p.get("cpu_s") is not None]
    if len(seconds) < 3:
        return None
    return statistics.median(b - a for a, b in zip(seconds[1:], seconds[2:]))


def _ordered_tests(dataset: str, recorded: dict) -> list[str]:
    """The recorded test sets, those of the dataset's spec first in its order (the in-distribution
    test before 3BPA's extrapolation set)."""
    spec = [t for t in (DATASETS[dataset].tests if dataset in DATASETS else ()) if t in recorded]
    return spec + [t for t in recorded if t not in spec]


def _mean(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def table(dataset: str, minutes: float, records: list[dict], quiet: dict[tuple, dict] | None = None) -> str:
    """Markdown table of one dataset at one budget (test errors in meV and meV/Å)."""
    rows = _rows(records, minutes, quiet or {})
    if not rows:
        return f"(no records for {dataset} at {minutes:g} CPU minutes)\n"
    tests = _ordered_tests(dataset, next(iter(rows.values()))[0]["tests"])
    cells: dict[tuple[str, str], dict[str, float | None]] = {}
    for key, group in rows.items():
        cell = {}
        for test in tests:
            for header, (field,), _ in COLUMNS:
                cell[f"{test} {header}"] = _mean([r["tests"].get(test, {}).get(field) for r in group])
        cell["epochs"] = _mean([r["epochs"] for r in group])
        cell["s/epoch"] = _mean([epoch_seconds(r) for r in group])
        cell["params"] = _mean([r["params"] for r in group])
        cell["µs/atom"] = _mean([r["timing"]["us_per_atom"] for r in group])
        cell["peak MB"] = _mean([r["timing"]["peak_mb"] for r in group])
        cells[key] = cell
    judged = [f"{test} {h}" for test in tests for h, _, _ in COLUMNS] + ["µs/atom", "peak MB"]
    best = {c: min((v[c] for v in cells.values() if v[c] is not None), default=None) for c in judged}
    headers = ["system", "recipe", "seeds", *judged[:-2], "epochs", "s/epoch", "params", "µs/atom", "peak MB"]
    outdated = {key for key, group in rows.items()
                if any(is_ours(r["system"]) and results.ours_changed_since(r["commit"], r["system"]) for r in group)}
    lines = [f"**{dataset}**, {minutes:g} CPU minutes per system (test errors: energy meV, forces meV/Å)", "",
             "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for (system, size), cell in sorted(cells.items(), key=lambda kv: kv[1][f"{tests[0]} F RMSE"] or 1e9):
        row = [system + (" †" if (system, size) in outdated else ""), size, str(len(rows[(system, size)]))]
        for column in headers[3:]:
            value = cell[column]
            if value is None:
                row.append("n/a")
                continue
            text = f"{value:,.0f}" if column in ("params", "epochs", "µs/atom", "peak MB") else f"{value:.2f}"
            text = f"{value:.1f}" if column == "s/epoch" else text
            if column in ("µs/atom", "peak MB") and not all(r["timing"].get("quiet") for r in rows[(system, size)]):
                text += "*"  # timed during the run
            row.append(f"**{text}**" if column in best and value == best[column] else text)
        lines.append("| " + " | ".join(row) + " |")
    versions = sorted({f"{r['system']} {r['version']}" for g in rows.values() for r in g})
    commits = sorted({r["commit"] for g in rows.values() for r in g if is_ours(r["system"])})
    machines = sorted({r["machine"] for g in rows.values() for r in g})
    in_run = any(not r["timing"].get("quiet") for g in rows.values() for r in g)
    lines += ["", f"versions: {', '.join(versions)}; irreps commit(s): {', '.join(commits) or 'n/a'}; "
                  f"machine: {'; '.join(machines)}. µs/atom: E+F of one structure, float32, one thread, "
                  "re-timed serially (`compare time`); s/epoch: median CPU seconds of an epoch after the first, "
                  "validation included"
                  + ("; * timed during the run, with other jobs on the machine (`compare time` re-times "
                     "quietly)" if in_run else "")
                  + ("; † made at an earlier commit of ours, whose code for this system has changed since "
                     "(the next `compare run` redoes it)" if outdated else "") + ". Bold: best in the column."]
    return "\n".join(lines) + "\n"


def figures(dataset: str, minutes: float, records: list[dict], out_dir: Path,
            quiet: dict[tuple, dict] | None = None) -> list[Path]:
    """Learning curves and the accuracy-speed front of one dataset, as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _rows(records, minutes, quiet or {})
    if not rows:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for (system, size), group in sorted(rows.items()):
        record = group[0]  # the first seed's curve
        points = [(p["cpu_s"] / 60, p.get("valid_f_rmse")) for p in record["curve"] if p.get("valid_f_rmse")]
        if points:
            ax.plot(*zip(*points), label=f"{system} {size}", lw=1.2, marker=".", ms=4)
    ax.set(xlabel="CPU minutes (one thread)", ylabel="validation force RMSE (meV/Å)", yscale="log",
           title=f"{dataset}: learning curves at {minutes:g} CPU minutes")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    paths.append(out_dir / f"compare_{dataset}_{minutes:g}min_curves.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for (system, size), group in sorted(rows.items()):
        test = next(iter(group[0]["tests"]))
        x = _mean([r["timing"]["us_per_atom"] for r in group])
        y = _mean([r["tests"][test]["f_rmse"] for r in group])
        ax.scatter([x], [y], s=30)
        ax.annotate(f"{system} {size}", (x, y), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set(xlabel="E+F inference, µs per atom (float32, one thread)", ylabel="test force RMSE (meV/Å)",
           xscale="log", yscale="log", title=f"{dataset}: accuracy against speed at {minutes:g} CPU minutes")
    ax.grid(alpha=0.3, which="both")
    paths.append(out_dir / f"compare_{dataset}_{minutes:g}min_front.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


LMAX_SIZES = {"lmax2": 2, "recommended": 4, "lmax6": 6}  # of the systems in LMAX_SYSTEMS
LMAX_SYSTEMS = ("irreps-escn", "irreps-equiformer_v2")


def lmax_table(records: dict[str, list[dict]], minutes: float) -> str:
    """How force error and training cost change with l_max (EquiformerV2 and eSCN), every
    dataset in ``records`` (dataset -> its records) at one budget; empty unless some model has
    runs at two l_max or more there (one l_max says nothing about l_max).
    ms/step: an epoch's median CPU time over its training steps (validation included)."""
    from .systems import get_system

    by_dataset = {dataset: _rows(recs, minutes, {}) for dataset, recs in records.items()}
    if all(sum((system, size) in rows for size in LMAX_SIZES) < 2
           for rows in by_dataset.values() for system in LMAX_SYSTEMS):
        return ""
    lines = []
    for dataset, rows in by_dataset.items():
        for system in LMAX_SYSTEMS:
            for size, lmax in LMAX_SIZES.items():
                group = rows.get((system, size))
                if not group:
                    continue
                steps = -(-DATASETS[dataset].num_train // get_system(system).batch_size(dataset))
                tests = _ordered_tests(dataset, group[0]["tests"])
                errors = " / ".join(f"{_mean([r['tests'][t]['f_rmse'] for r in group]):.2f}" for t in tests)
                seconds = _mean([epoch_seconds(r) for r in group])
                cells = [dataset, system.removeprefix("irreps-"), str(lmax), f"{errors} ({' / '.join(tests)})",
                         f"{_mean([r['params'] for r in group]):,.0f}", f"{_mean([r['epochs'] for r in group]):,.0f}",
                         "n/a" if seconds is None else f"{1000 * seconds / steps:,.0f}"]
                lines.append("| " + " | ".join(cells) + " |")
    if not lines:
        return ""
    head = [f"**l_max**, {minutes:g} CPU minutes per run (test force RMSE, meV/Å; CPU ms per training step)", "",
            "| dataset | model | l_max | F RMSE | params | epochs | ms/step |", "|---|---|---|---|---|---|---|"]
    return "\n".join(head + lines) + "\n"


def report(datasets: list[str], minutes: list[float] | None, results: Path, figure_dir: Path | None) -> str:
    """Tables of every dataset at every budget recorded (or those asked for); figures if asked."""
    parts, every = [], {}
    for dataset in datasets:
        records, quiet = load_records(dataset, results), load_timings(dataset, results)
        every[dataset] = records
        budgets = minutes or sorted({float(r["minutes"]) for r in records})
        for budget in budgets:
            parts.append(table(dataset, budget, records, quiet))
            if figure_dir is not None:
                for path in figures(dataset, budget, records, figure_dir, quiet):
                    parts.append(f"figure: {path}\n")
    for budget in minutes or sorted({float(r["minutes"]) for recs in every.values() for r in recs}):
        parts.append(lmax_table(every, budget))
    return "\n".join(part for part in parts if part)
