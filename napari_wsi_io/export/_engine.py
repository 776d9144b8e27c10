"""The export engine: a generator of progress events that returns a summary.

``export_steps`` plans the blocks, creates the store under a temporary name,
keeps a few block tasks in flight on the chosen executor, yields after each
finished task (so napari's ``worker.quit()`` or ``generator.close()`` stops it
there), and renames the store into place only when every block is written.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from ..backends import Slide, is_url, open_slide, redact
from ._codecs import Compression, parse_compression
from ._ngff import image_attributes
from ._planes import export_view
from ._schedulers import open_executor
from ._store import DEFAULT_CHUNK, DEFAULT_FORMAT, Layout, create_arrays, write_attributes
from ._tasks import ArrayRef, SlideRef, forget_store, write_block
from ._upload import staged_output

__all__ = ["ExportError", "ExportProgress", "ExportSummary", "export_ome_zarr", "export_steps", "parse_levels"]

_TARGET_BLOCK = 1024  # px per side of one unsharded task: a few MB of pixels, enough to amortise its overhead
_TASKS_PER_WORKER = 2  # in flight: one running, one queued, so no worker idles between tasks
_HEARTBEAT_S = 0.5  # longest time between two progress events, so a cancel is seen quickly
PARTIAL_MARK = ".partial-"


class ExportError(Exception):
    """An export task failed for a reason other than a bad slide (a lost worker, for instance)."""


@dataclass(frozen=True)
class ExportProgress:
    """One progress event: ``done`` of ``total`` pixels written, ``eta`` in seconds (None until known)."""

    done: int
    total: int
    eta: float | None
    message: str

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote and how fast."""

    path: str
    levels: tuple[int, ...]
    pixels: int
    seconds: float
    raw_bytes: int  # uncompressed size of the exported pixels
    output_bytes: int  # size of the store on disk
    source_bytes: int | None  # compressed size of the same levels in the slide (None: not known)
    compression: str
    scheduler: str
    layout: str = ""  # NGFF version, chunks and shards
    extra: dict = field(default_factory=dict)

    @property
    def megapixels_per_second(self) -> float:
        return self.pixels / 1e6 / self.seconds if self.seconds > 0 else float("inf")

    @property
    def compression_ratio(self) -> float:
        """Uncompressed pixel bytes per stored byte."""
        return self.raw_bytes / self.output_bytes if self.output_bytes else float("inf")

    def __str__(self) -> str:
        return (
            f"wrote {self.path}: {self.layout}, levels {','.join(map(str, self.levels))}, {self.pixels / 1e6:.1f} MP in "
            f"{self.seconds:.1f} s ({self.megapixels_per_second:.1f} MP/s, {self.scheduler}); "
            f"{_size(self.output_bytes)} on disk, compression {self.compression} ratio "
            f"{self.compression_ratio:.2f}:1"
            + (
                f" ({self.output_bytes / max(self.source_bytes, 1):.2f}x the slide's tiles)"
                if self.source_bytes
                else ""
            )
        )


