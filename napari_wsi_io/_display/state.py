"""The display state of one displayed pyramid, and the listeners told when a chunk drawn coarse lands."""

from __future__ import annotations

import collections
import itertools
import threading
import weakref
from collections.abc import Callable

import numpy as np

from .._cache import TileCache, release_free_memory
from .._errors import SlideReadError
from .._prefetch import workers
from .._region_read import NotFetched, read_region
from ..backends import Slide
from .coarse import ResidentLevel, coarser_pixels
from .guesses import ViewMotion, guess_jobs
from .jobs import alive, always, decode_job, landing_job
from .reads import Read

__all__ = ["PyramidDisplayState", "Subscription"]

_TRIM_AFTER = 64 << 20  # bytes evicted from the cache before the allocator is asked to give memory back
_LAST = 1 << 30  # priority of a job that waits for every guess
_VIEWS_KEPT = 4  # recent views whose chunks are cached when read (async slicing may overlap two)


class Subscription:
    """One listener of a pyramid's landed chunks (``PyramidDisplayState.subscribe``)."""

    def __init__(self, listener: Callable[[], None]) -> None:
        self.listener = listener
        #: Chunks landed since the listener last sliced again (``caught_up``): its view may still show them coarse.
        self.due = 0

    def caught_up(self) -> None:
        """The listener is about to slice again: that slice shows every chunk landed so far."""
        self.due = 0


