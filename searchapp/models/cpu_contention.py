"""How much CPU other processes took while a block ran: a runtime calibration measured while
the machine was busy says more about the neighbours than about the runtimes (torch's thread
pool slows far more than ONNX Runtime's when a core is taken), so it is not kept for good."""

from __future__ import annotations

import os
import resource
import time
from types import TracebackType

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy_seconds() -> float | None:
    """CPU seconds every process on the machine has used (all cores, `/proc/stat`); None where
    there is no `/proc`."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(values) < 4:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def own_cpu_seconds(children: bool = False) -> float:
    """CPU seconds of this process (and, with `children`, of its children waited for)."""
    total = 0.0
    for who in (
        (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) if children else (resource.RUSAGE_SELF,)
    ):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class OtherProcessesCpu:
    """`cpu_s`: the CPU seconds other processes used while the block ran, `cores` the same per
    second of `wall_s` (0.0 where the machine's total is not readable). With `children`, the
    children this process waited for count as its own."""

    def __init__(self, children: bool = False) -> None:
        self.children = children
        self.cpu_s = 0.0
        self.cores = 0.0
        self.wall_s = 0.0

    def __enter__(self) -> OtherProcessesCpu:
        self._busy = machine_busy_seconds()
        self._own = own_cpu_seconds(self.children)
        self._wall = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.wall_s = time.perf_counter() - self._wall
        busy = machine_busy_seconds()
        if busy is None or self._busy is None or self.wall_s <= 0:
            return
        own = own_cpu_seconds(self.children) - self._own
        self.cpu_s = max(0.0, (busy - self._busy) - own)
        self.cores = self.cpu_s / self.wall_s
