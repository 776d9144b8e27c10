"""What to measure (``BenchPlan``) and the list of configurations it resolves to.

``resolve(plan)`` checks the names, the slide, the backends and strategies that can
run here (noting those it skips) and that each level fits where the sink keeps it;
then it lists every configuration: per level the decode-limit repeats first, then
repeats interleaved (backend x strategy x chunking x workers in each), so a change in
the machine's load hits every configuration alike.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field

from .._errors import SlideReadError
from ..backends import BACKENDS, Slide, available_backends, is_url
from .readers import open_cpu
from .regions import CHUNKINGS, Region, chunk_shape, regions
from .sinks import SINKS
from .strategies import DEFAULT_STRATEGIES, STRATEGY_TABLE, cores, strategy_named

__all__ = ["BenchPlan", "Config", "Resolved", "resolve", "zarr_chunks"]

_GIB = 1 << 30


@dataclass
class BenchPlan:
    """What to measure.  ``check()`` validates it; ``run_plan`` runs it."""

    path: str
    levels: list[int] | None = None  # None = every level ("all")
    backends: list[str] = field(default_factory=lambda: ["cucim"])
    strategies: list[str] = field(default_factory=lambda: list(DEFAULT_STRATEGIES))
    chunkings: list[str] = field(default_factory=lambda: ["tiles"])
    workers: list[int] = field(default_factory=lambda: [1, 2])
    sink: str = "discard"
    repeats: int = 1
    chunk_size: int | None = None  # None = aligned to the file's tiles (about 1024 px)
    batch_size: int | None = None  # for cucim-batch; None = the worker count
    #: A URL's requests in flight, each measured (what the network costs); ignored for local files.
    in_flight: list[int] = field(default_factory=lambda: [1, 4, 16, 64])
    colour: str = "raw"  # "srgb": reads through the slide's ICC profile (cuCIM's own strategies stay raw)

    def check(self) -> list[str]:
        """Raise ValueError / SlideReadError for a plan that cannot run; return notes on what is skipped."""
        return resolve(self).notes


@dataclass
class Config:
    """One configuration to measure: a strategy on a level, at one chunking and worker count, one repeat."""

    level: int
    backend: str
    strategy: str
    chunk: str
    workers: int
    repeat: int
    chunk_wh: tuple[int, int]
    regions: list[Region]
    in_flight: int = 0  # a URL's requests in flight; 0 for a local file

    @property
    def megapixels(self) -> float:
        return sum(w * h for _, _, w, h in self.regions) / 1e6


@dataclass
class Resolved:
    levels: list[int]
    backends: list[str]
    configs: list[Config]
    notes: list[str]


def resolve(plan: BenchPlan) -> Resolved:
    """The configurations ``plan`` measures here; raises ValueError / SlideReadError when it cannot run."""
    _check_options(plan)
    notes: list[str] = []
    with open_cpu(plan.path, colour=plan.colour) as slide:
        levels = list(range(slide.level_count)) if plan.levels is None else [int(v) for v in plan.levels]
        for level in levels:
            if not 0 <= level < slide.level_count:
                raise ValueError(f"level {level} does not exist: the slide has levels 0 to {slide.level_count - 1}")
        backends = _usable_backends(plan, notes)
        strategies = _usable_strategies(plan, backends, notes)
        runnable = [s for s in strategies if _runs_on(s, backends)]
        if not runnable:
            raise ValueError(f"nothing to measure: {notes[-1].removesuffix(': skipped')}")
        for level in levels:
            _check_fits(plan, slide, level, runnable)
        configs = _configs(plan, slide, levels, backends, strategies)
    return Resolved(levels, backends, configs, notes)


# -- checks --


def _check_names(kind: str, given: list, allowed) -> None:
    if not given:
        raise ValueError(f"no {kind} given")
    unknown = [g for g in given if g not in allowed]
    if unknown:
        raise ValueError(f"unknown {kind} {', '.join(map(str, unknown))}; choose from {', '.join(allowed)}")


def _check_options(plan: BenchPlan) -> None:
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


def _usable_backends(plan: BenchPlan, notes: list[str]) -> list[str]:
    """The plan's backends that are installed and can read the slide; a note for each of the others."""
    installed = available_backends()
    backends = []
    asked = dict.fromkeys(plan.backends)
    if is_url(plan.path):  # cuCIM and OpenSlide read local files only
        notes += [f"{name} reads local files only: skipped" for name in asked if name != "tifffile"]
        asked = {"tifffile": None}
    for name in asked:
        if name not in installed:
            notes.append(f"{name} is not installed: skipped")
            continue
        try:
            open_cpu(plan.path, name, plan.colour).close()
        except SlideReadError as exc:
            notes.append(f"{name} cannot read this slide ({exc.reason}): skipped")
            continue
        backends.append(name)
    if not backends and (own := _channel_backend(plan.path)):
        notes.append(f"the slide's channels are read by {own}: measured with it")
        backends.append(own)
    if not backends:
        raise ValueError("none of the backends " + ", ".join(plan.backends) + " can read this slide")
    return backends


