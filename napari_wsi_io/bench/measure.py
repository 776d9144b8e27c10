"""Measuring one configuration: a strategy runs its ``Job`` in a driver thread while this yields progress.

``measure`` opens the sink, runs the strategy, checks the stored pixels against the
reference, samples the peak memory while the clock runs, and closes the sink.
Closing the generator sets the job's cancel flag and waits a little for the driver
(a strategy stops after its current region).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

from .job import Job
from .records import Progress
from .reference import Reference, compare
from .sinks import ArraySink
from .strategies import Strategy

__all__ = ["Measured", "in_background", "measure"]

_TICK_S = 0.1  # longest wait between two progress events
_CANCEL_JOIN_S = 0.8  # how long closing the generator waits for the work in flight
_RSS_EVERY_S = 0.02


@dataclass
class Measured:
    """What the driver found besides the job's own clock and tasks."""

    error: BaseException | None = None
    checksum: str | None = None
    max_abs_diff: int | None = None
    setup_seconds: float = 0.0
    peak_rss: int = 0  # bytes, this process and its worker processes


def measure(
    job: Job, strategy: Strategy, reference: Reference | None, progress: Callable[[], Progress]
) -> Generator[Progress, None, Measured]:
    """Run ``strategy`` on ``job``, yielding ``progress()`` until it ends; raise its error."""
    sampler = _RssSampler(job)
    job.on_clock = sampler
    measured = Measured()
    try:
        yield from in_background(lambda: _drive(job, strategy, reference, measured), job.cancelled, progress)
    finally:
        sampler.stop()
        job.sink.close()  # the driver closes it too; this covers a driver still busy after a cancel
    if measured.error is not None:
        raise measured.error
    measured.peak_rss = sampler.peak
    return measured


def in_background(
    work: Callable[[], None], cancel: threading.Event, progress: Callable[[], Progress]
) -> Generator[Progress, None, None]:
    """Run ``work()`` in a thread, yielding ``progress()`` until it ends; on close, cancel and wait a little."""
    thread = threading.Thread(target=work, name="wsi-bench-driver", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(_TICK_S)
            yield progress()
    finally:
        if thread.is_alive():
            cancel.set()
            thread.join(_CANCEL_JOIN_S)


def _drive(job: Job, strategy: Strategy, reference: Reference | None, measured: Measured) -> None:
    """Runs in the driver thread: set up the sink, run the strategy, check the stored pixels."""
    sink = job.sink
    begin = time.perf_counter()
    try:
        # A whole-level strategy hands its own array to an assembled sink: nothing to allocate.
        if not (strategy.whole_level and isinstance(sink, ArraySink)):
            # Process workers fault in their own parts of the shared array.
            sink.open(touch=not strategy.uses_processes)
        strategy.run(job)
        measured.setup_seconds = (job.t0 or begin) - begin
        if sink.keeps_pixels and reference is not None:
            measured.checksum, measured.max_abs_diff = compare(sink, reference, job.cancelled.is_set)
    except BaseException as exc:
        measured.error = exc
    finally:
        sink.close()


class _RssSampler:
    """Peak resident memory of this process and its worker processes while the clock runs."""

    def __init__(self, job: Job) -> None:
        import psutil

        self._psutil, self._job = psutil, job
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        total = self._psutil.Process().memory_info().rss
        for pid in list(self._job.pids):
            with contextlib.suppress(self._psutil.Error):
                total += self._psutil.Process(pid).memory_info().rss
        self.peak = max(self.peak, total)

    def _loop(self) -> None:
        while not self._stop.wait(_RSS_EVERY_S):
            self.sample()

    def __call__(self, running: bool) -> None:  # Job.on_clock
        self.sample()
        if running:
            self._thread = threading.Thread(target=self._loop, name="wsi-bench-rss", daemon=True)
            self._thread.start()
        else:
            self.stop()

    def stop(self) -> None:
        """Stop sampling (also when the clock never stopped: an error or a cancel)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
