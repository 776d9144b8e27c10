"""The benchmark engine: how fast can a slide level be loaded, and with which strategy?

``run_plan(plan)`` is a generator.  It yields ``Progress`` events (at least every
~0.1 s, also while workers run), returns a ``BenchResult``, and is cancelled by
closing it (``generator.close()``, or napari's ``worker.quit()`` once the generator
is closed or collected): the work in flight stops after its current region and
every pool, process, shared-memory block and temporary store is freed in
``finally`` blocks, within a second.  (The ``cucim`` strategy reads a level in one
call that cannot be interrupted: closing still returns within a second, and that
call finishes in the background.)

For each level the run first measures the decode limit (every compressed tile
decoded on one core, times the cores); then each configuration (backend x strategy
x chunking x workers, ``repeats`` times, repeats interleaved so a change in the
machine's load hits every configuration alike).  With the ``assemble`` and
``zarr`` sinks each record carries the SHA-256 of the stored level and its largest
difference from the serial cuCIM reference.

Timing: ``seconds`` runs from the moment the work starts (slide open, sink
allocated and its pages faulted in, process workers started) to the last region
stored.  The set-up is reported apart as ``setup_seconds``.

The parts: ``plan`` (what to measure, resolved to configurations), ``strategies``
(the table of ways to load a level), ``measure`` (one configuration in a driver
thread), ``reference`` (the pixel check), ``sinks``, ``records`` (results and files).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

from .._errors import SlideReadError
from ..backends import Slide, available_backends, is_czi_file
from .job import Job
from .machine import machine_info, slide_info
from .measure import Measured, in_background, measure
from .plan import BenchPlan, Config, Resolved, resolve, zarr_chunks
from .readers import open_cpu
from .records import BenchResult, Progress, Record
from .reference import Reference
from .sinks import make_sink
from .strategies import label, strategy_named

__all__ = ["run_plan"]


def run_plan(plan: BenchPlan) -> Generator[Progress, None, BenchResult]:
    """Measure ``plan``; yields progress, returns the result.  Close the generator to cancel."""
    resolved = resolve(plan)
    run = _Run(plan, resolved)
    try:
        with open_cpu(plan.path) as auto:  # the backend the viewer would use
            slide = slide_info(auto)
        yield run.progress(f"{len(resolved.configs)} configurations on levels {', '.join(map(str, resolved.levels))}")
        for config in resolved.configs:
            record = yield from run.measure(config)
            run.records.append(record)
            yield run.progress(_describe(record), record=record)
        for record in run.records:  # limits are final now: the decode-limit repeats measured before the best
            limit = run.limits.get(record.level)
            record.fraction_of_limit = record.mpix_per_s / limit if limit else None
        return BenchResult(slide, machine_info(), run.records, list(resolved.notes))
    finally:
        run.close()


def _describe(record: Record) -> str:
    fraction = f", {record.fraction_of_limit:.2f} of the limit" if record.fraction_of_limit is not None else ""
    rate = (
        f"{record.mpix_per_s:.0f} MP/s, {record.mb_per_s:.0f} MB/s"
        if record.mb_per_s
        else f"{record.mpix_per_s:.0f} MP/s"
    )
    return f"level {record.level}: {record.label}: {record.seconds:.3f} s, {rate}{fraction}"


class _Run:
    """State of one ``run_plan``: open slides, decode limits, references, records, progress."""

    def __init__(self, plan: BenchPlan, resolved: Resolved) -> None:
        self.plan, self.resolved = plan, resolved
        self.slides: dict[str, Slide] = {}
        self.limits: dict[int, float] = {}  # level -> MP/s
        self.references: dict[int, Reference] = {}
        self.records: list[Record] = []
        self.total_tasks = sum(len(c.regions) for c in resolved.configs)
        self.total_mpx = sum(c.megapixels for c in resolved.configs)
        self.done_tasks = 0
        self.done_mpx = 0.0
        self.started = time.perf_counter()

    def slide(self, backend: str) -> Slide:
        if backend not in self.slides:
            self.slides[backend] = open_cpu(self.plan.path, backend, self.plan.colour)
        return self.slides[backend]

    def close(self) -> None:
        for slide in self.slides.values():
            slide.close()
        self.slides.clear()

    def progress(self, message: str, job: Job | None = None, config: Config | None = None, record=None) -> Progress:
        tasks, mpx = self.done_tasks, self.done_mpx
        if job is not None and config is not None:
            tasks += len(job.tasks)
            mpx += config.megapixels * len(job.tasks) / max(1, len(config.regions))
        elapsed = time.perf_counter() - self.started
        eta = elapsed * (self.total_mpx - mpx) / mpx if mpx > 0 else None
        return Progress(min(tasks, self.total_tasks), self.total_tasks, eta, message, record)

    def reference(self, level: int) -> Generator[Progress, None, Reference]:
        """The serial cuCIM (else tifffile) checksum of ``level``, computed once per run."""
        if level not in self.references:
            name = "cucim" if "cucim" in available_backends() else "tifffile"
            try:
                slide = self.slide(name)
            except SlideReadError:
                slide = self.slide(self.resolved.backends[0])
            ref = Reference(slide, level)
            cancel = threading.Event()
            errors: list[BaseException] = []

            def work() -> None:
                try:
                    ref.compute(cancel.is_set)
                except BaseException as exc:
                    errors.append(exc)

            message = f"level {level}: reading the {slide.backend} reference"
            yield from in_background(work, cancel, lambda: self.progress(message))
            if errors:
                raise errors[0]
            self.references[level] = ref
        return self.references[level]

    def measure(self, config: Config) -> Generator[Progress, None, Record]:
        strategy = strategy_named(config.strategy)
        # A reference (the decode limit) reads the file's own tiles through tifffile (a CZI's subblocks through
        # its directory) and keeps nothing.
        own = "czi" if is_czi_file(self.plan.path) else "tifffile"
        slide = self.slide(own if strategy.reference else config.backend)
        _set_in_flight(slide, config.in_flight)
        sink_kind = "discard" if strategy.reference else self.plan.sink
        reference = None
        if sink_kind != "discard":
            reference = yield from self.reference(config.level)
        h, w = slide.level_shape(config.level)[:2]
        chunks = zarr_chunks(slide, config, self.plan.chunk_size)
        sink = make_sink(sink_kind, (h, w, slide.samples), slide.dtype, chunks, strategy.uses_processes)
        job = Job(slide, config.level, config.regions, sink, config.workers, self.plan.batch_size)
        repeat = f" (repeat {config.repeat + 1}/{self.plan.repeats})" if self.plan.repeats > 1 else ""
        message = f"level {config.level}: {label(config)}{repeat}"
        measured = yield from measure(job, strategy, reference, lambda: self.progress(message, job, config))
        self.done_tasks += len(config.regions)
        self.done_mpx += config.megapixels
        return self._record(config, job, sink_kind, measured)

    def _record(self, config: Config, job: Job, sink: str, measured: Measured) -> Record:
        w, h = job.slide.level_dimensions[config.level]
        mpx = w * h / 1e6
        seconds = max(job.elapsed, 1e-9)
        speed = mpx / seconds
        if strategy_named(config.strategy).reference:
            self.limits[config.level] = max(self.limits.get(config.level, 0.0), speed)
        limit = self.limits.get(config.level)
        return Record(
            backend=config.backend,
            strategy=config.strategy,
            chunk=config.chunk,
            workers=config.workers,
            level=config.level,
            width=w,
            height=h,
            megapixels=mpx,
            seconds=seconds,
            mpix_per_s=speed,
            fraction_of_limit=speed / limit if limit else None,
            peak_rss_mb=measured.peak_rss / 2**20,
            checksum=measured.checksum,
            max_abs_diff=measured.max_abs_diff,
            repeat=config.repeat,
            tasks=sorted(job.tasks, key=lambda t: (t.start, t.worker)),
            sink=sink,
            chunk_width=config.chunk_wh[0],
            chunk_height=config.chunk_wh[1],
            setup_seconds=measured.setup_seconds,
            note=job.note,
            bytes_per_pixel=job.slide.samples * job.slide.dtype.itemsize,
            in_flight=config.in_flight,
        )


def _set_in_flight(slide: Slide, requests: int) -> None:
    """A URL's configuration starts from nothing fetched, with ``requests`` in flight (worker processes are
    given the slide's number when they start)."""
    if not requests or not slide.is_remote:
        return
    slide.source.in_flight = requests
    slide.source.cache.clear()
