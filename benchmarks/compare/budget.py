"""Run a command under a cap of CPU seconds, stamping each output line with the CPU time used.

The budget of the side-by-side benchmark is CPU time, not wall time, so a busy machine does not
change who wins. ``prlimit --cpu`` caps each process separately (torch.compile's workers and
data loaders would escape it), so a supervisor sums user + system time over the whole process
tree from ``/proc`` (live processes, plus what they reaped) once a second, sends SIGTERM when the
cap is reached and SIGKILL after a grace period. Every line the command prints is written to
the log as ``cpu_seconds wall_seconds line``, which is how learning curves get a CPU-time axis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and of the children it reaped), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, (utime + stime + cutime + cstime) / TICKS


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used by ``root`` and every descendant (live or reaped by a live one)."""
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                parents[int(entry)], seconds[int(entry)] = stat
    total, stack = 0.0, [root]
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    while stack:
        pid = stack.pop()
        total += seconds.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


@dataclass
class BudgetResult:
    returncode: int
    cpu_seconds: float
    wall_seconds: float
    capped: bool          # True when the supervisor stopped the command at the cap


def run_capped(command: list[str], cpu_seconds: float, log_path: Path, env: dict[str, str] | None = None,
               cwd: Path | None = None, grace: float = 60.0, abort: threading.Event | None = None) -> BudgetResult:
    """Run ``command`` until it exits or has used ``cpu_seconds``; its output goes to ``log_path``.

    On the cap: SIGTERM to the process group (a trainer may save and exit), SIGKILL after
    ``grace`` further seconds of wall time. Setting ``abort`` (the benchmark was interrupted)
    kills the group at once; so does leaving this function by an exception.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               cwd=cwd, start_new_session=True, bufsize=1, errors="replace")
    used = [0.0]
    stopped: list[threading.Timer] = []
    capped = threading.Event()
    done = threading.Event()

    def watch() -> None:
        # the cap is enforced here, not in the reading loop: a silent command must stop too
        while not done.wait(1.0):
            if abort is not None and abort.is_set():
                _signal_group(process, signal.SIGKILL)
                return
            used[0] = max(used[0], tree_cpu_seconds(process.pid))
            if not capped.is_set() and used[0] >= cpu_seconds:
                capped.set()
                stopped.append(_stop(process, grace))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with open(log_path, "w") as log:
            log.write(f"# command: {' '.join(command)}\n# cpu cap: {cpu_seconds:.0f} s\n")
            for line in process.stdout:
                log.write(f"{used[0]:.1f} {time.monotonic() - start:.1f} {line}")
                log.flush()
            process.wait()
            done.set()
            log.write(f"# exit {process.returncode}; cpu {used[0]:.1f} s; wall {time.monotonic() - start:.1f} s"
                      f"{'; stopped at the cap' if capped.is_set() else ''}\n")
    finally:
        if process.poll() is None:
            _signal_group(process, signal.SIGKILL)
            process.wait()
        done.set()
    for timer in stopped:
        timer.cancel()
    return BudgetResult(process.returncode, used[0], time.monotonic() - start, capped.is_set())


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _stop(process: subprocess.Popen, grace: float) -> threading.Timer:
    """SIGTERM the command's process group now, SIGKILL it after ``grace`` seconds."""
    _signal_group(process, signal.SIGTERM)
    timer = threading.Timer(grace, _signal_group, args=(process, signal.SIGKILL))
    timer.start()
    return timer


def read_log(log_path: Path) -> list[tuple[float, float, str]]:
    """The (cpu seconds, wall seconds, line) records of a log written by :func:`run_capped`."""
    out = []
    for raw in log_path.read_text(errors="replace").splitlines():
        if raw.startswith("# "):
            continue
        parts = raw.split(" ", 2)
        try:
            out.append((float(parts[0]), float(parts[1]), parts[2] if len(parts) > 2 else ""))
        except (ValueError, IndexError):
            continue  # a line the command printed without a newline, continued
    return out