class PyramidDisplayState:
    """What one displayed pyramid shows and reads: its cached chunks, recent views, coarse stand-ins, prefetch.

    Shared by the levels of the pyramid (``LevelArray.display``); the worker jobs hold it only weakly, so once
    napari lets go of the levels (layer removed, viewer closed) it is collected and its queued jobs are dropped.
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
        self.closed = False
        self.motion = ViewMotion()
        self._views: collections.deque[frozenset] = collections.deque(maxlen=_VIEWS_KEPT)  # chunk keys
        self._lock = threading.Lock()
        #: Chunks drawn coarse (``Read.FRAME``) whose decode is queued; the subscribers hear when each lands.
        self.provisional: set[tuple] = set()
        self.unreadable: set[tuple] = set()  # chunks whose background decode failed: never drawn coarse again
        self.resident = ResidentLevel(slide, cache, self.grids)
        self._subscriptions: tuple[Subscription, ...] = ()  # replaced whole: worker threads read it unlocked
        # Runs inside garbage collection, maybe in a thread holding the cache's lock: only note it.
        weakref.finalize(self, _collected.append, (self.token, cache))

    def subscribe(self, listener: Callable[[], None]) -> Subscription:
        """Call ``listener`` (from a worker thread) each time a chunk drawn coarse has landed in the cache.

        While anyone listens, a frame (``Read.FRAME``) draws a chunk not decoded yet from a coarser level in
        memory, and the first view queues the whole resident coarsest level so that there always is one.
        """
        subscription = Subscription(listener)
        with self._lock:
            self._subscriptions = (*self._subscriptions, subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)

    @property
    def refreshes_due(self) -> int:
        """Landed chunks that some listener has not sliced again for yet (0: every view shows the fine pixels)."""
        return sum(s.due for s in self._subscriptions)

    def key(self, level: int, r: int, c: int) -> tuple:
        return (self.token, level, r, c)

    def load(self, level: int, r: int, c: int, kind: Read = Read.VIEW) -> np.ndarray:
        """Read one chunk from the slide; a prefetch raises for a damaged tile instead of reporting it."""
        ch, cw = self.shapes[level]
        w, h = self.slide.level_dimensions[level]
        y, x = r * ch, c * cw
        on_error = None if kind is Read.PREFETCH else self.on_error
        return read_region(self.slide, level, y, x, min(ch, h - y), min(cw, w - x), on_error)

    def chunk(self, level: int, r: int, c: int, kind: Read) -> np.ndarray:
        """One chunk, read as ``kind`` says (a chunk being decoded by a worker is waited for, not decoded twice).

        A view or a prefetch goes through the cache.  A computation (no recent view holds the chunk) takes
        what is cached but adds nothing: it would push the viewer's chunks out, and keeping every chunk of a
        level it reads once made it about 30 % slower in one run (fresh memory for each kept chunk).  A remote
        chunk whose bytes did not arrive is shown blank and not kept: the next view fetches it again.
        """
        try:
            return self._chunk(level, r, c, kind)
        except NotFetched as exc:
            return exc.blank

    def _chunk(self, level: int, r: int, c: int, kind: Read) -> np.ndarray:
        key = self.key(level, r, c)
        if level == self.resident.level:
            return self._resident_chunk(level, r, c, kind)
        if kind is not Read.PREFETCH and not self._in_recent_view([key]):
            kind = Read.COMPUTATION  # napari's slices are in a recent view; a dask computation cannot say
        if kind is Read.FRAME and self._subscriptions:
            stand_in = self._stand_in(level, r, c)
            if stand_in is not None:
                return stand_in
        if kind is Read.COMPUTATION:
            cached = self.cache.get(key)
            return self.load(level, r, c, kind) if cached is None else cached
        return self.cache.get_or_load(key, lambda: self.load(level, r, c, kind))

    def get(self, level: int, rows: range, cols: range, kind: Read) -> dict[tuple[int, int], np.ndarray]:
        """The chunks under a region, each read as ``kind`` (see ``chunk``)."""
        return {(r, c): self.chunk(level, r, c, kind) for r in rows for c in cols}

    def computing(self, level: int, rows: range, cols: range) -> bool:
        """No chunk under the region is cached or in a recent view: a computation's read, not the viewer's."""
        keys = [self.key(level, r, c) for r in rows for c in cols]
        return not self._in_recent_view(keys) and not any(key in self.cache for key in keys)

    def in_memory(self, level: int, r: int, c: int) -> np.ndarray | None:
        """A chunk already read (resident or cached), or None."""
        kept = self.resident.chunks.get((r, c)) if level == self.resident.level else None
        return self.cache.get(self.key(level, r, c)) if kept is None else kept

    def _in_recent_view(self, keys: list[tuple]) -> bool:
        with self._lock:
            return any(key in view for view in self._views for key in keys)

    def _resident_chunk(self, level: int, r: int, c: int, kind: Read) -> np.ndarray:
        kept = self.resident.chunks.get((r, c))
        if kept is None:
            kept = self.cache.get_or_load(self.key(level, r, c), lambda: self.load(level, r, c, kind))
            if not self.closed:
                self.resident.chunks[r, c] = kept
        return kept

    def _stand_in(self, level: int, r: int, c: int) -> np.ndarray | None:
        """A missing chunk drawn from a coarser level in memory; its decode is queued first, and the subscribers
        hear when it lands.  None: cached already, or nothing coarser is.
        """
        key = self.key(level, r, c)
        if key in self.cache or key in self.unreadable:  # a damaged chunk: the plain read reports and blanks it
            return None
        coarse = coarser_pixels(self, level, r, c)
        if coarse is None:
            return None
        with self._lock:
            queued = key in self.provisional
            self.provisional.add(key)
        if not queued:  # one landing job a chunk, however often it is drawn coarse meanwhile
            workers().submit([(0, landing_job(weakref.ref(self), level, r, c), always)])
        if key in self.cache:  # landed meanwhile: no refresh would come for it
            with self._lock:
                self.provisional.discard(key)
            return None
        return coarse.upsampled()

    def landed(self, level: int, r: int, c: int) -> None:
        """A landing job is done: if its chunk was drawn coarse, tell the subscribers (from this worker thread)."""
        key = self.key(level, r, c)
        subscriptions = self._subscriptions
        with self._lock:
            was = key in self.provisional
            self.provisional.discard(key)
            for subscription in subscriptions if was else ():
                subscription.due += 1
        for subscription in subscriptions if was else ():
            subscription.listener()

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
            (0, decode_job(ref, *key[1:]), alive(ref))
            for key in sorted(keys)
            if key not in self.cache and not self.cache.loading(key)
        ]
        if self._subscriptions:  # the resident level stands in only where chunks are drawn coarse
            last = self.resident.level
            jobs += [
                (0, decode_job(ref, last, r, c), alive(ref))
                for r, c in self.resident.missing()
                if not self.cache.loading(self.key(last, r, c))
            ]
        if self.prefetch:
            jobs += guess_jobs(self, level, rows, cols)
        if self.cache.evicted_bytes > _TRIM_AFTER and self.cache.take_evicted_bytes():
            jobs.append((_LAST, release_free_memory, always))  # after the guesses, off the GUI thread
        workers().submit(jobs)

    def close(self) -> None:
        """Stop prefetching for this pyramid and free its cached chunks."""
        self.closed = True
        self.resident.chunks.clear()
        _forget({self.token}, self.cache)


_tokens = itertools.count()
_collected: list[tuple[int, TileCache]] = []  # pyramids garbage collected since the last view


def _forget(tokens: set[int], cache: TileCache) -> None:
    workers().drop(lambda wanted: not wanted())
    cache.discard(lambda key: key[0] in tokens)


def _forget_collected() -> None:
    while _collected:
        token, cache = _collected.pop()
        _forget({token}, cache)
