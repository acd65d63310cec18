"""CPU used, and time spent waiting for a core, by the processes a benchmark started.

Why: on 2 shared cores a side's latency is set as much by what all of its processes burn
as by its request path. Measured this way (2026-11-28), the space side of ``bench compare``
at 100 orders/s kept about 1.4 cores busy over five processes, and its grid calls took
2-3 ms instead of 0.5 because every process waited for a core; one figure per process and
step says where, which no latency figure can.

Linux only: ``/proc/PID/task/*/schedstat`` gives, per thread, nanoseconds on a CPU and
nanoseconds runnable but waiting in the run queue; a process's figure is its threads' sum
(the JVMs run dozens of threads). A group's processes are found again at every reading, so
PostgreSQL backends started during a step count from zero; a process that exits during a
step drops out, and so does a thread that ends (their last shares are lost, which only
under-counts).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Mapping

#: a group's processes, found at each reading (a callable: children come and go)
Pids = Callable[[], list[int]]


@dataclass(frozen=True)
class Usage:
    """One group over one interval: cores busy on average, and cores' worth of runnable
    threads kept waiting (both in units of one core)."""

    cores: float
    waiting: float


def thread_times(pid: int) -> tuple[int, int] | None:
    """Nanoseconds on a CPU and runnable-waiting, summed over the process's threads."""
    run = wait = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                on_cpu, waiting, _ = f.read().split()
        except (OSError, ValueError):
            continue  # the thread ended between the listing and the read
        run += int(on_cpu)
        wait += int(waiting)
    return run, wait


def with_children(pid: int) -> Pids:
    """``pid`` and its direct children (a postmaster and its backends)."""

    def pids() -> list[int]:
        found = [pid]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    # the command name (2nd field) may hold spaces: the parent follows its ')'
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == pid:
                found.append(int(entry))
        return found

    return pids


def fixed(*pids: int) -> Pids:
    return lambda: list(pids)


Reading = tuple[int, dict[str, dict[int, tuple[int, int]]]]


class CpuMeter:
    """Readings of named process groups; :meth:`usage` is what each used between two."""

    def __init__(self, groups: Mapping[str, Pids], clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._groups = dict(groups)
        self._clock = clock

    def reading(self) -> Reading:
        at = self._clock()
        seen: dict[str, dict[int, tuple[int, int]]] = {}
        for name, pids in self._groups.items():
            times = {}
            for pid in pids():
                t = thread_times(pid)
                if t is not None:
                    times[pid] = t
            seen[name] = times
        return at, seen

    @staticmethod
    def usage(before: Reading, after: Reading) -> dict[str, Usage]:
        elapsed = after[0] - before[0]
        if elapsed <= 0:
            return {}
        out = {}
        for name, now in after[1].items():
            then = before[1].get(name, {})
            # a thread that ended takes its times with it: a process's sum can shrink
            run = sum(max(0, r - then.get(pid, (0, 0))[0]) for pid, (r, _) in now.items())
            wait = sum(max(0, w - then.get(pid, (0, 0))[1]) for pid, (_, w) in now.items())
            out[name] = Usage(cores=run / elapsed, waiting=wait / elapsed)
        return out
