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
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np

from .._errors import SlideReadError
from ..backends import BACKENDS, Slide, available_backends, cucim_version
from .readers import open_cpu
from .records import BenchResult, Progress, Record, Task, load_json, save_csv, save_json, summary
from .regions import CHUNKINGS, Region, chunk_shape, regions
from .sinks import SINKS, ArraySink, checksum, make_sink
from .strategies import DECODE_LIMIT, STRATEGY_TABLE, Job, Strategy, cores

__all__ = [
    "CHUNKINGS",
    "SINKS",
    "STRATEGIES",
    "BenchPlan",
    "BenchResult",
    "Progress",
    "Record",
    "Task",
    "load_json",
    "run_plan",
    "save_csv",
    "save_json",
    "summary",
]

STRATEGIES = tuple(STRATEGY_TABLE)  # "decode-limit" is always added as the reference
_TICK_S = 0.1  # longest wait between two progress events
_CANCEL_JOIN_S = 0.8  # how long closing the generator waits for the work in flight
_GIB = 1 << 30


def _memory_margin() -> int:
    import psutil

    return max(_GIB // 2, psutil.virtual_memory().total // 10)


def _gib(nbytes: float) -> str:
    return f"{nbytes / _GIB:.1f} GiB"


@dataclass
class BenchPlan:
    """What to measure.  ``check()`` validates it; ``run_plan`` runs it."""

    path: str
    levels: list[int] | None = None  # None = every level ("all")
    backends: list[str] = field(default_factory=lambda: ["cucim"])
    strategies: list[str] = field(default_factory=lambda: ["serial", "threads", "processes", "cucim"])
    chunkings: list[str] = field(default_factory=lambda: ["tiles"])
    workers: list[int] = field(default_factory=lambda: [1, 2])
    sink: str = "discard"
    repeats: int = 1
    chunk_size: int | None = None  # None = aligned to the file's tiles (about 1024 px)
    batch_size: int | None = None  # for cucim-batch; None = the worker count

    def check(self) -> list[str]:
        """Raise ValueError / SlideReadError for a plan that cannot run; return notes on what is skipped."""
        return _resolve(self).notes


# -- resolving a plan --


@dataclass
class _Config:
    level: int
    backend: str
    strategy: str
    chunk: str
    workers: int
    repeat: int
    chunk_wh: tuple[int, int]
    regions: list[Region]

    @property
    def megapixels(self) -> float:
        return sum(w * h for _, _, w, h in self.regions) / 1e6

    @property
    def label(self) -> str:
        if self.strategy == "decode-limit":
            return f"decode limit ({self.workers} cores)"
        chunk = "" if self.chunk == "level" else f"/{self.chunk}"
        workers = "" if self.strategy == "serial" else f" x{self.workers}"
        return f"{self.backend} {self.strategy}{chunk}{workers}"


@dataclass
class _Resolved:
    levels: list[int]
    backends: list[str]
    configs: list[_Config]
    notes: list[str]


def _check_names(kind: str, given: list, allowed) -> None:
    if not given:
        raise ValueError(f"no {kind} given")
    unknown = [g for g in given if g not in allowed]
    if unknown:
        raise ValueError(f"unknown {kind} {', '.join(map(str, unknown))}; choose from {', '.join(allowed)}")


def _check_fits(plan: BenchPlan, slide: Slide, level: int, strategies: list[str]) -> None:
    import psutil

    w, h = slide.level_dimensions[level]
    nbytes = w * h * slide.samples * slide.dtype.itemsize
    whole = [s for s in strategies if STRATEGY_TABLE[s].whole_level]
    if plan.sink == "assemble" or whole:
        available, margin = psutil.virtual_memory().available, _memory_margin()
        if nbytes > available - margin:
            why = "the assemble sink" if plan.sink == "assemble" else f"the {whole[0]} strategy (one call, whole level)"
            raise ValueError(
                f"level {level} ({w}x{h}, {_gib(nbytes)}) does not fit in memory for {why}: "
                f"{_gib(available)} available, {_gib(margin)} kept free; "
                "choose a smaller level or the discard or zarr sink"
            )
    if plan.sink == "assemble" and "processes" in strategies and os.path.isdir("/dev/shm"):
        free = shutil.disk_usage("/dev/shm").free
        if nbytes > free:
            raise ValueError(
                f"level {level} ({_gib(nbytes)}) does not fit in shared memory (/dev/shm has {_gib(free)} free) "
                "for processes with the assemble sink; use the discard or zarr sink, or enlarge /dev/shm"
            )
    if plan.sink == "zarr":
        free = shutil.disk_usage(tempfile.gettempdir()).free
        if nbytes > free - _GIB:
            raise ValueError(
                f"level {level} ({_gib(nbytes)}) does not fit in the temporary directory "
                f"{tempfile.gettempdir()} ({_gib(free)} free) for the zarr sink"
            )


def _resolve(plan: BenchPlan) -> _Resolved:
    _check_names("strategy", plan.strategies, STRATEGY_TABLE)
    _check_names("chunking", plan.chunkings, CHUNKINGS)
    _check_names("backend", plan.backends, BACKENDS)
    if plan.sink not in SINKS:
        raise ValueError(f"unknown sink {plan.sink!r}; choose from {', '.join(SINKS)}")
    if not plan.workers or any(int(w) < 1 for w in plan.workers):
        raise ValueError(f"worker counts must be at least 1, not {plan.workers}")
    if plan.repeats < 1:
        raise ValueError(f"repeats must be at least 1, not {plan.repeats}")
    if plan.chunk_size is not None and plan.chunk_size < 16:
        raise ValueError(f"chunk size must be at least 16 pixels, not {plan.chunk_size}")
    if plan.batch_size is not None and plan.batch_size < 1:
        raise ValueError(f"batch size must be at least 1, not {plan.batch_size}")
    notes: list[str] = []
    with open_cpu(plan.path) as slide:
        levels = list(range(slide.level_count)) if plan.levels is None else [int(v) for v in plan.levels]
        for level in levels:
            if not 0 <= level < slide.level_count:
                raise ValueError(f"level {level} does not exist: the slide has levels 0 to {slide.level_count - 1}")
        installed = available_backends()
        backends = []
        for name in dict.fromkeys(plan.backends):
            if name not in installed:
                notes.append(f"{name} is not installed: skipped")
                continue
            try:
                open_cpu(plan.path, name).close()
            except SlideReadError as exc:
                notes.append(f"{name} cannot read this slide ({exc.reason}): skipped")
                continue
            backends.append(name)
        if not backends:
            raise ValueError("none of the backends " + ", ".join(plan.backends) + " can read this slide")
        strategies = list(dict.fromkeys(plan.strategies))
        for name in list(strategies):
            check = STRATEGY_TABLE[name].problem
            if check and (problem := check()):
                notes.append(f"the {name} strategy cannot run here ({problem}): skipped")
                strategies.remove(name)
        for name in strategies:
            needs = STRATEGY_TABLE[name].backends
            if needs and not set(needs) & set(backends):
                notes.append(f"the {name} strategy needs the {' or '.join(needs)} backend: skipped")
        runnable = [s for s in strategies if _runs_on(s, backends)]
        if not runnable:
            raise ValueError(f"nothing to measure: {notes[-1].removesuffix(': skipped')}")
        for level in levels:
            _check_fits(plan, slide, level, runnable)
        configs = _configs(plan, slide, levels, backends, strategies)
    return _Resolved(levels, backends, configs, notes)


def _runs_on(strategy: str, backends: list[str]) -> bool:
    needs = STRATEGY_TABLE[strategy].backends
    return needs is None or bool(set(needs) & set(backends))


def _configs(plan: BenchPlan, slide: Slide, levels: list[int], backends: list[str], strategies: list[str]):
    configs = []
    workers = list(dict.fromkeys(int(w) for w in plan.workers))
    chunkings = list(dict.fromkeys(plan.chunkings))
    for level in levels:
        w, h = slide.level_dimensions[level]
        tiles = slide.tiles[level]
        tile_rows = [(0, y, w, min(tiles.tile_height, h - y)) for y in range(0, h, tiles.tile_height)]
        # The decode limit decodes the file's own tiles; formats OpenSlide alone reads have none to hand.
        for repeat in range(plan.repeats if tiles.has_raw_tiles else 0):
            configs.append(_Config(level, "imagecodecs", "decode-limit", "tiles", cores(), repeat, (w, h), tile_rows))
        for repeat in range(plan.repeats):
            for backend in backends:
                for name in strategies:
                    spec = STRATEGY_TABLE[name]
                    if spec.backends and backend not in spec.backends:
                        continue
                    for chunk in ["level"] if spec.whole_level else chunkings:
                        cw, ch = chunk_shape(slide, level, chunk, plan.chunk_size)
                        cut = regions(w, h, cw, ch)
                        for n in workers if spec.parallel else [1]:
                            configs.append(_Config(level, backend, name, chunk, n, repeat, (cw, ch), cut))
    return configs


# -- reference and machine --


class _Reference:
    """The serial cuCIM reading of a level (tifffile when cuCIM cannot read the file), as a checksum.

    The pixels are not kept: a record whose checksum differs re-reads them band by
    band to find its largest difference.
    """

    def __init__(self, slide: Slide, level: int) -> None:
        self.slide, self.level = slide, level
        self.width, self.height = slide.level_dimensions[level]
        self.checksum: str | None = None

    def band(self, y: int, rows: int) -> np.ndarray:
        return self.slide.read_level(self.level, 0, y, self.width, rows).reshape(rows, self.width, -1)

    def compute(self, cancelled) -> None:
        self.checksum = checksum(
            ((y, self.band(y, min(512, self.height - y))) for y in range(0, self.height, 512)), cancelled
        )

    def max_abs_diff(self, bands, cancelled) -> int | None:
        worst = 0
        for y, band in bands:
            if cancelled():
                return None
            band = np.asarray(band)
            ref = self.band(y, band.shape[0])
            if not np.array_equal(band, ref):
                worst = max(worst, int(np.abs(band.astype(np.int32) - ref.astype(np.int32)).max()))
        return worst


def _library_versions() -> dict:
    versions = {"cucim": cucim_version()}
    for module in ("numpy", "tifffile", "imagecodecs", "zarr", "openslide", "tiffslide"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:
            versions[module] = None
    try:
        import imagecodecs

        versions["libjpeg_turbo"] = imagecodecs.jpeg8_version().split(" ")[-1]
    except Exception:
        versions["libjpeg_turbo"] = None
    try:
        import openslide

        versions["openslide_library"] = openslide.__library_version__
    except Exception:
        versions["openslide_library"] = None
    return versions


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    import psutil

    return {
        "cores": cores(),
        "cpu": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / _GIB, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        **_library_versions(),
    }


def slide_info(slide: Slide) -> dict:
    return {
        "path": slide.path,
        "vendor": slide.vendor,
        "backend": slide.backend,
        "fallback_reason": slide.fallback_reason,
        "level_dimensions": [list(d) for d in slide.level_dimensions],
        "level_tile_sizes": [list(t) for t in slide.level_tile_sizes],
        "level_downsamples": list(slide.level_downsamples),
        "mpp": list(slide.mpp) if slide.mpp else None,
        "compression": [t.compression for t in slide.tiles],
        "file_size": os.path.getsize(slide.path),
    }


# -- measuring --


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
        while not self._stop.wait(0.02):
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


@dataclass
class _Outcome:
    error: BaseException | None = None
    checksum: str | None = None
    max_abs_diff: int | None = None
    setup_seconds: float = 0.0


def _drive(job: Job, strategy: Strategy, reference: _Reference | None, outcome: _Outcome) -> None:
    """Runs in the driver thread: set up the sink, run the strategy, check the stored pixels."""
    sink = job.sink
    begin = time.perf_counter()
    try:
        if not (strategy.whole_level and isinstance(sink, ArraySink)):  # cuCIM hands over its own array
            # Process workers fault in their own parts of the shared array.
            sink.open(touch=not strategy.uses_processes)
        strategy.run(job)
        outcome.setup_seconds = (job.t0 or begin) - begin
        if sink.keeps_pixels and reference is not None:
            outcome.checksum = checksum(sink.bands(), job.cancelled.is_set)
            if outcome.checksum == reference.checksum:
                outcome.max_abs_diff = 0
            elif outcome.checksum is not None:
                outcome.max_abs_diff = reference.max_abs_diff(sink.bands(), job.cancelled.is_set)
    except BaseException as exc:
        outcome.error = exc
    finally:
        sink.close()


def _in_background(work, cancel: threading.Event, progress) -> Generator[Progress, None, None]:
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


class _Run:
    """State of one ``run_plan``: open slides, limits, references, progress."""

    def __init__(self, plan: BenchPlan, resolved: _Resolved) -> None:
        self.plan, self.resolved = plan, resolved
        self.slides: dict[str, Slide] = {}
        self.limits: dict[int, float] = {}  # level -> MP/s
        self.references: dict[int, _Reference] = {}
        self.records: list[Record] = []
        self.total_tasks = sum(len(c.regions) for c in resolved.configs)
        self.total_mpx = sum(c.megapixels for c in resolved.configs)
        self.done_tasks = 0
        self.done_mpx = 0.0
        self.started = time.perf_counter()

    def slide(self, backend: str) -> Slide:
        if backend not in self.slides:
            self.slides[backend] = open_cpu(self.plan.path, backend)
        return self.slides[backend]

    def close(self) -> None:
        for slide in self.slides.values():
            slide.close()
        self.slides.clear()

    def progress(self, message: str, job: Job | None = None, config: _Config | None = None, record=None) -> Progress:
        tasks, mpx = self.done_tasks, self.done_mpx
        if job is not None and config is not None:
            tasks += len(job.tasks)
            mpx += config.megapixels * len(job.tasks) / max(1, len(config.regions))
        elapsed = time.perf_counter() - self.started
        eta = elapsed * (self.total_mpx - mpx) / mpx if mpx > 0 else None
        return Progress(min(tasks, self.total_tasks), self.total_tasks, eta, message, record)

    def reference(self, level: int) -> Generator[Progress, None, _Reference]:
        if level not in self.references:
            name = "cucim" if "cucim" in available_backends() else "tifffile"
            try:
                slide = self.slide(name)
            except SlideReadError:
                slide = self.slide(self.resolved.backends[0])
            ref = _Reference(slide, level)
            cancel = threading.Event()
            errors: list[BaseException] = []

            def work() -> None:
                try:
                    ref.compute(cancel.is_set)
                except BaseException as exc:
                    errors.append(exc)

            message = f"level {level}: reading the {slide.backend} reference"
            yield from _in_background(work, cancel, lambda: self.progress(message))
            if errors:
                raise errors[0]
            self.references[level] = ref
        return self.references[level]

    def measure(self, config: _Config) -> Generator[Progress, None, Record]:
        strategy = DECODE_LIMIT if config.strategy == "decode-limit" else STRATEGY_TABLE[config.strategy]
        slide = self.slide("tifffile" if config.strategy == "decode-limit" else config.backend)
        reference = None
        sink_kind = "discard" if config.strategy == "decode-limit" else self.plan.sink
        if sink_kind != "discard":
            reference = yield from self.reference(config.level)
        h, w = slide.level_shape(config.level)[:2]
        sink = make_sink(
            sink_kind, (h, w, slide.samples), slide.dtype, self._zarr_chunks(slide, config), strategy.uses_processes
        )
        job = Job(slide, config.level, config.regions, sink, config.workers, self.plan.batch_size)
        sampler = _RssSampler(job)
        job.on_clock = sampler
        outcome = _Outcome()
        repeat = f" (repeat {config.repeat + 1}/{self.plan.repeats})" if self.plan.repeats > 1 else ""
        message = f"level {config.level}: {config.label}{repeat}"
        try:
            yield from _in_background(
                lambda: _drive(job, strategy, reference, outcome),
                job.cancelled,
                lambda: self.progress(message, job, config),
            )
        finally:
            sampler.stop()
            sink.close()  # the driver closes it too; this covers a driver still busy after a cancel
        if outcome.error is not None:
            raise outcome.error
        self.done_tasks += len(config.regions)
        self.done_mpx += config.megapixels
        return self._record(config, job, sink_kind, sampler.peak, outcome)

    def _zarr_chunks(self, slide: Slide, config: _Config) -> tuple[int, int]:
        """(height, width) of the Zarr chunks: whole regions, so writers never share a chunk.

        Columns and whole levels are cut in tile-aligned bands instead, or the checksum
        would decompress a full-height chunk for every band it reads.
        """
        cw, ch = config.chunk_wh
        if config.chunk in ("rows", "tiles"):
            return ch, cw
        tw, th = chunk_shape(slide, config.level, "tiles", self.plan.chunk_size)
        return th, (cw if config.chunk == "columns" else tw)

    def _record(self, config: _Config, job: Job, sink: str, peak: int, outcome: _Outcome) -> Record:
        w, h = job.slide.level_dimensions[config.level]
        mpx = w * h / 1e6
        seconds = max(job.elapsed, 1e-9)
        speed = mpx / seconds
        if config.strategy == "decode-limit":
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
            peak_rss_mb=peak / 2**20,
            checksum=outcome.checksum,
            max_abs_diff=outcome.max_abs_diff,
            repeat=config.repeat,
            tasks=sorted(job.tasks, key=lambda t: (t.start, t.worker)),
            sink=sink,
            chunk_width=config.chunk_wh[0],
            chunk_height=config.chunk_wh[1],
            setup_seconds=outcome.setup_seconds,
            note=job.note,
        )


def run_plan(plan: BenchPlan) -> Generator[Progress, None, BenchResult]:
    """Measure ``plan``; yields progress, returns the result.  Close the generator to cancel."""
    resolved = _resolve(plan)
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
    return f"level {record.level}: {record.label}: {record.seconds:.3f} s, {record.mpix_per_s:.0f} MP/s{fraction}"
