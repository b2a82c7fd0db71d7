"""Where a process's CPU goes, thread by thread, from /proc/self/task: the CPU each group of threads
used and how long its threads stood ready to run but waited for a core (the run queue).

The difference tells the two reasons a process uses less of the machine than it could apart: its
threads idle (waiting on a lock, the GIL or each other: the design) or they wait for a core that
others hold (a busy machine: not the design). Python names its threads; native ones (TensorFlow's,
onnxruntime's, BLAS pools) are grouped under their kernel name.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
TASKS = Path("/proc/self/task")


@dataclass
class ThreadTimes:
    cpu_s: float       # user + system
    waited_s: float    # runnable, waiting for a core


def group_of(name: str) -> str:
    """The group a Python thread's name belongs to: the pool's prefix without the worker number."""
    if name == "MainThread":
        return "event loop (main thread)"
    return re.sub(r"[_-]?\d+(_\d+)?$", "", name) or name


def snapshot() -> dict[int, tuple[str, ThreadTimes]]:
    names = {t.native_id: group_of(t.name) for t in threading.enumerate()}
    out = {}
    for task in TASKS.iterdir():
        try:
            stat = (task / "stat").read_text()
            schedstat = (task / "schedstat").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        tid = int(task.name)
        cpu = (int(rest[11]) + int(rest[12])) / TICK
        name = names.get(tid) or f"native: {re.sub(r'[_-]?[0-9]+$', '', comm)}"
        out[tid] = (name, ThreadTimes(cpu, int(schedstat[1]) / 1e9))
    return out


def usage(before: dict, after: dict, seconds: float) -> dict[str, tuple[int, float, float]]:
    """Per group over `seconds`: (threads, cores busy, cores' worth of waiting for a core)."""
    groups: dict[str, list] = {}
    for tid, (name, t) in after.items():
        was = before.get(tid, (name, ThreadTimes(0.0, 0.0)))[1]
        g = groups.setdefault(name, [0, 0.0, 0.0])
        g[0] += 1
        g[1] += (t.cpu_s - was.cpu_s) / seconds
        g[2] += (t.waited_s - was.waited_s) / seconds
    return {k: tuple(v) for k, v in sorted(groups.items(), key=lambda kv: -kv[1][1])}


def report(before: dict, after: dict, seconds: float, call_seconds: float = 0.0) -> str:
    """Per group: cores busy and waiting; with `call_seconds` (the calls' lengths added up) also
    the CPU-s each second of a call cost it, the figure that sizes a server (docs/capacity.md)."""
    lines = []
    for name, (n, busy, waited) in usage(before, after, seconds).items():
        if busy >= 0.005 or waited >= 0.005:
            per_call = f", {busy * seconds / call_seconds:.3f} CPU-s per call-s" if call_seconds else ""
            lines.append(f"    {name} ({n} thread{'s' if n > 1 else ''}): {busy:.2f} cores busy, "
                         f"{waited:.2f} waiting for a core{per_call}")
    return "\n".join(lines)
