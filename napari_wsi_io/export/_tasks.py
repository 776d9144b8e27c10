"""What runs on a worker: read one block of a level from the slide and write it into the store.

A task gets the slide either as the open ``Slide`` (threads share it) or as a
``SlideRef`` (worker processes and dask.distributed workers open the slide
themselves, once, and keep it for their next tasks).  The array always
travels as an ``ArrayRef``.  Only these references and the number of pixels
written cross process boundaries: never pixels.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._errors import SlideReadError
from .._scratch import scratch
from ..backends import Slide, open_slide
from ._codecs import register_jpeg_codec
from ._planes import export_view
from ._store import ArrayWriter, ShardFile

__all__ = ["ArrayRef", "SlideRef", "forget_store", "opened_slides", "write_block"]

_MAX_SLIDES = 4
_MAX_ARRAYS = 32
_READ_BLOCK = 1024  # px per side of one read inside a shard: one block of pixels in memory per task


@dataclass(frozen=True)
class SlideRef:
    """A slide by path (or URL), backend and colour; mtime (or ETag) and size make a rewritten file reopen.

    A worker opening a remote slide fetches its own byte ranges, and refuses an object whose ETag or
    size is no longer the one the export started with.
    """

    path: str
    backend: str
    mtime_ns: int
    size: int
    etag: str | None = None
    colour: str = "raw"

    @classmethod
    def of(cls, slide: Slide) -> SlideRef:
        if slide.is_remote:
            source = slide.source
            return cls(source.url, slide.backend, 0, source.size, source.etag, slide.colour)
        stat = os.stat(slide.path)
        return cls(os.path.abspath(slide.path), slide.backend, stat.st_mtime_ns, stat.st_size, colour=slide.colour)

    def open(self) -> Slide:
        slide = open_slide(self.path, backend=self.backend, colour=self.colour)
        if slide.is_remote and (slide.source.size, slide.source.etag) != (self.size, self.etag):
            slide.close()
            raise SlideReadError(slide.path, "the file changed on the server since the export started (size or ETag)")
        return slide


@dataclass(frozen=True)
class ArrayRef:
    """One array of an export in progress: store root and array path."""

    root: str
    path: str
    jpeg: bool = False


class _Cache:
    """A small LRU of open objects, shared by the threads of one process."""

    def __init__(self, limit: int, close: Callable | None = None) -> None:
        self.limit, self.close = limit, close
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, opener: Callable):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = opener()  # outside the lock: opening a slide takes a while
        with self.lock:
            if key in self.items:  # another thread won the race
                if self.close:
                    self.close(value)
                return self.items[key]
            self.items[key] = value
            while len(self.items) > self.limit:
                _, old = self.items.popitem(last=False)
                if self.close:
                    self.close(old)
        return value

    def drop(self, keep: Callable) -> None:
        with self.lock:
            for key in [k for k in self.items if not keep(k)]:
                value = self.items.pop(key)
                if self.close:
                    self.close(value)


_slides = _Cache(_MAX_SLIDES, close=lambda slide: slide.close())
_writers = _Cache(_MAX_ARRAYS)


def _slide(source: Slide | SlideRef) -> Slide:
    if not isinstance(source, SlideRef):
        return source
    return _slides.get(source, lambda: export_view(source.open()))


def _writer(target: ArrayRef) -> ArrayWriter:
    def opener():
        if target.jpeg:
            register_jpeg_codec()
        return ArrayWriter(target.root, target.path)

    return _writers.get(target, opener)


def write_block(source: Slide | SlideRef, target: ArrayRef, level: int, x: int, y: int, width: int, height: int) -> int:
    """Copy one chunk-aligned block of a level into its array; return the pixels written.

    Blocks never share a chunk, and for a sharded array a block is one whole
    shard, so tasks can run in any order and in parallel: no two write one file.
    """
    if not os.path.isdir(target.root):
        # The export was cancelled and its store removed: writing would recreate directories.
        return 0
    slide, writer = _slide(source), _writer(target)
    if not writer.shard:
        writer.write(_planar(slide.read_level(level, x, y, width, height), writer), _offset(writer, x, y))
        return width * height
    index = tuple(o // s for o, s in zip(_offset(writer, x, y), writer.shard))
    shard = ShardFile(writer, index)
    try:
        step = writer.chunks[-1] * max(1, _READ_BLOCK // writer.chunks[-1])
        for by in range(y, y + height, step):
            for bx in range(x, x + width, step):
                w, h = min(step, x + width - bx), min(step, y + height - by)
                shard.add(_planar(slide.read_level(level, bx, by, w, h), writer), _offset(writer, bx, by))
    except BaseException:
        shard.abort()
        raise
    shard.close()
    return width * height


def _offset(writer: ArrayWriter, x: int, y: int) -> tuple[int, ...]:
    return (0,) * (len(writer.shape) - 2) + (y, x)


def _planar(pixels: np.ndarray, writer: ArrayWriter) -> np.ndarray:
    """A block read as (y, x, samples) laid out as the array's (..., y, x), in this thread's reused buffer:
    RGB's samples become ``c``, a channel slide's planes ``t, c, z`` (``_planes``); grayscale stays as is.

    The writer has encoded this thread's last block by now: the buffer is free again.  Reading
    without ``out``: cuCIM would copy into it.
    """
    if pixels.ndim != 3:
        return pixels
    planar = scratch("cyx", (pixels.shape[2], *pixels.shape[:2]), pixels.dtype)
    np.copyto(planar, pixels.transpose(2, 0, 1))
    return planar.reshape(*writer.shape[:-2], *pixels.shape[:2])


def forget_store(root: str) -> None:
    """Drop the cached arrays of one export (its store was renamed or removed)."""
    _writers.drop(lambda ref: ref.root != root)


def opened_slides() -> list[str]:
    """Paths of the slides this process holds open for export tasks (for checks on workers)."""
    with _slides.lock:
        return [ref.path for ref in _slides.items]
