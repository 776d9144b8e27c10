"""``LevelArray``: an array-like view of one level of a slide, whose slices read the pixels."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from ._display.reads import Read
from ._errors import SlideReadError
from ._region_read import NotFetched, read_region
from ._scratch import recycled
from .backends import Slide
from .backends._plane import PlaneSlide

if TYPE_CHECKING:
    from ._display.state import PyramidDisplayState

__all__ = ["LevelArray", "default_chunk"]

# Pixels per side of a chunk read and cached as a whole.  dask costs about 0.1 ms a task on 2 cores:
# a whole level in 512 px chunks computed at 0.72 of raw cuCIM, in 1024 px chunks at 1.0
# (benchmarks/reader_overhead.py).  The displayed levels report half that to napari (``pyramid._display_chunk``).
_TARGET_CHUNK = 1024


def default_chunk(slide: Slide, level: int, target: int = _TARGET_CHUNK) -> tuple[int, int]:
    """(height, width) of a chunk: the largest tile multiple not above ``target`` px (1024)."""
    tw, th = slide.level_tile_sizes[level]
    w, h = slide.level_dimensions[level]
    return (min(h, th * max(1, target // th)), min(w, tw * max(1, target // tw)))


class LevelArray:
    """Array-like view of one level; indexing with slices reads the pixels.

    ``on_error`` decides what a corrupt tile does: None raises the
    ``SlideReadError``; a callable is told about it and the tile reads as zeros
    (the viewer keeps the rest of the slide visible and shows the message).
    ``chunks`` is the chunk shape of the dask array over it; when the array
    belongs to a ``display_pyramid`` (``display`` is its display state), reads
    go whole chunk by whole chunk through the shared cache.
    """

    def __init__(
        self,
        slide: Slide,
        level: int,
        on_error: Callable[[SlideReadError], None] | None = None,
        *,
        chunk: tuple[int, int] | None = None,
        display: PyramidDisplayState | None = None,
    ) -> None:
        self.slide, self.level, self.on_error = slide, level, on_error
        self.shape = slide.level_shape(level)
        self.dtype = slide.dtype
        self.ndim = len(self.shape)
        self.chunks = (*(chunk or default_chunk(slide, level)), *self.shape[2:])
        #: The display state shared by the levels of a ``display_pyramid``; None for ``pyramid``'s levels.
        self.display = display
        self._whole_checked = False  # every tile of the level passed the structural check

    def __repr__(self) -> str:
        return f"LevelArray({self.slide.path!r}, level={self.level}, shape={self.shape}, chunks={self.chunks})"

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        data = self[...]
        return data if dtype is None else data.astype(dtype, copy=False)

    def _spatial(self, key) -> tuple[tuple, tuple[int, int, int], tuple[int, int, int]]:
        """The key padded to every axis, and its (start, stop, step) in y and x."""
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            i = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - len(key) + 1) + key[i + 1 :]
        key = key + (slice(None),) * (self.ndim - len(key))
        spatial = [k if isinstance(k, slice) else slice(k, k + 1) for k in key[:2]]
        ys, xs = (s.indices(n) for s, n in zip(spatial, self.shape))  # noqa: B905
        return key, ys, xs

    def __getitem__(self, key) -> np.ndarray:
        """The pixels; a display pyramid's chunk that no recent view holds is read as a computation."""
        return self._getitem(key, np.empty, Read.VIEW)

    def frame_slice(self, key, kind: Read) -> np.ndarray:
        """``self[key]`` for napari to show until its next slice: read as ``kind`` (``Read.FRAME``: chunks
        not decoded yet drawn coarse; ``Read.VIEW``: waited for), assembled in a recycled buffer."""
        return self._getitem(key, recycled, kind)

    def _getitem(self, key, alloc: Callable[..., np.ndarray], kind: Read) -> np.ndarray:
        key, (y0, y1, sy), (x0, x1, sx) = self._spatial(key)
        if sy < 1 or sx < 1:
            raise IndexError("negative steps are not supported")
        if y1 > y0 and x1 > x0:
            region = self._read(y0, x0, y1 - y0, x1 - x0, alloc, kind)[::sy, ::sx]
        else:
            region = np.zeros((len(range(y0, y1, sy)), len(range(x0, x1, sx)), *self.shape[2:]), self.dtype)
        return region[tuple(slice(None) if isinstance(k, slice) else 0 for k in key[:2]) + key[2:]]

    def _chunk_ranges(self, y: int, x: int, h: int, w: int) -> tuple[range, range]:
        ch, cw = self.chunks[:2]
        return range(y // ch, (y + h - 1) // ch + 1), range(x // cw, (x + w - 1) // cw + 1)

    def _view(self, key) -> tuple[range, range] | None:
        """The cached chunks under a displayed level's region small enough to be a view; None otherwise."""
        display = self.display
        try:
            _, (y0, y1, _), (x0, x1, _) = self._spatial(key)
        except (TypeError, ValueError):  # fancy indexing: no view to speak of
            return None
        if display is None or y1 <= y0 or x1 <= x0:
            return None
        itemsize = self.dtype.itemsize * (self.shape[2] if self.ndim > 2 else 1)
        if (y1 - y0) * (x1 - x0) * itemsize > display.cache.max_bytes // 2:
            return None  # a computation, not a view: queued chunks would push each other out of the cache
        return self._chunk_ranges(y0, x0, y1 - y0, x1 - x0)

    def viewed(self, key) -> None:
        """Someone (napari) slices this region: have the workers decode it and guess the next one."""
        ranges = self._view(key)
        if ranges is not None:
            self.display.viewed(self.level, *ranges)

    def read_as_one(self, key) -> bool:
        """A channel's view (a ``PlaneSlide``'s region small enough to be one) is read in one dask task, from
        its cached chunks: a task per display chunk, a quarter of a cached chunk each, made the dask threads
        wait for one another's decodes (0.4 of the backend's own read of a 2048 px region, two cores)."""
        return isinstance(self.slide, PlaneSlide) and self._view(key) is not None

    def read_whole(self) -> np.ndarray | None:
        """The whole level in one cuCIM read with a worker per core, as fast as raw cuCIM; None where that
        does not apply (another backend or device, a damaged tile to report and blank): then read it by chunks.

        Chunk by chunk, dask allocates every chunk and then the result, and concatenates: 0.3-0.75 of a raw
        read in the runs of benchmarks/reader_overhead.py.  The tile check of the chunked reads stays.
        """
        slide = self.slide
        if isinstance(slide, PlaneSlide):
            return self._read_whole_in_pieces()
        if slide.backend != "cucim" or getattr(slide, "device", "cpu") != "cpu" or not hasattr(slide, "read_cucim"):
            return None
        h, w = self.shape[:2]
        if not self._whole_checked:  # once per open level: 0.3 ms/MP, 7-10 % of the read
            try:
                slide.tiles[self.level].check_region(0, 0, h, w)  # cuCIM returns stale pixels for a corrupt tile
            except SlideReadError:
                if self.on_error is None:
                    raise
                return None  # the chunked read reports it and blanks only the damaged tiles
            self._whole_checked = True
        try:
            region = slide.read_cucim(self.level, 0, 0, w, h, num_workers=os.cpu_count() or 1)
        except Exception as exc:
            raise SlideReadError(slide.path, f"level {self.level}: cuCIM: {exc}") from None
        if region.dtype != self.dtype or region.size != int(np.prod(self.shape)):
            return None
        region = region.reshape(self.shape)
        if slide.colour_transform is not None:  # this read skips ``read_level``, where reads turn sRGB
            region = slide.colour_transform(region)
        return region

    def _read_through(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """Straight from the slide; a remote region that did not arrive reads blank (reported already)."""
        try:
            return read_region(self.slide, self.level, y, x, h, w, self.on_error)
        except NotFetched as exc:
            return exc.blank

    def _read_whole_in_pieces(self) -> np.ndarray | None:
        """A channel's whole level (a ``PlaneSlide``'s) read in chunk-sized pieces, a thread per core, into one
        array: what the backend's own threaded read costs, where dask's chunk by chunk costs a fifth more (one
        more copy, a task per chunk).  None where a damaged tile is to be reported and blanked: the chunked read
        does that."""
        h, w = self.shape[:2]
        ch, cw = self.chunks[:2]
        out = np.empty(self.shape, self.dtype)

        def read(corner: tuple[int, int]) -> None:
            y, x = corner
            ph, pw = min(ch, h - y), min(cw, w - x)
            self.slide.read_level(self.level, x, y, pw, ph, out=out[y : y + ph, x : x + pw])

        try:
            with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
                list(pool.map(read, [(y, x) for y in range(0, h, ch) for x in range(0, w, cw)]))
        except SlideReadError:
            if self.on_error is None:
                raise
            return None
        return out

    def _read(self, y: int, x: int, h: int, w: int, alloc: Callable[..., np.ndarray], kind: Read) -> np.ndarray:
        display = self.display
        if display is None:
            return self._read_through(y, x, h, w)
        ch, cw = self.chunks[:2]
        rows, cols = self._chunk_ranges(y, x, h, w)
        if display.computing(self.level, rows, cols):  # a dask chunk of a computation may be part of a chunk
            return self._read_through(y, x, h, w)
        got = display.get(self.level, rows, cols, kind)
        if len(got) == 1:  # inside one cached chunk (a display chunk is a quarter of one): a view, no copy
            ((r, c), data) = next(iter(got.items()))
            return data[y - r * ch : y - r * ch + h, x - c * cw : x - c * cw + w]
        out = alloc((h, w, *self.shape[2:]), self.dtype)
        for (r, c), data in got.items():
            cy0, cx0 = r * ch, c * cw
            ty0, tx0 = max(y, cy0), max(x, cx0)
            ty1, tx1 = min(y + h, cy0 + data.shape[0]), min(x + w, cx0 + data.shape[1])
            out[ty0 - y : ty1 - y, tx0 - x : tx1 - x] = data[ty0 - cy0 : ty1 - cy0, tx0 - cx0 : tx1 - cx0]
        return out