def _size(nbytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return ""


def parse_levels(levels: str | Sequence[int] | None, level_count: int) -> list[int]:
    """``None``/``"all"`` -> every level; ``"0,2"`` or ``[0, 2]`` -> those, sorted, without repeats."""
    if levels is None or (isinstance(levels, str) and levels.strip().lower() == "all"):
        return list(range(level_count))
    if isinstance(levels, str):
        try:
            levels = [int(v) for v in levels.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"levels must be 'all' or numbers like 0,2, not {levels!r}") from None
    chosen = sorted(set(int(v) for v in levels))
    if not chosen:
        raise ValueError("no levels to export")
    bad = [v for v in chosen if not 0 <= v < level_count]
    if bad:
        raise ValueError(f"level {bad[0]} does not exist: the slide has levels 0 to {level_count - 1}")
    return chosen


def _check_output(out: Path, overwrite: bool) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if not overwrite:
        raise FileExistsError(f"{out} already exists; pass --overwrite (overwrite=True) to replace it")
    if not out.is_dir() or out.is_symlink():
        raise ValueError(f"refusing to overwrite {out}: it is not a Zarr directory")
    # --overwrite replaces an earlier export, never an arbitrary directory (think of a mistyped path).
    if not any((out / name).exists() for name in (".zgroup", ".zattrs", "zarr.json")) and any(out.iterdir()):
        raise ValueError(f"refusing to overwrite {out}: it is a non-empty directory but not a Zarr store")


def _blocks(slide: Slide, level: int, layout: Layout) -> Iterator[tuple[int, int, int, int]]:
    """(x, y, width, height) of the tasks' blocks covering a level, row by row: whole shards when sharded."""
    w, h = slide.level_dimensions[level]
    side = layout.shard or layout.chunk * max(1, _TARGET_BLOCK // layout.chunk)
    for y in range(0, h, side):
        for x in range(0, w, side):
            yield x, y, min(side, w - x), min(side, h - y)


def _tree_size(root: Path) -> int:
    total = 0
    for entry in os.scandir(root):
        total += _tree_size(Path(entry.path)) if entry.is_dir(follow_symlinks=False) else entry.stat().st_size
    return total


def _source_bytes(slide: Slide, levels: list[int]) -> int | None:
    tiles = [slide.tiles[level] for level in levels]
    return int(sum(int(t.bytecounts.sum()) for t in tiles)) if all(t.has_raw_tiles for t in tiles) else None


def _publish(partial: Path, out: Path, overwrite: bool) -> None:
    """Move the finished store to ``out``; an earlier export there is replaced only now."""
    if not out.exists():
        os.rename(partial, out)
        return
    _check_output(out, overwrite)  # it may have appeared while we were writing
    old = out.with_name(f"{out.name}.old-{secrets.token_hex(4)}")
    os.rename(out, old)
    os.rename(partial, out)
    shutil.rmtree(old, ignore_errors=True)


def export_steps(
    slide: Slide | str | os.PathLike,
    out: str | os.PathLike,
    *,
    levels: str | Sequence[int] | None = None,
    chunk: int = DEFAULT_CHUNK,
    format: str = DEFAULT_FORMAT,
    shard: int | str | None = "auto",
    compression: str | Compression = "zstd",
    scheduler: str = "threads",
    workers: int | None = None,
    overwrite: bool = False,
    backend: str | None = None,
    colour: str = "raw",
) -> Generator[ExportProgress, None, ExportSummary]:
    """Export slide levels to an OME-Zarr store at ``out``, yielding progress.

    ``format`` "0.5" (default) writes NGFF 0.5 on Zarr v3, in shards of ``shard``
    px per side ("auto": 4096; None or "none": one file per chunk), each shard
    written by one task; "0.4" writes NGFF 0.4 on Zarr v2, one file per chunk.

    ``slide`` is an open Slide (exported in its own ``colour``) or a path, opened with ``backend`` and
    ``colour``: "raw" (default: the pixels the file stores) or "srgb" (rendered through its ICC profile).  Nothing
    appears at ``out`` until the export is complete: blocks are written into
    ``<out>.partial-<random>``, which is renamed to ``out`` at the end and
    removed when the export fails or is closed early.  An ``s3://`` (``gs://``,
    ``az://``) ``out`` is written locally, then uploaded (``_upload``).  Raises
    ValueError for bad options, FileExistsError when ``out`` exists and
    ``overwrite`` is false, SlideReadError for a bad slide, and the task's error
    when a block fails.
    """
    remote = os.fspath(out) if is_url(os.fspath(out)) else None
    codec = parse_compression(compression)
    layout = Layout.of(format, chunk, shard)
    with ExitStack() as stack:
        out = stack.enter_context(staged_output(remote, overwrite)) if remote else Path(out).expanduser().absolute()
        _check_output(out, overwrite)
        if not isinstance(slide, Slide):
            slide = stack.enter_context(open_slide(slide, backend=backend, colour=colour))
        slide = export_view(slide)  # a slide that stores channels: every plane
        chosen = parse_levels(levels, slide.level_count)
        codec.check_dtype(slide.dtype)
        out.parent.mkdir(parents=True, exist_ok=True)
        executor = open_executor(scheduler, workers)
        partial = out.with_name(f"{out.name}{PARTIAL_MARK}{secrets.token_hex(4)}")
        pending: set = set()  # the block tasks in flight, for the clean-up
        finished = False
        try:
            create_arrays(partial, slide, chosen, layout, codec)
            seconds = yield from _write_blocks(executor, slide, partial, chosen, layout, codec, pending)
            _write_metadata(partial, slide, chosen, layout, codec)
            _publish(partial, out, overwrite)
            finished = True
        finally:
            _clean_up(executor, pending, partial, finished)
        summary = _summary(out, slide, chosen, seconds, codec, executor.description, layout)
    if remote:
        summary = dataclasses.replace(summary, path=redact(remote))
    yield ExportProgress(summary.pixels, summary.pixels, 0.0, str(summary))
    return summary


def _level_pixels(slide: Slide, levels: list[int]) -> int:
    return sum(w * h for w, h in (slide.level_dimensions[level] for level in levels))


def _write_blocks(
    executor, slide: Slide, partial: Path, levels: list[int], layout: Layout, codec: Compression, pending: set
) -> Generator[ExportProgress, None, float]:
    """Write every block of ``levels`` into the store at ``partial``; return the seconds it took.

    A few tasks per worker are in flight (``pending``, kept up to date for the
    caller's clean-up); a progress event follows each wait, at least every heartbeat.
    """
    source = SlideRef.of(slide) if executor.remote else slide
    todo = (
        (ArrayRef(str(partial), str(i), codec.name == "jpeg"), level, block)
        for i, level in enumerate(levels)
        for block in _blocks(slide, level, layout)
    )
    total = _level_pixels(slide, levels)
    done, start = 0, time.perf_counter()
    window = executor.workers * _TASKS_PER_WORKER
    yield ExportProgress(0, total, None, f"exporting levels {levels} with {executor.description}")
    while True:
        for target, level, block in todo:
            pending.add(executor.submit(write_block, source, target, level, *block))
            if len(pending) >= window:
                break
        if not pending:
            return time.perf_counter() - start
        finished_now, still_running = executor.wait(pending, _HEARTBEAT_S)
        pending.clear()
        pending.update(still_running)
        for future in finished_now:
            done += _result(future)
        elapsed = time.perf_counter() - start
        eta = elapsed * (total - done) / done if done else None
        yield ExportProgress(done, total, eta, f"{done / 1e6:.1f} of {total / 1e6:.1f} MP")


def _write_metadata(partial: Path, slide: Slide, levels: list[int], layout: Layout, codec: Compression) -> None:
    from .. import __version__

    attributes = image_attributes(slide, levels, codec, __version__, layout.ngff)
    write_attributes(partial, attributes, layout.zarr_format)


def _clean_up(executor, pending: set, partial: Path, finished: bool) -> None:
    """Stop the tasks still in flight; remove the partial store unless it was published."""
    executor.shutdown(pending)
    if not executor.remote:
        forget_store(str(partial))
    if not finished:
        shutil.rmtree(partial, ignore_errors=True)


def _summary(
    out: Path, slide: Slide, levels: list[int], seconds: float, codec: Compression, scheduler: str, layout: Layout
) -> ExportSummary:
    pixels = _level_pixels(slide, levels)
    return ExportSummary(
        path=str(out),
        levels=tuple(levels),
        pixels=pixels,
        seconds=seconds,
        raw_bytes=pixels * slide.samples * slide.dtype.itemsize,
        output_bytes=_tree_size(out),
        source_bytes=_source_bytes(slide, levels),
        compression=str(codec),
        scheduler=scheduler,
        layout=str(layout),
    )


def _result(future) -> int:
    try:
        return future.result()
    except (OSError, ValueError, MemoryError, ExportError):
        raise
    except Exception as exc:  # a lost worker, a codec error...: one type, and never a RuntimeError,
        # which napari's worker would swallow as "the worker was deleted".
        raise ExportError(f"export task failed: {type(exc).__name__}: {exc}") from exc


def export_ome_zarr(slide: Slide | str | os.PathLike, out: str | os.PathLike, **options) -> ExportSummary:
    """Export without progress events; same options as ``export_steps``."""
    steps = export_steps(slide, out, **options)
    try:
        while True:
            next(steps)
    except StopIteration as stop:
        return stop.value
    finally:
        steps.close()
