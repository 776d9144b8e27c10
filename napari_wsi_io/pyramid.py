"""Lazy pyramids over a slide: one (y, x[, c]) array per level, chunks on tile edges.

Both functions give dask arrays over ``LevelArray``s (``_level_array``), one dask chunk per whole chunk
of tiles.

``pyramid()`` is for computing (export, benchmarks): every chunk read goes to the slide, nothing is
kept.  ``display_pyramid()`` is what the viewer slices: every chunk is read whole through the shared
bounded cache (``_cache``), so napari's unaligned views cost aligned reads, and each slice of a level
(napari slices once per view) queues the view's missing chunks and the chunks the next view will
probably need for the background workers (``_prefetch``).  What a displayed pyramid showed lately and
what it reads next is its display state (``_display``; ``display_state``), where a viewer subscribes to
hear about chunks it drew coarse.  napari's own dask cache is turned off for these layers
(``cache=False`` in the reader): it is unbounded in practice and kept 4.7 GB after a sweep of level 0
(benchmarks/pan.py).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

import numpy as np

from ._cache import TileCache, tile_cache
from ._display.reads import Read, frame_read, slicing_in_frame
from ._display.stack import PlaneStack, StackedDisplay
from ._display.state import PyramidDisplayState, Subscription
from ._errors import SlideReadError
from ._level_array import LevelArray, default_chunk
from ._prefetch import prefetch_enabled
from .backends import Slide

__all__ = [
    "LevelArray",
    "PlaneStack",
    "PyramidDisplayState",
    "Read",
    "Subscription",
    "close_display_pyramid",
    "default_chunk",
    "display_pyramid",
    "display_state",
    "pyramid",
    "slicing_in_frame",
]


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
                kind = frame_read()
                if kind is not None and _plain(index):  # sliced for a frame: see ``slicing_in_frame``
                    return source.frame_slice(index, kind)
                if _plain(index) and source.read_as_one(index):
                    return _one_task(source, index)
            return super().__getitem__(index)

        def compute(self, **kwargs):
            # ``np.asarray(level)`` comes here too.  A scheduler or other option asked for: dask's way.
            source = getattr(self, "source", None)
            whole = None if kwargs or source is None else source.read_whole()
            return super().compute(**kwargs) if whole is None else whole

    return ViewedLevel


@functools.cache
def _one_read_type() -> type:
    import dask.array as da

    class OneRead(da.Array):
        """A view read in one task.  Computed on its own (``np.asarray``), it reads here, without dask's
        scheduler: that costs about 2 ms, a tenth of a 2048 px channel region (benchmarks/channel_overhead.py).
        """

        def compute(self, **kwargs):
            read = getattr(self, "read", None)  # dask rebuilds (persist) call type(self) without it
            return super().compute(**kwargs) if kwargs or read is None else read()

    return OneRead


def _one_task(source: LevelArray, index):
    """``source[index]`` as a dask array of one chunk, read in one task (``LevelArray.read_as_one``).

    The graph is written out: ``dask.delayed`` would tokenize the level array, which costs more than the task.
    """
    shape = np.broadcast_to(np.empty((), source.dtype), source.shape)[index].shape  # no pixels allocated
    name = f"wsi-view-one-{next(_one_task_names)}"
    graph = {(name, *(0,) * len(shape)): (source.__getitem__, index)}
    meta = np.empty((0,) * len(shape), source.dtype)
    one = _one_read_type()(graph, name, tuple((n,) for n in shape), meta=meta)
    one.read = functools.partial(source.__getitem__, index)
    return one


_one_task_names = itertools.count()


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

    token = tokenize(slide.token, slide.backend, slide.colour, chunks)
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
    ``LevelArray``; they share one ``PyramidDisplayState`` (``display_state``).  A computed chunk may be the cached array itself, which is read-only.  A whole
    level computed (``.compute()``, ``np.asarray``) is read at once, as fast as raw cuCIM
    (``LevelArray.read_whole``), bypassing the cache.
    """
    shapes = [chunks or default_chunk(slide, level) for level in range(slide.level_count)]
    reported = shapes if chunks else [_display_chunk(slide, level, shapes[level]) for level in range(slide.level_count)]
    state = PyramidDisplayState(
        slide,
        shapes,
        on_error,
        tile_cache() if cache is None else cache,
        prefetch_enabled() if prefetch is None else prefetch,
    )
    cls = _viewed_level_type()
    return [
        _as_dask(
            LevelArray(slide, level, on_error, chunk=shapes[level], display=state),
            f"wsi-view-{state.token}-{level}",
            cls,
            (*reported[level], *slide.level_shape(level)[2:]),
        )
        for level in range(slide.level_count)
    ]


def close_display_pyramid(levels: list) -> None:
    """Stop prefetching for these levels and free their cached chunks (they still read afterwards)."""
    for level in levels:
        state = display_state(level)
        if state is not None:
            state.close()


def display_state(level: object) -> PyramidDisplayState | StackedDisplay | None:
    """The display state shared by the levels of a ``display_pyramid`` (pass one: the dask array or its
    ``LevelArray``), or of a layer's planes (a ``PlaneStack`` level: ``StackedDisplay``); None for anything
    else.  A viewer ``subscribe``s to it to hear about chunks drawn coarse.
    """
    if isinstance(level, PlaneStack):
        return level.display
    source = getattr(level, "source", level)
    return source.display if isinstance(source, LevelArray) else None
