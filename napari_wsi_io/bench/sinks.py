"""Where decoded regions go: nowhere (discard), a preallocated array (assemble) or a Zarr store.

A sink is opened before the clock starts (allocating and touching the array is
set-up, the same for every strategy), filled during the measurement, then read back
band by band for the checksum.  Process workers attach to the parent's sink from
``spec()``: the array lives in one ``multiprocessing.shared_memory`` block and the
Zarr store in a temporary directory, both removed by ``close()`` in the parent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator

import numpy as np

from .readers import RegionReader, scratch
from .regions import Region

__all__ = [
    "SHM_PREFIX",
    "SINKS",
    "TEMP_PREFIX",
    "ArraySink",
    "DiscardSink",
    "Sink",
    "ZarrSink",
    "attach",
    "checksum",
    "make_sink",
]

SINKS = ("discard", "assemble", "zarr")
SHM_PREFIX = "napari-wsi-io-bench-"
TEMP_PREFIX = "napari-wsi-io-bench-"
_BAND_ROWS = 512  # rows per band when an assembled level is read back


class Sink:
    """Discards everything; the base of the other sinks."""

    kind = "discard"
    keeps_pixels = False

    def open(self, regions: list[Region] | None = None, touch: bool = True) -> None:
        """Allocate (set-up, not measured); ``touch`` faults the pages in now rather than while timed."""

    def spec(self) -> tuple:
        """What a worker process needs to ``attach`` to this sink."""
        return ("discard",)

    def target(self, region: Region) -> np.ndarray | None:
        """The array a reader fills for ``region``; None: decode and drop."""
        return None

    def commit(self, region: Region, pixels: np.ndarray | None) -> None:
        """Called once ``target(region)`` holds the pixels."""

    def fill(self, region: Region, read: RegionReader) -> tuple[float, float]:
        """Read ``region`` into this sink: one task, in a thread or a worker process; its (start, end) times."""
        start = time.perf_counter()
        target = self.target(region)
        read(region, target)
        self.commit(region, target)
        return start, time.perf_counter()

    def adopt(self, level: np.ndarray) -> None:
        """Take the pixels of the whole level at once (strategies that read the level in one call)."""

    def bands(self) -> Iterator[tuple[int, np.ndarray]]:
        """(y, rows) of the stored level, top to bottom, for the checksum."""
        return iter(())

    def close(self) -> None:
        """Free everything; safe to call twice and from another thread."""


class DiscardSink(Sink):
    pass


def _touch_regions(array: np.ndarray, regions: list[Region] | None) -> None:
    if regions is None:
        array.fill(0)
        return
    for x, y, w, h in regions:
        array[y : y + h, x : x + w] = 0


class ArraySink(Sink):
    """The assembled level: a plain array for threads, shared memory for processes."""

    kind = "assemble"
    keeps_pixels = True

    def __init__(self, shape: tuple[int, int, int], dtype, shared: bool = False, shm_name: str | None = None) -> None:
        self.shape, self.dtype, self.shared = shape, np.dtype(dtype), shared
        self.array: np.ndarray | None = None
        self._shm = None
        self._shm_name = shm_name
        self._owner = shm_name is None

    def open(self, regions: list[Region] | None = None, touch: bool = True) -> None:
        nbytes = int(np.prod(self.shape)) * self.dtype.itemsize
        if self.shared or self._shm_name:
            from multiprocessing import shared_memory

            if self._owner:
                # A recognisable name, so a leak would be easy to spot in /dev/shm.
                self._shm_name = f"{SHM_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
                self._shm = shared_memory.SharedMemory(self._shm_name, create=True, size=max(nbytes, 1))
            else:
                self._shm = shared_memory.SharedMemory(self._shm_name)
            self.array = np.ndarray(self.shape, self.dtype, buffer=self._shm.buf)
        else:
            self.array = np.empty(self.shape, self.dtype)
        if touch:
            _touch_regions(self.array, regions)

    def spec(self) -> tuple:
        return ("shm", self._shm_name, self.shape, self.dtype.str)

    def target(self, region: Region) -> np.ndarray:
        x, y, w, h = region
        return self.array[y : y + h, x : x + w]

    def adopt(self, level: np.ndarray) -> None:
        self.array = level.reshape(self.shape)

    def bands(self) -> Iterator[tuple[int, np.ndarray]]:
        for y in range(0, self.shape[0], _BAND_ROWS):
            yield y, self.array[y : y + _BAND_ROWS]

    def close(self) -> None:
        self.array = None
        shm, self._shm = self._shm, None
        if shm is None:
            return
        if self._owner:
            with contextlib.suppress(FileNotFoundError):
                shm.unlink()
        # A view still alive in a running thread keeps the mapping until it goes.
        with contextlib.suppress(BufferError):
            shm.close()


class ZarrSink(Sink):
    """A temporary Zarr v3 store whose chunks are the regions, so writers never share a chunk."""

    kind = "zarr"
    keeps_pixels = True

    def __init__(self, shape: tuple[int, int, int], dtype, chunks: tuple[int, int], path: str | None = None) -> None:
        self.shape, self.dtype, self.chunks = shape, np.dtype(dtype), chunks
        self._dir: str | None = None
        self._path = path
        self._owner = path is None
        self._array = None

    def open(self, regions: list[Region] | None = None, touch: bool = True) -> None:
        import zarr

        if self._owner:
            from zarr.codecs import BloscCodec

            self._dir = tempfile.mkdtemp(prefix=TEMP_PREFIX)
            self._path = os.path.join(self._dir, "level.zarr")
            # lz4 at level 1: light enough that the store measures writing, not compressing.
            self._array = zarr.create_array(
                store=self._path,
                shape=self.shape,
                chunks=(*self.chunks, self.shape[2]),
                dtype=self.dtype,
                compressors=[BloscCodec(cname="lz4", clevel=1, shuffle="noshuffle")],
                fill_value=0,
                zarr_format=3,
            )
        else:
            self._array = zarr.open_array(self._path, mode="r+")

    def spec(self) -> tuple:
        return ("zarr", self._path, self.shape, self.dtype.str, self.chunks)

    def target(self, region: Region) -> np.ndarray:
        x, y, w, h = region
        return scratch("zarr", (h, w, self.shape[2]), self.dtype)

    def commit(self, region: Region, pixels: np.ndarray | None) -> None:
        x, y, w, h = region
        self._array[y : y + h, x : x + w] = pixels

    def adopt(self, level: np.ndarray) -> None:
        level = level.reshape(self.shape)
        ch, cw = self.chunks
        for y in range(0, self.shape[0], ch):
            for x in range(0, self.shape[1], cw):
                self._array[y : y + ch, x : x + cw] = level[y : y + ch, x : x + cw]

    def bands(self) -> Iterator[tuple[int, np.ndarray]]:
        rows = self.chunks[0]
        for y in range(0, self.shape[0], rows):
            yield y, self._array[y : y + rows]

    def close(self) -> None:
        self._array = None
        directory, self._dir = self._dir, None
        if directory:
            shutil.rmtree(directory, ignore_errors=True)


def make_sink(kind: str, shape: tuple[int, int, int], dtype, chunks: tuple[int, int], shared: bool) -> Sink:
    """A new (unopened) sink; ``chunks`` is the (height, width) of the regions."""
    if kind == "discard":
        return DiscardSink()
    if kind == "assemble":
        return ArraySink(shape, dtype, shared=shared)
    if kind == "zarr":
        return ZarrSink(shape, dtype, chunks)
    raise ValueError(f"unknown sink {kind!r}; choose from {', '.join(SINKS)}")


def attach(spec: tuple) -> Sink:
    """The worker's side of a parent's sink (opened, not touched)."""
    kind = spec[0]
    if kind == "discard":
        return DiscardSink()
    if kind == "shm":
        _, name, shape, dtype = spec
        sink = ArraySink(tuple(shape), dtype, shm_name=name)
    elif kind == "zarr":
        _, path, shape, dtype, chunks = spec
        sink = ZarrSink(tuple(shape), dtype, tuple(chunks), path=path)
    else:
        raise ValueError(f"unknown sink spec {spec!r}")
    sink.open(touch=False)
    return sink


def checksum(bands: Iterator[tuple[int, np.ndarray]], cancelled: Callable[[], bool] = lambda: False) -> str | None:
    """SHA-256 of the level's bytes in row-major (y, x, sample) order; None when cancelled.

    Row bands of a C-ordered level are consecutive bytes, so any band height gives
    the same digest.
    """
    digest = hashlib.sha256()
    for _, band in bands:
        if cancelled():
            return None
        digest.update(np.ascontiguousarray(band))
    return digest.hexdigest()
