"""Lazy pyramids over a slide: one (y, x[, c]) array per level, chunks on tile edges.

Both functions give dask arrays over ``LevelArray``s, one dask chunk per whole chunk of tiles.

``pyramid()`` is for computing (export, benchmarks): every chunk read goes to the slide, nothing is
kept.  ``display_pyramid()`` is what the viewer slices: every chunk is read whole through the shared
bounded cache (``_cache``), so napari's unaligned views cost aligned reads, and each slice of a level
(napari slices once per view) queues the view's missing chunks and the chunks the next view will
probably need for the background workers (``_prefetch``).  napari's own dask cache is turned off for
these layers (``cache=False`` in the reader): it is unbounded in practice and kept 4.7 GB after a
sweep of level 0 (benchmarks/pan.py).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
import os
import threading
import weakref
from collections.abc import Callable

import numpy as np

from ._cache import TileCache, release_free_memory, tile_cache
from ._errors import SlideReadError
from ._prefetch import prefetch_enabled, ring, workers
from ._scratch import recycled
from .backends import Slide

__all__ = ["LevelArray", "close_display_pyramid", "default_chunk", "display_pyramid", "pyramid"]

# Pixels per side of a chunk read and cached as a whole.  dask costs about 0.1 ms a task on 2 cores:
# a whole level in 512 px chunks computed at 0.72 of raw cuCIM, in 1024 px chunks at 1.0
# (benchmarks/reader_overhead.py).  The displayed levels report half that to napari (``_display_chunk``).
_TARGET_CHUNK = 1024
_PREFETCH_MARGIN = 1024  # pixels around the view to prefetch: more than a half-viewport pan step
_TRIM_AFTER = 64 << 20  # bytes evicted from the cache before the allocator is asked to give memory back
_LAST = 1 << 30  # priority of a job that waits for every guess
_VIEWS_KEPT = 4  # recent views whose chunks are cached when read (async slicing may overlap two)
_BACKGROUND_BYTES = 32 << 20  # the coarsest level is kept resident up to this size (2.4 Gpx sample: 7 MB)


def default_chunk(slide: Slide, level: int, target: int = _TARGET_CHUNK) -> tuple[int, int]:
    """(height, width) of a chunk: the largest tile multiple not above ``target`` px (1024)."""
    tw, th = slide.level_tile_sizes[level]
    w, h = slide.level_dimensions[level]
    return (min(h, th * max(1, target // th)), min(w, tw * max(1, target // tw)))


def _read_region(
    slide: Slide, level: int, y: int, x: int, h: int, w: int, on_error: Callable[[SlideReadError], None] | None
) -> np.ndarray:
    """Pixels of a region; with ``on_error``, a damaged tile is reported and reads as zeros."""
    try:
        return slide.read_level(level, x, y, w, h)
    except SlideReadError:
        if on_error is None:
            raise
    # Read tile by tile so only the damaged tiles go blank.
    shape = slide.level_shape(level)
    out = np.zeros((h, w, *shape[2:]), slide.dtype)
    tiles = slide.tiles[level]
    th, tw = tiles.tile_height, tiles.tile_width
    rows, cols = tiles.tile_range(y, x, h, w)
    for ty, tx in itertools.product(rows, cols):
        ty0, tx0 = max(y, ty * th), max(x, tx * tw)
        ty1, tx1 = min(y + h, (ty + 1) * th), min(x + w, (tx + 1) * tw)
        try:
            out[ty0 - y : ty1 - y, tx0 - x : tx1 - x] = slide.read_level(level, tx0, ty0, tx1 - tx0, ty1 - ty0)
        except SlideReadError as exc:
            on_error(exc)
    return out


class _Chunks:
    """Chunk reads of one displayed pyramid, through the shared cache, with prefetch.

    Shared by the levels of the pyramid; the prefetch jobs hold it only weakly, so once napari lets
    go of the levels (layer removed, viewer closed) it is collected and its queued jobs are dropped.
    """

    def __init__(
        self,
        slide: Slide,
        shapes: list[tuple[int, int]],
        on_error: Callable[[SlideReadError], None] | None,
        cache: TileCache,
        prefetch: bool,
    ) -> None:
        self.slide, self.shapes, self.on_error, self.cache, self.prefetch = slide, shapes, on_error, cache, prefetch
        # Each displayed pyramid owns its cache entries, freed when it is collected or closed.
        self.token = next(_tokens)
        self.grids = [
            (-(-h // ch), -(-w // cw))
            for (ch, cw), (w, h) in zip(shapes, slide.level_dimensions)  # noqa: B905
        ]
        self.generation = 0
        self.closed = False
        self._last_view: dict[int, tuple[float, float]] = {}
        self._views: collections.deque[frozenset] = collections.deque(maxlen=_VIEWS_KEPT)  # chunk keys
        self._lock = threading.Lock()
        #: Chunks shown with a coarser level's pixels while they decode (see ``slicing_in_frame``).
        self.provisional: set[tuple] = set()
        #: Landed provisional chunks the viewer has not sliced again yet (it resets this before slicing).
        self.refreshes_due = 0
        #: Called from a worker thread when a provisional chunk has landed in the cache (the viewer refreshes).
        self.on_landed: Callable[[], None] | None = None
        self.unreadable: set[tuple] = set()  # chunks whose background decode failed: never drawn coarse again
        #: The coarsest level's chunks, kept apart from the cache and never evicted: the stand-in of last
        #: resort, so that a frame never waits on a decode however long the pan before it pushed the
        #: coarser levels out of the cache (Viv keeps the coarsest level resident the same way).
        self.background: dict[tuple[int, int], np.ndarray] = {}
        last = len(shapes) - 1
        small = int(np.prod(slide.level_shape(last))) * np.dtype(slide.dtype).itemsize <= _BACKGROUND_BYTES
        self.background_level = last if small and cache.max_bytes > 0 else None
        # Runs inside garbage collection, maybe in a thread holding the cache's lock: only note it.
        weakref.finalize(self, _collected.append, (self.token, cache))

    def key(self, level: int, r: int, c: int) -> tuple:
        return (self.token, level, r, c)

    def load(self, level: int, r: int, c: int, quiet: bool = False) -> np.ndarray:
        """Read one chunk; ``quiet`` (background jobs) raises for a damaged tile instead of reporting it."""
        ch, cw = self.shapes[level]
        w, h = self.slide.level_dimensions[level]
        y, x = r * ch, c * cw
        on_error = None if quiet else self.on_error
        return _read_region(self.slide, level, y, x, min(ch, h - y), min(cw, w - x), on_error)

    def chunk(self, level: int, r: int, c: int, quiet: bool = False, coarse: bool = False) -> np.ndarray:
        """One chunk, through the cache when a view or a guess (``quiet``) wants it.

        A computation over the level (no view sliced first) takes what is cached but adds nothing:
        it would push the viewer's chunks out, and keeping every chunk of a level it reads once
        made it about 30 % slower in one run (fresh memory for each kept chunk).
        """
        key = self.key(level, r, c)
        if level == self.background_level:
            kept = self.background.get((r, c))
            if kept is None:
                kept = self.cache.get_or_load(key, lambda: self.load(level, r, c, quiet))
                if not self.closed:
                    self.background[r, c] = kept
            return kept
        wanted = quiet or self._in_recent_view([key])
        if wanted and coarse and not quiet and self.on_landed is not None:
            placeholder = self._coarse_placeholder(level, r, c)
            if placeholder is not None:
                return placeholder
        if wanted:
            return self.cache.get_or_load(key, lambda: self.load(level, r, c, quiet))
        cached = self.cache.get(key)
        return self.load(level, r, c) if cached is None else cached

    def _coarse_placeholder(self, level: int, r: int, c: int) -> np.ndarray | None:
        """A missing chunk drawn from the finest coarser level whose chunks under it are cached; its decode
        is queued first and ``on_landed`` is called when it lands.  None: cached already, or nothing coarser is.
        """
        key = self.key(level, r, c)
        if key in self.cache or key in self.unreadable:  # a damaged chunk: the plain read reports and blanks it
            return None
        ch, cw = self.shapes[level]
        w, h = self.slide.level_dimensions[level]
        y0, x0 = r * ch, c * cw
        y1, x1 = min(y0 + ch, h), min(x0 + cw, w)
        ds = self.slide.level_downsamples
        for other in range(level + 1, len(self.shapes)):
            f = ds[other] / ds[level]
            ow, oh = self.slide.level_dimensions[other]
            ys = np.minimum((np.arange(y0, y1) / f).astype(int), oh - 1)
            xs = np.minimum((np.arange(x0, x1) / f).astype(int), ow - 1)
            och, ocw = self.shapes[other]
            rows, cols = range(ys[0] // och, ys[-1] // och + 1), range(xs[0] // ocw, xs[-1] // ocw + 1)
            parts = {(rr, cc): self._resident(other, rr, cc) for rr in rows for cc in cols}
            if any(part is None for part in parts.values()):
                continue
            region = np.empty(
                (ys[-1] - ys[0] + 1, xs[-1] - xs[0] + 1, *parts[rows[0], cols[0]].shape[2:]), self.slide.dtype
            )
            for (rr, cc), part in parts.items():
                ty0, tx0 = max(ys[0], rr * och), max(xs[0], cc * ocw)
                ty1, tx1 = min(ys[-1] + 1, rr * och + part.shape[0]), min(xs[-1] + 1, cc * ocw + part.shape[1])
                region[ty0 - ys[0] : ty1 - ys[0], tx0 - xs[0] : tx1 - xs[0]] = part[
                    ty0 - rr * och : ty1 - rr * och, tx0 - cc * ocw : tx1 - cc * ocw
                ]
            with self._lock:
                queued = key in self.provisional
                self.provisional.add(key)
            if not queued:  # one landing job a chunk, however often it is drawn coarse meanwhile
                workers().submit([(0, _landing_job(weakref.ref(self), level, r, c), _always)])
            if key in self.cache:  # landed meanwhile: no refresh would come for it
                with self._lock:
                    self.provisional.discard(key)
                return None
            return _upsample(region, ys - ys[0], xs - xs[0], f)
        return None

    def _background_missing(self) -> bool:
        level = self.background_level
        return self.on_landed is not None and level is not None and len(self.background) < _area(self.grids[level])

    def computing(self, level: int, rows: range, cols: range) -> bool:
        """No chunk under the region is cached or in a recent view: not the viewer's read."""
        keys = [self.key(level, r, c) for r in rows for c in cols]
        return not self._in_recent_view(keys) and not any(key in self.cache for key in keys)

    def _in_recent_view(self, keys: list[tuple]) -> bool:
        with self._lock:
            return any(key in view for view in self._views for key in keys)

    def _resident(self, level: int, r: int, c: int) -> np.ndarray | None:
        kept = self.background.get((r, c)) if level == self.background_level else None
        return self.cache.get(self.key(level, r, c)) if kept is None else kept

    def landed(self, level: int, r: int, c: int) -> None:
        key = self.key(level, r, c)
        callback = self.on_landed
        with self._lock:
            was = key in self.provisional
            self.provisional.discard(key)
            if was and callback is not None:
                self.refreshes_due += 1
        if was and callback is not None:
            callback()

    def get(self, level: int, rows: range, cols: range, coarse: bool = False) -> dict[tuple[int, int], np.ndarray]:
        """The chunks under a region (a chunk being decoded by a worker is waited for, not decoded twice)."""
        return {(r, c): self.chunk(level, r, c, coarse=coarse) for r in rows for c in cols}

    def viewed(self, level: int, rows: range, cols: range) -> None:
        """napari sliced this view: queue its missing chunks, then those it will probably want next.

        The view's chunks go first so that the workers help the reading threads decode them; older
        guesses are dropped.
        """
        if self.closed:
            return
        _forget_collected()
        ref = weakref.ref(self)
        keys = frozenset(self.key(level, r, c) for r in rows for c in cols)
        with self._lock:
            self._views.append(keys)
        jobs = [
            (0, _job(ref, *key[1:]), _alive(ref))
            for key in sorted(keys)
            if key not in self.cache and not self.cache.loading(key)
        ]
        if self._background_missing():  # only where it stands in: a viewer that draws chunks coarse
            rows_b, cols_b = (range(n) for n in self.grids[self.background_level])
            jobs += [
                (0, _job(ref, self.background_level, r, c), _alive(ref))
                for r in rows_b
                for c in cols_b
                if (r, c) not in self.background and not self.cache.loading(self.key(self.background_level, r, c))
            ]
        if self.prefetch:
            jobs += self._guesses(level, rows, cols)
        if self.cache.evicted_bytes > _TRIM_AFTER and self.cache.take_evicted_bytes():
            jobs.append((_LAST, release_free_memory, _always))  # after the guesses, off the GUI thread
        workers().submit(jobs)

    def _guesses(self, level: int, rows: range, cols: range) -> list:
        coarsest = level == len(self.shapes) - 1
        if coarsest and len(rows) * len(cols) == _area(self.grids[level]):
            return []  # napari's thumbnail, not a view: keep the plan of the view
        with self._lock:
            self.generation += 1
            generation = self.generation
            center = ((rows.start + rows.stop) / 2, (cols.start + cols.stop) / 2)
            last = self._last_view.get(level, center)
            self._last_view = {level: center}
        motion = (center[0] - last[0], center[1] - last[1])
        width = -(-_PREFETCH_MARGIN // min(self.shapes[level]))
        plan = [(level, rc) for rc in ring(rows, cols, self.grids[level], motion, width)]
        if level + 1 < len(self.shapes):
            # Zoom out: halving the zoom shows twice the extent, which napari draws from the next level
            # as a region as big as this one: the same place there, and a quarter of it around.
            coarse = self._under(level, rows, cols, level + 1)
            (ch, cw), (och, ocw) = self.shapes[level], self.shapes[level + 1]
            around = max(-(-len(rows) * ch // (4 * och)), -(-len(cols) * cw // (4 * ocw)), 1)
            plan += [(level + 1, (r, c)) for r in coarse[0] for c in coarse[1]]
            plan += [(level + 1, rc) for rc in ring(*coarse, self.grids[level + 1], motion, around)]
        if level > 0:  # zoom in: the middle half of the view one level finer, with a chunk around it
            fine = self._under(level, rows, cols, level - 1, middle=True)
            plan += [(level - 1, (r, c)) for r in fine[0] for c in fine[1]]
            plan += [(level - 1, rc) for rc in ring(*fine, self.grids[level - 1])]
        ref = weakref.ref(self)
        still = _current(ref, generation)
        jobs = []
        for priority, (lvl, (r, c)) in enumerate(plan, start=1):
            key = self.key(lvl, r, c)
            if key not in self.cache and not self.cache.loading(key):
                jobs.append((priority, _job(ref, lvl, r, c), still))
        return jobs

    def _under(self, level: int, rows: range, cols: range, other: int, middle: bool = False) -> tuple[range, range]:
        """Chunks of level ``other`` under chunks ``rows`` x ``cols`` of ``level`` (their middle half)."""
        (ch, cw), (och, ocw) = self.shapes[level], self.shapes[other]
        ds = self.slide.level_downsamples
        f = ds[level] / ds[other]
        y0, y1, x0, x1 = rows.start * ch, rows.stop * ch, cols.start * cw, cols.stop * cw
        if middle:
            y0, y1 = y0 + (y1 - y0) / 4, y1 - (y1 - y0) / 4
            x0, x1 = x0 + (x1 - x0) / 4, x1 - (x1 - x0) / 4
        gr, gc = self.grids[other]
        return (
            range(max(0, int(y0 * f // och)), min(gr, int(-(-y1 * f // och)))),
            range(max(0, int(x0 * f // ocw)), min(gc, int(-(-x1 * f // ocw)))),
        )

    def close(self) -> None:
        """Stop prefetching for this pyramid and free its cached chunks."""
        self.closed = True
        self.background.clear()
        _forget({self.token}, self.cache)


_tokens = itertools.count()
_collected: list[tuple[int, TileCache]] = []  # pyramids garbage collected since the last read


def _forget(tokens: set[int], cache: TileCache) -> None:
    workers().drop(lambda wanted: not wanted())
    cache.discard(lambda key: key[0] in tokens)


def _forget_collected() -> None:
    while _collected:
        token, cache = _collected.pop()
        _forget({token}, cache)


def _area(grid: tuple[int, int]) -> int:
    return grid[0] * grid[1]


def _always() -> bool:
    return True


def _alive(ref: weakref.ref) -> Callable[[], bool]:
    def wanted() -> bool:
        chunks = ref()
        return chunks is not None and not chunks.closed

    return wanted


def _current(ref: weakref.ref, generation: int) -> Callable[[], bool]:
    def wanted() -> bool:
        chunks = ref()
        return chunks is not None and not chunks.closed and chunks.generation == generation

    return wanted


def _upsample(region: np.ndarray, ys: np.ndarray, xs: np.ndarray, f: float) -> np.ndarray:
    """``region[ys][:, xs]`` (rows ``ys`` start at 0); by a whole-number factor with ``repeat``, which is
    several times faster than indexing."""
    k = round(f)
    if abs(f - k) < 1e-9 and k >= 1:
        # The first source row covers k rows of the repeated region, of which the output keeps the last ones.
        skip_y, skip_x = k - int(np.count_nonzero(ys == 0)), k - int(np.count_nonzero(xs == 0))
        out = region.repeat(k, axis=0).repeat(k, axis=1)[skip_y : skip_y + len(ys), skip_x : skip_x + len(xs)]
        if out.shape[:2] == (len(ys), len(xs)) and skip_y >= 0 and skip_x >= 0:
            return out
    return region[ys[:, None], xs[None, :]]


def _landing_job(ref: weakref.ref, level: int, r: int, c: int) -> Callable[[], None]:
    def run() -> None:
        chunks = ref()
        if chunks is not None and not chunks.closed:
            try:
                chunks.chunk(level, r, c, quiet=True)
            except Exception:
                chunks.unreadable.add(chunks.key(level, r, c))
                raise
            finally:  # a damaged chunk too: the refresh reads it again, without the coarse stand-in, and reports it
                chunks.landed(level, r, c)

    return run


_frame = threading.local()


@contextlib.contextmanager
def slicing_in_frame(coarse: bool = True):
    """Within (this thread): napari slices a displayed level for the frame being drawn (``_qt.prerender``).

    The view is read at once from the cached chunks, without dask's scheduler (a third of a pan step in one
    profile: 22 of 27 ms of slicing).  With ``coarse``, chunks not decoded yet are drawn from a cached coarser
    level instead of waited for; the pyramid calls the ``on_landed`` callback set by the viewer when the fine
    pixels are cached, and the viewer slices again.  Every other slice (scripts, the console, exports, napari's
    async slicing) gets a dask array of the level's own pixels.
    """
    before = getattr(_frame, "coarse", None)
    _frame.coarse = coarse
    try:
        yield
    finally:
        _frame.coarse = before


def _job(ref: weakref.ref, level: int, r: int, c: int) -> Callable[[], None]:
    def run() -> None:
        chunks = ref()
        if chunks is not None:
            # A damaged chunk is left for the read that shows it: only that one tells the user.
            chunks.chunk(level, r, c, quiet=True)

    return run


class LevelArray:
    """Array-like view of one level; indexing with slices reads the pixels.

    ``on_error`` decides what a corrupt tile does: None raises the
    ``SlideReadError``; a callable is told about it and the tile reads as zeros
    (the viewer keeps the rest of the slide visible and shows the message).
    ``chunks`` is the chunk shape of the dask array over it; when the array
    belongs to a ``display_pyramid``, reads go whole chunk by whole chunk
    through the shared cache.
    """

    def __init__(
        self,
        slide: Slide,
        level: int,
        on_error: Callable[[SlideReadError], None] | None = None,
        *,
        chunk: tuple[int, int] | None = None,
        _chunks: _Chunks | None = None,
    ) -> None:
        self.slide, self.level, self.on_error = slide, level, on_error
        self.shape = slide.level_shape(level)
        self.dtype = slide.dtype
        self.ndim = len(self.shape)
        self.chunks = (*(chunk or default_chunk(slide, level)), *self.shape[2:])
        self._chunks = _chunks
        #: Set on the twin that napari's slicing inside a frame reads (``slicing_in_frame``).
        self.coarse = False
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
        return self._getitem(key, np.empty)

    def frame_slice(self, key) -> np.ndarray:
        """``self[key]`` for napari to show until its next slice: assembled in a recycled buffer."""
        return self._getitem(key, recycled)

    def _getitem(self, key, alloc: Callable[..., np.ndarray]) -> np.ndarray:
        key, (y0, y1, sy), (x0, x1, sx) = self._spatial(key)
        if sy < 1 or sx < 1:
            raise IndexError("negative steps are not supported")
        if y1 > y0 and x1 > x0:
            region = self._read(y0, x0, y1 - y0, x1 - x0, alloc)[::sy, ::sx]
        else:
            region = np.zeros((len(range(y0, y1, sy)), len(range(x0, x1, sx)), *self.shape[2:]), self.dtype)
        return region[tuple(slice(None) if isinstance(k, slice) else 0 for k in key[:2]) + key[2:]]

    def _chunk_ranges(self, y: int, x: int, h: int, w: int) -> tuple[range, range]:
        ch, cw = self.chunks[:2]
        return range(y // ch, (y + h - 1) // ch + 1), range(x // cw, (x + w - 1) // cw + 1)

    def viewed(self, key) -> None:
        """Someone (napari) slices this region: have the workers decode it and guess the next one."""
        chunks = self._chunks
        try:
            _, (y0, y1, _), (x0, x1, _) = self._spatial(key)
        except (TypeError, ValueError):  # fancy indexing: no view to speak of
            return
        if chunks is None or y1 <= y0 or x1 <= x0:
            return
        itemsize = self.dtype.itemsize * (self.shape[2] if self.ndim > 2 else 1)
        if (y1 - y0) * (x1 - x0) * itemsize > chunks.cache.max_bytes // 2:
            return  # a computation, not a view: queued chunks would push each other out of the cache
        chunks.viewed(self.level, *self._chunk_ranges(y0, x0, y1 - y0, x1 - x0))

    def read_whole(self) -> np.ndarray | None:
        """The whole level in one cuCIM read with a worker per core, as fast as raw cuCIM; None where that
        does not apply (another backend or device, a damaged tile to report and blank): then read it by chunks.

        Chunk by chunk, dask allocates every chunk and then the result, and concatenates: 0.3-0.75 of a raw
        read in the runs of benchmarks/reader_overhead.py.  The tile check of the chunked reads stays.
        """
        slide = self.slide
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
        return region.reshape(self.shape)

    def _read(self, y: int, x: int, h: int, w: int, alloc: Callable[..., np.ndarray] = np.empty) -> np.ndarray:
        chunks = self._chunks
        if chunks is None:
            return _read_region(self.slide, self.level, y, x, h, w, self.on_error)
        ch, cw = self.chunks[:2]
        rows, cols = self._chunk_ranges(y, x, h, w)
        if chunks.computing(self.level, rows, cols):  # a dask chunk of a computation may be part of a chunk
            return _read_region(self.slide, self.level, y, x, h, w, self.on_error)
        got = chunks.get(self.level, rows, cols, coarse=self.coarse)
        if len(got) == 1:  # exactly one cached chunk asked for (``pyramid``-sized dask chunks): no copy
            ((r, c), data) = next(iter(got.items()))
            if (r * ch, c * cw, *data.shape[:2]) == (y, x, h, w):
                return data
        out = alloc((h, w, *self.shape[2:]), self.dtype)
        for (r, c), data in got.items():
            cy0, cx0 = r * ch, c * cw
            ty0, tx0 = max(y, cy0), max(x, cx0)
            ty1, tx1 = min(y + h, cy0 + data.shape[0]), min(x + w, cx0 + data.shape[1])
            out[ty0 - y : ty1 - y, tx0 - x : tx1 - x] = data[ty0 - cy0 : ty1 - cy0, tx0 - cx0 : tx1 - cx0]
        return out


@functools.cache
def _viewed_level_type() -> type:
    import dask.array as da

    class ViewedLevel(da.Array):
        """A displayed level: a dask array whose slices (napari slices once per view) feed the prefetcher.

        Everything derived from it (slices, ``rechunk``, ...) is a plain dask array.
        """

        def __getitem__(self, index):
            source = getattr(self, "source", None)  # dask rebuilds (persist) call type(self) without it
            if source is not None:
                source.viewed(index)
                coarse = getattr(_frame, "coarse", None)
                if coarse is not None and _plain(index):  # sliced for a frame: see ``slicing_in_frame``
                    return (self.drawn if coarse else source).frame_slice(index)
            return super().__getitem__(index)

        def compute(self, **kwargs):
            # ``np.asarray(level)`` comes here too.  A scheduler or other option asked for: dask's way.
            source = getattr(self, "source", None)
            whole = None if kwargs or source is None else source.read_whole()
            return super().compute(**kwargs) if whole is None else whole

    return ViewedLevel


def _plain(index) -> bool:
    """Only slices, integers and Ellipsis (what napari's slicing uses, what ``LevelArray`` reads)."""
    keys = index if isinstance(index, tuple) else (index,)
    return all(k is Ellipsis or isinstance(k, (slice, int, np.integer)) for k in keys)


def _as_dask(array: LevelArray, name: str, cls: type | None = None, chunks: tuple | None = None):
    import dask.array as da

    level = da.from_array(
        array,
        chunks=chunks or array.chunks,
        name=name,
        asarray=False,
        fancy=False,
        lock=False,
        meta=np.empty((0,) * array.ndim, array.dtype),
    )
    if cls is not None:
        level = cls(level.dask, level.name, level.chunks, meta=level._meta)
        level.source = array
    return level


def pyramid(
    slide: Slide,
    chunks: tuple[int, int] | None = None,
    on_error: Callable[[SlideReadError], None] | None = None,
) -> list:
    """Dask arrays of every level; building them reads no pixels."""
    from dask.base import tokenize

    stat = os.stat(slide.path)
    token = tokenize(slide.path, stat.st_mtime_ns, stat.st_size, slide.backend, chunks)
    return [
        _as_dask(LevelArray(slide, level, on_error, chunk=chunks), f"wsi-{token}-{level}")
        for level in range(slide.level_count)
    ]


def _display_chunk(slide: Slide, level: int, chunk: tuple[int, int]) -> tuple[int, int]:
    """Half a cached chunk per side where that stays on tile edges: napari uploads the view expanded to the
    layer's chunk edges, and half the margin made zoom steps p95 7-20 % shorter and their longest stalls
    shorter, pan steps the same or a little shorter (two sets of 3 interleaved runs of benchmarks/pan.py).
    """
    (ch, cw), (tw, th) = chunk, slide.level_tile_sizes[level]
    return (
        ch // 2 if ch % 2 == 0 and (ch // 2) % th == 0 else ch,
        cw // 2 if cw % 2 == 0 and (cw // 2) % tw == 0 else cw,
    )


def display_pyramid(
    slide: Slide,
    chunks: tuple[int, int] | None = None,
    on_error: Callable[[SlideReadError], None] | None = None,
    *,
    cache: TileCache | None = None,
    prefetch: bool | None = None,
) -> list:
    """Dask arrays of the levels as napari should slice them: cached whole-chunk reads, prefetch.

    The dask chunks are half the cached chunks (``_display_chunk``) unless ``chunks`` is given.

    ``cache`` defaults to the shared ``tile_cache()``; ``prefetch`` to ``NAPARI_WSI_IO_PREFETCH``
    (on unless set to 0).  Building the levels reads no pixels.  Each level's ``source`` is its
    ``LevelArray``.  A computed chunk may be the cached array itself, which is read-only.  A whole
    level computed (``.compute()``, ``np.asarray``) is read at once, as fast as raw cuCIM
    (``LevelArray.read_whole``), bypassing the cache.
    """
    shapes = [chunks or default_chunk(slide, level) for level in range(slide.level_count)]
    reported = shapes if chunks else [_display_chunk(slide, level, shapes[level]) for level in range(slide.level_count)]
    state = _Chunks(
        slide,
        shapes,
        on_error,
        tile_cache() if cache is None else cache,
        prefetch_enabled() if prefetch is None else prefetch,
    )
    cls = _viewed_level_type()
    levels = []
    for level in range(slide.level_count):
        shown = _as_dask(
            LevelArray(slide, level, on_error, chunk=shapes[level], _chunks=state),
            f"wsi-view-{state.token}-{level}",
            cls,
            (*reported[level], *slide.level_shape(level)[2:]),
        )
        twin = LevelArray(slide, level, on_error, chunk=shapes[level], _chunks=state)
        twin.coarse = True
        shown.drawn = twin
        levels.append(shown)
    return levels


def close_display_pyramid(levels: list) -> None:
    """Stop prefetching for these levels and free their cached chunks (they still read afterwards)."""
    for level in levels:
        chunks = getattr(level, "source", level)._chunks
        if chunks is not None:
            chunks.close()
