"""Per-operator profile of a call: the ``torch.profiler`` table the ``--profile`` flags print."""

from __future__ import annotations

from typing import Callable


def op_table(call: Callable[[], object], rounds: int = 5, row_limit: int = 15, warmup: int = 2) -> str:
    """Profile ``rounds`` calls of ``call`` (after ``warmup`` unprofiled ones) on the CPU.

    Returns torch's table of the ``row_limit`` operators with the most self CPU time, with
    their call counts (summed over the rounds), and a last line giving the rounds profiled.
    """
    from torch.profiler import ProfilerActivity, profile

    for _ in range(warmup):
        call()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(rounds):
            call()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit)
    return f"{table}\n(times and calls summed over {rounds} profiled calls)"