def _channel_backend(path: str) -> str | None:
    """The backend that reads a slide's channels (tifffile, or libCZI for a CZI); None for a slide without."""
    try:
        with open_cpu(path) as slide:
            return slide.backend if slide.channels is not None else None
    except SlideReadError:
        return None


def _usable_strategies(plan: BenchPlan, backends: list[str], notes: list[str]) -> list[str]:
    """The plan's strategies that can run on this machine; a note for those that cannot or lack their backend."""
    strategies = list(dict.fromkeys(plan.strategies))
    for name in list(strategies):
        check = STRATEGY_TABLE[name].problem
        if check and (problem := check()):
            notes.append(f"the {name} strategy cannot run here ({problem}): skipped")
            strategies.remove(name)
    for name in strategies:
        if not _runs_on(name, backends):
            needs = STRATEGY_TABLE[name].backends
            notes.append(f"the {name} strategy needs the {' or '.join(needs)} backend: skipped")
    return strategies


def _runs_on(strategy: str, backends: list[str]) -> bool:
    needs = STRATEGY_TABLE[strategy].backends
    return needs is None or bool(set(needs) & set(backends))


def _memory_margin() -> int:
    import psutil

    return max(_GIB // 2, psutil.virtual_memory().total // 10)


def _gib(nbytes: float) -> str:
    return f"{nbytes / _GIB:.1f} GiB"


def _check_fits(plan: BenchPlan, slide: Slide, level: int, strategies: list[str]) -> None:
    """Refuse a level that does not fit where the sink (or a whole-level strategy) keeps it."""
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
    processes = any(STRATEGY_TABLE[s].uses_processes for s in strategies)
    if plan.sink == "assemble" and processes and os.path.isdir("/dev/shm"):
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


# -- configurations --


def _configs(plan: BenchPlan, slide: Slide, levels: list[int], backends: list[str], strategies: list[str]):
    configs = []
    for level in levels:
        configs += _decode_limit_configs(plan, slide, level)
        for repeat in range(plan.repeats):
            for backend in backends:
                for name in strategies:
                    configs += _strategy_configs(plan, slide, level, backend, name, repeat)
    return configs


def _decode_limit_configs(plan: BenchPlan, slide: Slide, level: int) -> list[Config]:
    w, h = slide.level_dimensions[level]
    tiles = slide.tiles[level]
    if not tiles.has_raw_tiles and slide.backend != "czi":  # OpenSlide's formats: no raw tiles to hand
        return []
    tile_rows = [(0, y, w, min(tiles.tile_height, h - y)) for y in range(0, h, tiles.tile_height)]
    return [
        Config(level, "imagecodecs", "decode-limit", "tiles", cores(), repeat, (w, h), tile_rows)
        for repeat in range(plan.repeats)
    ]


def _strategy_configs(plan: BenchPlan, slide: Slide, level: int, backend: str, name: str, repeat: int) -> list[Config]:
    """One configuration per chunking and worker count that strategy ``name`` takes (none off its backends)."""
    spec = strategy_named(name)
    if spec.backends and backend not in spec.backends:
        return []
    w, h = slide.level_dimensions[level]
    configs = []
    for chunk in ["level"] if spec.whole_level else dict.fromkeys(plan.chunkings):
        cw, ch = chunk_shape(slide, level, chunk, plan.chunk_size)
        cut = regions(w, h, cw, ch)
        for n in dict.fromkeys(int(count) for count in plan.workers) if spec.parallel else [1]:
            for requests in dict.fromkeys(int(r) for r in plan.in_flight) if is_url(plan.path) else [0]:
                configs.append(Config(level, backend, name, chunk, n, repeat, (cw, ch), cut, requests))
    return configs


def zarr_chunks(slide: Slide, config: Config, chunk_size: int | None) -> tuple[int, int]:
    """(height, width) of the Zarr sink's chunks: whole regions, so writers never share a chunk.

    Columns and whole levels are cut in tile-aligned bands instead, or the checksum
    would decompress a full-height chunk for every band it reads.
    """
    cw, ch = config.chunk_wh
    if config.chunk in ("rows", "tiles"):
        return ch, cw
    tw, th = chunk_shape(slide, config.level, "tiles", chunk_size)
    return th, (cw if config.chunk == "columns" else tw)
