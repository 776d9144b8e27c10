"""The ways of loading a level that the benchmark compares, as a table ``name -> Strategy``.

A strategy function runs in a driver thread and gets a ``Job`` (the slide, the level,
the regions, the sink, the worker count, a cancel flag).  It reads each region into
the sink (``job.read_task``, or ``sink.target`` / ``sink.commit`` itself) between
``job.start_clock()`` and ``job.stop_clock()``, records each with
``job.task_done(...)``, checks ``job.cancelled`` between tasks and frees what it
started in ``finally``.  A strategy that reads the whole level in one call instead
hands the pixels to ``job.sink.adopt`` (``time_whole_level`` does it).

Adding a strategy is one function and one table entry: the entry's flags tell the
engine which backends it needs, how to cut the level, whether worker counts apply,
and make its label.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Protocol

import numpy as np

from .._errors import SlideReadError
from ..backends._cucim import gpu_problem
from . import _workers
from .job import Cancelled, Job, Task, cores
from .readers import jpeg_tile_decoder, region_reader

__all__ = [
    "DECODE_LIMIT",
    "DEFAULT_STRATEGIES",
    "REFERENCE_STRATEGIES",
    "STRATEGIES",
    "STRATEGY_TABLE",
    "Cancelled",
    "Job",
    "Strategy",
    "cores",
    "label",
    "strategy_named",
    "time_whole_level",
]

_EXIT_S = 5.0  # how long finished workers get to exit before they are terminated


# -- strategies --


def run_serial(job: Job) -> None:
    read = region_reader(job.slide, job.level)
    job.start_clock()
    for region in job.regions:
        job.check()
        job.read_task(read, 0, region)
    job.stop_clock()


def run_threads(job: Job) -> None:
    """N threads take the next region from a shared counter (no per-task futures: they cost ~30 µs each)."""
    read = region_reader(job.slide, job.level)
    next_index = count().__next__  # atomic under the GIL
    errors: list[BaseException] = []

    def worker(wid: int) -> None:
        try:
            while not job.cancelled.is_set() and not errors:
                i = next_index()
                if i >= len(job.regions):
                    return
                job.read_task(read, wid, job.regions[i])
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(i,), name=f"wsi-bench-{i}", daemon=True) for i in range(job.workers)
    ]
    job.start_clock()
    for t in threads:
        t.start()
    # Threads stop by themselves on cancel or on another thread's error, after their current region.
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    job.check()
    job.stop_clock()


def run_processes(job: Job) -> None:
    """Spawned workers, each with the slide opened once and a list of regions, writing into the sink.

    Regions are dealt out in turn (worker i gets regions i, i+N, ...), so neighbours,
    which cost about the same, are spread over the workers.  The clock starts when
    every worker has opened the slide and faulted in its part of the shared array.
    """
    ctx = _workers.spawn_context()
    n = job.workers
    shares = [[(i, job.regions[i]) for i in range(w, len(job.regions), n)] for w in range(n)]
    procs, conns = [], []
    finished = False
    try:
        with _workers.spawned_without_main():
            for w in range(n):
                parent, child = ctx.Pipe()
                proc = ctx.Process(
                    target=_workers.work,
                    args=(w, job.slide.path, job.slide.backend, job.level, shares[w], job.sink.spec(), child),
                    kwargs={
                        "colour": job.slide.colour,
                        "in_flight": job.slide.source.in_flight if job.slide.is_remote else 0,
                    },
                    name=f"wsi-bench-{w}",
                    daemon=True,
                )
                proc.start()
                child.close()
                procs.append(proc)
                conns.append(parent)
        job.pids[:] = [p.pid for p in procs]
        owner = {c: w for w, c in enumerate(conns)}
        _workers.await_all(job, procs, conns, owner, "ready")
        job.start_clock()
        for c in conns:
            c.send("go")
        _workers.await_all(job, procs, conns, owner, "done")
        job.stop_clock()
        finished = True
    finally:
        # After "done" the workers are exiting; after a cancel or an error there is nothing
        # of theirs worth waiting for (the parent removes the shared array and the store).
        _workers.stop_processes(procs, conns, _EXIT_S if finished else 0.05)
        job.pids.clear()


def _cucim_location(job: Job, x: int, y: int) -> tuple[int, int]:
    return job.slide.cucim_location(job.level, x, y)


def time_whole_level(job: Job, read: Callable[[int, int], object], to_numpy: Callable = np.asarray) -> None:
    """Time one call that reads the whole level; ``read(w, h)`` returns once the pixels are ready.

    The pixels go to ``job.sink.adopt`` (as ``to_numpy`` gives them) before the clock
    stops, so handing them over is timed as a region strategy's stores are.
    """
    w, h = job.slide.level_dimensions[job.level]
    job.start_clock()
    start = time.perf_counter()
    pixels = read(w, h)
    job.task_done(0, start, time.perf_counter(), (0, 0, w, h))
    if job.sink.keeps_pixels:
        job.sink.adopt(to_numpy(pixels))
    del pixels
    job.stop_clock()


def run_cucim_level(job: Job) -> None:
    """cuCIM's own read of the whole level in one call, with ``num_workers`` threads."""
    image = job.slide._image
    time_whole_level(
        job, lambda w, h: image.read_region(_cucim_location(job, 0, 0), (w, h), job.level, num_workers=job.workers)
    )


