"""Running the benchmark engine from the dock without holding up napari.

``run_until_cancelled`` is the generator napari's ``create_worker`` runs; the
engine itself runs in a thread of its own at a lower CPU priority.  While a run
goes on, ``hold_full_collections`` keeps Python's full garbage collections short.
"""

from __future__ import annotations

import gc
import queue
import threading
from collections.abc import Generator

from qtpy.QtCore import QTimer

from .. import bench
from .background import lower_thread_priority

__all__ = ["ENGINE_NICENESS", "hold_full_collections", "release_full_collections", "run_until_cancelled"]

ENGINE_NICENESS = 5  # the benchmark yields the CPU to napari's GUI thread when both want it


def run_until_cancelled(plan: bench.BenchPlan, cancel: threading.Event) -> Generator:
    """``run_plan`` in a thread of its own, at a lower CPU priority; stopped at its next event once ``cancel`` is set.

    The run saturates every core; at a lower priority (niceness +5, Linux) its threads and
    worker processes give way to the event loop, so napari keeps panning, and they run at
    full speed whenever napari is idle.  A thread of its own, because the priority cannot
    be raised again and napari's worker threads are reused.  The engine is closed (pools,
    processes, shared memory freed) in that thread before this generator returns, so
    ``finished`` means cleaned up.  Returns the ``BenchResult``, or None when cancelled.
    """
    events: queue.SimpleQueue = queue.SimpleQueue()

    def pump() -> None:
        lower_thread_priority(ENGINE_NICENESS)
        outcome: tuple = ("result", None)
        gen = bench.run_plan(plan)
        try:
            while not cancel.is_set():
                try:
                    event = next(gen)
                except StopIteration as stop:
                    outcome = ("result", stop.value)
                    break
                events.put(("progress", event))
        except BaseException as exc:  # handed to the worker, which reports it
            outcome = ("error", exc)
        finally:
            gen.close()
            events.put(outcome)

    thread = threading.Thread(target=pump, name="wsi-bench-engine", daemon=True)
    thread.start()
    while True:
        kind, value = events.get()
        if kind == "progress":
            yield value
            continue
        thread.join()
        if kind == "error":
            raise value
        return value


_gc_holds = 0
_GC_RELEASE_DELAY_MS = 2000


def hold_full_collections() -> None:
    """Keep Python's full garbage collections short while a benchmark runs.

    A full collection walks every object of the napari process (some 300,000),
    which takes 100-200 ms on two busy cores, with the GIL held: the event loop
    and the measured threads stall.  Freezing the objects that exist now leaves
    the collections only the objects made during the run.
    """
    global _gc_holds
    _gc_holds += 1
    gc.freeze()


def release_full_collections() -> None:
    """Give the frozen objects back to the collector a little after the run and its last redraws."""
    QTimer.singleShot(_GC_RELEASE_DELAY_MS, _unfreeze)


def _unfreeze() -> None:
    global _gc_holds
    _gc_holds = max(0, _gc_holds - 1)
    if _gc_holds == 0:  # no other run holds them
        gc.unfreeze()
