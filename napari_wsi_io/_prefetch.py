"""Background chunk loading: a few threads, most urgent job first, gone when there is nothing to do.

Two kinds of job share the threads.  Priority 0 helps a read napari is waiting for (the missing
chunks of a view decode in parallel, the reading thread taking its share).  Higher numbers are
guesses: the chunks around the view, ahead of its motion first, then the coarser level (zoom out)
and the middle of the finer one (zoom in).  A guess carries the generation of the view it was made
for and is skipped once a newer view of the same slide was asked for, or once its pyramid is closed
or garbage collected (layer removed, viewer closed).  Guesses never report a damaged tile: the read
that shows it does.

The threads run at a lower priority (``WORKER_NICE``, Linux) so that the GUI thread and a software
renderer go first; they start on demand and exit after ``IDLE_EXIT_S`` seconds without work, so no
thread outlives the layers that use it.  ``NAPARI_WSI_IO_PREFETCH=0`` turns the guesses off.

At interpreter exit the workers are stopped and joined (``atexit``): a daemon thread still decoding
inside cuCIM when the C++ runtime tears cuCIM down aborts the process ("terminate called without an
active exception", exit status 134).  Python's ``atexit`` handlers all run before that teardown.
"""

from __future__ import annotations

import atexit
import contextlib
import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable

__all__ = ["IDLE_EXIT_S", "PREFETCH_ENV_VAR", "THREAD_NAME", "ChunkWorkers", "prefetch_enabled", "ring", "workers"]

IDLE_EXIT_S = 1.0
STOP_TIMEOUT_S = 10.0  # at exit, how long to wait for the chunks being decoded (each takes milliseconds)
WORKER_NICE = 10
THREAD_NAME = "napari-wsi-io-chunks"
PREFETCH_ENV_VAR = "NAPARI_WSI_IO_PREFETCH"


def prefetch_enabled() -> bool:
    """False when ``NAPARI_WSI_IO_PREFETCH`` is 0/false/off/no."""
    return os.environ.get(PREFETCH_ENV_VAR, "1").strip().lower() not in ("0", "false", "off", "no")


class ChunkWorkers:
    """A priority queue of jobs served by up to ``max_threads`` daemon threads that exit when idle.

    A job is ``(priority, run, still_wanted)``: ``run()`` does the work, ``still_wanted()`` is asked
    just before, so that a job for an old view or a removed layer costs nothing.
    """

    def __init__(self, max_threads: int = 2, idle_exit_s: float = IDLE_EXIT_S) -> None:
        self.max_threads = max(1, max_threads)
        self.idle_exit_s = idle_exit_s
        self._cond = threading.Condition()
        self._queue: list[tuple[int, int, Callable[[], None], Callable[[], bool]]] = []
        self._order = itertools.count()
        self._threads: set[threading.Thread] = set()
        self._idle = 0
        self._stopped = False
        self.errors: list[str] = []  # the last few failures of jobs, for debugging

    def submit(self, jobs: Iterable[tuple[int, Callable[[], None], Callable[[], bool]]]) -> None:
        with self._cond:
            if self._stopped:
                return
            added = 0
            for priority, run, wanted in jobs:
                heapq.heappush(self._queue, (priority, next(self._order), run, wanted))
                added += 1
            if not added:
                return
            # Wake sleepers first; start threads only for work nobody is free to take.
            self._cond.notify(added)
            missing = min(added - self._idle, self.max_threads - len(self._threads))
            for _ in range(max(0, missing)):
                thread = threading.Thread(target=self._serve, name=THREAD_NAME, daemon=True)
                self._threads.add(thread)
                thread.start()

    def drop(self, unwanted: Callable[[Callable[[], bool]], bool] | None = None) -> None:
        """Forget queued jobs (all, or those whose ``still_wanted`` matches ``unwanted``)."""
        with self._cond:
            if unwanted is None:
                self._queue.clear()
            else:
                self._queue = [job for job in self._queue if not unwanted(job[3])]
                heapq.heapify(self._queue)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Drop the queue, let the jobs running finish, join the threads; later submits are ignored.

        True when every thread has ended within ``timeout`` seconds.
        """
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._cond.notify_all()
            threads = [t for t in self._threads if t is not threading.current_thread()]
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    @property
    def stopped(self) -> bool:
        return self._stopped

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def threads(self) -> list[threading.Thread]:
        with self._cond:
            return list(self._threads)

    def _serve(self) -> None:
        me = threading.current_thread()
        _lower_priority()
        while True:
            with self._cond:
                while not self._queue and not self._stopped:
                    self._idle += 1
                    woken = self._cond.wait(self.idle_exit_s)
                    self._idle -= 1
                    if not woken and not self._queue:
                        break
                if self._stopped or not self._queue:
                    self._threads.discard(me)
                    return
                _, _, run, wanted = heapq.heappop(self._queue)
            try:
                if wanted():
                    run()
            except Exception as exc:  # a failed guess must not kill the thread; reads report their own errors
                # Keep the message only: a traceback would keep the job's slide and pyramid alive.
                with self._cond:
                    self.errors = [*self.errors[-9:], f"{type(exc).__name__}: {exc}"]


def _lower_priority() -> None:
    """Let the GUI thread (and a software renderer) go first: on Linux a thread has its own nice value."""
    if hasattr(os, "setpriority"):
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICE)


_workers: ChunkWorkers | None = None
_workers_lock = threading.Lock()


def workers() -> ChunkWorkers:
    """The process-wide chunk workers: one thread per core, at most 4."""
    global _workers
    with _workers_lock:
        if _workers is None:
            _workers = ChunkWorkers(max_threads=min(4, os.cpu_count() or 1))
            # Registered once the first job comes, so after the slide's backend (cuCIM) was imported:
            # handlers run last-registered first, so this one runs before any the backend registered.
            atexit.register(_workers.stop)
        return _workers


def ring(
    rows: range, cols: range, grid: tuple[int, int], motion: tuple[float, float] = (0.0, 0.0), width: int = 1
) -> list[tuple[int, int]]:
    """Chunks around ``rows`` x ``cols`` (``width`` deep) inside a ``grid`` of (rows, cols), most likely first.

    Likely means: ahead of the ``motion`` (dy, dx) of the view, then nearest to the view.
    """
    cy, cx = (rows.start + rows.stop - 1) / 2, (cols.start + cols.stop - 1) / 2
    my, mx = motion
    norm = (my * my + mx * mx) ** 0.5 or 1.0
    around = []
    for r in range(max(0, rows.start - width), min(grid[0], rows.stop + width)):
        for c in range(max(0, cols.start - width), min(grid[1], cols.stop + width)):
            if r in rows and c in cols:
                continue
            dy, dx = r - cy, c - cx
            ahead = (dy * my + dx * mx) / norm
            outside = max(rows.start - r, r - rows.stop + 1, cols.start - c, c - cols.stop + 1)
            around.append((-ahead, outside, r, c))
    around.sort()
    return [(r, c) for _, _, r, c in around]