def run_gpu_level(job: Job) -> None:
    """cuCIM decoding the whole level on the GPU (nvJPEG), timed until the GPU has finished."""
    import cupy

    def read(w: int, h: int):
        pixels = job.slide.read_level_gpu(job.level, 0, 0, w, h, num_workers=job.workers)
        cupy.cuda.Device().synchronize()
        return pixels

    time_whole_level(job, read, cupy.asnumpy)


def run_cucim_batch(job: Job) -> None:
    """cuCIM's batch API: ``read_region(locations, size, level, num_workers, batch_size)``.

    All regions share one size; cuCIM pads the ones at the level's edge, the sink
    gets them cropped.  A batch's memory is reused by the next one, so each batch is
    copied out before the iterator moves on (keeping views crashes cuCIM).
    """
    cw, ch = max(r[2] for r in job.regions), max(r[3] for r in job.regions)
    locations = [_cucim_location(job, x, y) for x, y, _, _ in job.regions]
    batch = job.batch_size or job.workers
    image = job.slide._image
    job.start_clock()
    batches = image.read_region(locations, (cw, ch), job.level, num_workers=job.workers, batch_size=batch)
    done = 0
    start = time.perf_counter()
    for pixels in batches:
        job.check()
        shape = tuple(pixels.shape)
        n = shape[0] if len(shape) == 4 else 1
        if job.sink.keeps_pixels:
            array = np.asarray(pixels).reshape(n, *shape[-3:])
            for i in range(n):
                x, y, w, h = region = job.regions[done + i]
                target = job.sink.target(region)
                target[...] = array[i, :h, :w]
                job.sink.commit(region, target)
            del array
        del pixels
        end = time.perf_counter()
        for region in job.regions[done : done + n]:
            job.task_done(0, start, end, region)
        done += n
        start = end
    del batches
    job.stop_clock()


def run_decode_limit(job: Job) -> None:
    """Decode every compressed tile of the level on one core; the limit is that speed times the cores.

    The bytes of a row of tiles are read before its decode is timed; JPEG tiles are
    decoded by libjpeg-turbo (imagecodecs) into one reused buffer.  The first row is
    decoded once untimed, as a warm-up: the strategies measured after the limit run
    in a warm process too.  Tasks are laid end to end on the decode-time axis.
    ``job.workers`` is the number of cores.
    """
    if job.slide.backend == "czi":  # subblocks, not tiles
        from .czi_limit import run_czi_decode_limit

        return run_czi_decode_limit(job)
    tiles = job.slide.tiles[job.level]
    decode_jpeg = jpeg_tile_decoder(job.slide, job.level)
    buf = np.empty((tiles.tile_height, tiles.tile_width, tiles.samples), tiles.dtype)

    def decode_row(ty: int) -> float:
        if decode_jpeg is None:  # other codecs: the tifffile backend's own tile decode
            start = time.perf_counter()
            for tx in range(tiles.cols):
                tiles.decode(ty, tx)
            return time.perf_counter() - start
        row = [(tx, tiles.raw(ty, tx)) for tx in range(tiles.cols) if not tiles.missing[ty * tiles.cols + tx]]
        start = time.perf_counter()
        for tx, data in row:
            try:
                decode_jpeg(data, buf)
            except Exception as exc:  # codecs raise many types; all mean a bad tile
                raise SlideReadError(job.slide.path, f"{tiles.where(ty, tx)}: {exc}") from None
        return time.perf_counter() - start

    decode_row(0)
    job.start_clock()
    total = 0.0
    for ty in range(tiles.rows):
        job.check()
        took = decode_row(ty)
        y = ty * tiles.tile_height
        job.tasks.append(Task(0, total, total + took, 0, y, tiles.width, min(tiles.tile_height, tiles.height - y)))
        total += took
    job.stop_clock()
    job.seconds = total / job.workers
    codec = "libjpeg-turbo" if decode_jpeg is not None else "tifffile codec"
    job.note = f"{codec} on one core: {total:.3f} s; limit = that speed x {job.workers} cores"


