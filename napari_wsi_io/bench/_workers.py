"""Process workers of the ``processes`` strategy, and how the parent starts, hears and stops them.

Kept apart so a spawned worker imports only numpy, the backends and the sinks:
never Qt or napari, even when the benchmark runs inside napari.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
import time
import types
from multiprocessing.connection import wait
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .job import Job

__all__ = ["await_all", "spawn_context", "spawned_without_main", "stop_processes", "work"]

_POLL_S = 0.05  # how often a waiting parent looks at the cancel flag


# -- the parent's side --


def spawn_context():
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def spawned_without_main():
    """Start spawn workers without re-importing the parent's ``__main__``.

    Spawn re-runs the main script in every worker ("safe importing of the main
    module").  Under napari that script is napari's launcher, which would import
    napari and Qt in each worker; the workers need nothing from it.  The swap lasts
    only while ``Process.start()`` writes the preparation data.
    """
    main = sys.modules["__main__"]
    stub = types.ModuleType("__main__")
    stub.__spec__ = None
    sys.modules["__main__"] = stub
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def await_all(job: Job, procs: list, conns: list, owner: dict, until: str) -> None:
    """Handle worker messages until every worker has sent ``until``; raise a worker's error."""
    waiting = set(conns)
    while waiting:
        job.check()
        for conn in wait(list(waiting), timeout=_POLL_S):
            try:
                msg = conn.recv()
            except EOFError:
                proc = procs[owner[conn]]
                proc.join(1.0)
                raise RuntimeError(
                    f"benchmark worker {owner[conn]} exited unexpectedly (code {proc.exitcode})"
                ) from None
            if msg[0] == "task":
                _, index, start, end = msg
                job.task_done(owner[conn], start, end, job.regions[index])
            elif msg[0] == "error":
                raise msg[1]
            elif msg[0] == until:
                waiting.discard(conn)


def stop_processes(procs: list, conns: list, grace: float) -> None:
    """Ask workers to stop, give them ``grace`` seconds, then terminate (and kill) the rest."""
    for conn in conns:
        with contextlib.suppress(OSError, ValueError):
            conn.send("stop")
    deadline = time.monotonic() + grace
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(0.5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    for conn in conns:
        conn.close()
    for proc in procs:
        proc.close()


# -- the worker's side --


def work(
    worker: int,
    path: str,
    backend: str,
    level: int,
    tasks: list,
    sink_spec: tuple,
    conn,
    colour: str = "raw",
    in_flight: int = 0,
) -> None:
    """Open the slide once, wait for "go", read ``tasks`` [(index, region)], report each on ``conn``.

    ``in_flight``: a URL's requests in flight, as the parent's configuration has them (0: the default).

    Messages: ("ready",), ("task", index, start, end), ("done",), ("error", exception).
    The parent sends "go" to start the clock and "stop" to cancel.
    """
    # Ctrl-C reaches the whole process group: the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    slide = sink = None
    try:
        from .readers import open_cpu, region_reader
        from .sinks import attach

        slide = open_cpu(path, backend, colour)
        if in_flight and slide.is_remote:
            slide.source.in_flight = in_flight
        read = region_reader(slide, level)
        sink = attach(sink_spec)
        if sink.kind == "assemble":  # fault in this worker's part of the shared array before the clock starts
            for _, region in tasks:
                sink.target(region)[...] = 0
        conn.send(("ready",))
        if conn.recv() != "go":
            return
        for index, region in tasks:
            if conn.poll():  # "stop"
                return
            start, end = sink.fill(region, read)
            conn.send(("task", index, start, end))
        conn.send(("done",))
    except (EOFError, BrokenPipeError):  # the parent is gone or gave up on us
        pass
    except BaseException as exc:
        _report(conn, exc)
    finally:
        if sink is not None:
            sink.close()
        if slide is not None:
            slide.close()
        conn.close()


def _report(conn, exc: BaseException) -> None:
    try:
        conn.send(("error", exc))
    except (EOFError, BrokenPipeError):
        pass
    except Exception:  # an exception that does not pickle: send its text
        with contextlib.suppress(Exception):
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
