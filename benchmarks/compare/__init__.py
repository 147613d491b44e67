"""The side-by-side benchmark: every system trained and judged on the same data and budget.

For each dataset (acac, ethanol, 3BPA; splits fixed under ``benchmarks/splits/``) every system
(ours through ``irreps train``; MACE, NequIP, Allegro and TorchMD-Net through their own
training commands, from the virtualenvs ``python -m benchmarks.peers build`` makes) is trained
on one thread under a cap of CPU seconds, then evaluated on the same test files by one
evaluation code (each system's ASE calculator, float64 where it allows) and timed.

    python -m benchmarks.compare run --datasets acac --minutes 3          # a smoke run
    python -m benchmarks.compare run --minutes 30                         # the table
    python -m benchmarks.compare report                                   # table + figures

Nothing here imports torch or irreps at module level: the evaluation worker
(:mod:`benchmarks.compare.worker`) runs inside each peer's own virtualenv.
"""