# -- the table --


@dataclass(frozen=True)
class Strategy:
    """A way of loading a level: its function and what the engine needs to know to plan and label it.

    ``run(job)`` reads ``job.regions`` into ``job.sink`` (see the module docstring).
    A ``whole_level`` strategy reads the level in one call instead of by regions; it
    must hand the pixels to ``job.sink.adopt(...)`` before stopping the clock
    (``time_whole_level`` does both), and the engine does not allocate an assembled
    array for it.  The flags also make the label: ``cucim threads/tiles x2`` names the
    chunking unless ``whole_level`` and the worker count when ``parallel``.
    """

    run: Callable[[Job], None]
    problem: Callable[[], str | None] | None = None  # why it cannot run on this machine, or None
    backends: tuple[str, ...] | None = None  # None: every backend
    whole_level: bool = False  # reads the level in one call: chunk "level"
    parallel: bool = True  # False: measured once, with one worker
    uses_processes: bool = False  # workers are processes: the sink lives in shared memory or on disk
    reference: bool = False  # a yardstick (the decode limit), not a way of loading a level


STRATEGY_TABLE: dict[str, Strategy] = {
    "serial": Strategy(run_serial, parallel=False),
    "threads": Strategy(run_threads),
    "processes": Strategy(run_processes, uses_processes=True),
    "cucim": Strategy(run_cucim_level, backends=("cucim",), whole_level=True),
    "cucim-batch": Strategy(run_cucim_batch, backends=("cucim",)),
    "gpu": Strategy(run_gpu_level, backends=("cucim",), whole_level=True, problem=gpu_problem),
}
STRATEGIES = tuple(STRATEGY_TABLE)
DEFAULT_STRATEGIES = ("serial", "threads", "processes", "cucim")  # what a plan measures unless told otherwise

# Measured on every level before the strategies, through the tifffile backend, pixels discarded.
DECODE_LIMIT = Strategy(run_decode_limit, parallel=False, reference=True)
REFERENCE_TABLE: dict[str, Strategy] = {"decode-limit": DECODE_LIMIT}
REFERENCE_STRATEGIES = tuple(REFERENCE_TABLE)
_UNKNOWN = Strategy(run_serial)  # labels a record of a strategy this version no longer has


def strategy_named(name: str) -> Strategy:
    """The strategy or reference called ``name`` (a record read from an older file may name neither)."""
    return STRATEGY_TABLE.get(name) or REFERENCE_TABLE.get(name) or _UNKNOWN


class Configured(Protocol):
    """What a label is made of: a record, or a configuration about to be measured."""

    backend: str
    strategy: str
    chunk: str
    workers: int


def label(config: Configured, *, backend: bool = True, workers: bool = True) -> str:
    """Short name of a configuration: ``cucim threads/tiles x2``, ``cucim cucim x4``, ``decode-limit (imagecodecs)``.

    ``backend=False`` leaves out the backend, ``workers=False`` the worker count
    (a line of the time-vs-workers plot).
    """
    spec = strategy_named(config.strategy)
    if spec.reference:
        return f"{config.strategy} ({config.backend})"
    text = f"{config.backend} {config.strategy}" if backend else config.strategy
    if not spec.whole_level:
        text += f"/{config.chunk}"
    if spec.parallel and workers:
        text += f" x{config.workers}"
    if getattr(config, "in_flight", 0):  # a URL: the requests in flight
        text += f" @{config.in_flight} req"
    return text
