"""What a strategy works on and reports to: a ``Job`` (one configuration being measured) and its ``Task`` records.

A strategy gets the job, calls ``start_clock()``, ``task_done(...)`` for every region
(``read_task`` reads one region into the sink and records it), ``stop_clock()``, and
checks ``check()`` / ``cancelled`` between tasks.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..backends import Slide
from .readers import RegionReader
from .regions import Region
from .sinks import Sink

__all__ = ["Cancelled", "Job", "Task", "cores"]


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class Cancelled(Exception):
    """The run was cancelled between two tasks."""


@dataclass
class Task:
    """One region read by one worker; times in seconds from the start of the measurement."""

    worker: int
    start: float
    end: float
    x: int
    y: int
    width: int
    height: int


@dataclass
class Job:
    """One configuration being measured: the slide level, its regions, the sink, the worker count."""

    slide: Slide
    level: int
    regions: list[Region]
    sink: Sink
    workers: int = 1
    batch_size: int | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    tasks: list[Task] = field(default_factory=list)
    t0: float | None = None
    t1: float | None = None
    seconds: float | None = None  # set by strategies whose time is not wall time (decode-limit)
    note: str = ""
    pids: list[int] = field(default_factory=list)  # worker processes, for the memory sampler
    on_clock: Callable[[bool], None] | None = None  # told when the clock starts (True) and stops

    def start_clock(self) -> None:
        if self.on_clock:
            self.on_clock(True)
        self.t0 = time.perf_counter()

    def stop_clock(self) -> None:
        self.t1 = time.perf_counter()
        if self.on_clock:
            self.on_clock(False)

    def task_done(self, worker: int, start: float, end: float, region: Region) -> None:
        """Record a task; ``start`` and ``end`` are ``time.perf_counter()`` values (system-wide on Linux)."""
        x, y, w, h = region
        self.tasks.append(Task(worker, start - self.t0, end - self.t0, x, y, w, h))

    def check(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled

    @property
    def elapsed(self) -> float:
        if self.seconds is not None:
            return self.seconds
        return (self.t1 or time.perf_counter()) - (self.t0 or time.perf_counter())

    def read_task(self, read: RegionReader, worker: int, region: Region) -> None:
        """Read ``region`` into the sink as ``worker``'s task and record it."""
        start, end = self.sink.fill(region, read)
        self.task_done(worker, start, end, region)
