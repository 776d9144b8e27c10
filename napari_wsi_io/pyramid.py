"""Lazy dask pyramid over a slide: one (y, x[, c]) array per level, chunks on tile edges."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

import numpy as np

from ._errors import SlideReadError
from .backends import Slide

__all__ = ["LevelArray", "default_chunk", "pyramid"]

_TARGET_CHUNK = 1024  # pixels per side: measured to match raw cuCIM whole-level reads


def default_chunk(slide: Slide, level: int) -> tuple[int, int]:
    """(height, width) of a chunk: the largest tile multiple not above 1024 px."""
    tw, th = slide.level_tile_sizes[level]
    w, h = slide.level_dimensions[level]
    return (min(h, th * max(1, _TARGET_CHUNK // th)), min(w, tw * max(1, _TARGET_CHUNK // tw)))


class LevelArray:
    """Array-like view of one level; indexing with slices reads the pixels.

    ``on_error`` decides what a corrupt tile does: None raises the
    ``SlideReadError``; a callable is told about it and the tile reads as zeros
    (the viewer keeps the rest of the slide visible and shows the message).
    """

    def __init__(self, slide: Slide, level: int, on_error: Callable[[SlideReadError], None] | None = None) -> None:
        self.slide, self.level, self.on_error = slide, level, on_error
        self.shape = slide.level_shape(level)
        self.dtype = slide.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        spatial = [k if isinstance(k, slice) else slice(k, k + 1) for k in key[:2]]
        (y0, y1, sy), (x0, x1, sx) = (s.indices(n) for s, n in zip(spatial, self.shape))
        if sy < 1 or sx < 1:
            raise IndexError("negative steps are not supported")
        if y1 > y0 and x1 > x0:
            region = self._read(y0, x0, y1 - y0, x1 - x0)[::sy, ::sx]
        else:
            region = np.zeros((len(range(y0, y1, sy)), len(range(x0, x1, sx)), *self.shape[2:]), self.dtype)
        return region[tuple(slice(None) if isinstance(k, slice) else 0 for k in key[:2]) + key[2:]]

    def _read(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        try:
            return self.slide.read_level(self.level, x, y, w, h)
        except SlideReadError:
            if self.on_error is None:
                raise
        # Read tile by tile so only the damaged tiles go blank.
        out = np.zeros((h, w, *self.shape[2:]), self.dtype)
        tiles = self.slide.tiles[self.level]
        th, tw = tiles.tile_height, tiles.tile_width
        rows, cols = tiles.tile_range(y, x, h, w)
        for ty, tx in itertools.product(rows, cols):
            ty0, tx0 = max(y, ty * th), max(x, tx * tw)
            ty1, tx1 = min(y + h, (ty + 1) * th), min(x + w, (tx + 1) * tw)
            try:
                out[ty0 - y : ty1 - y, tx0 - x : tx1 - x] = self.slide.read_level(
                    self.level, tx0, ty0, tx1 - tx0, ty1 - ty0
                )
            except SlideReadError as exc:
                self.on_error(exc)
        return out


def pyramid(
    slide: Slide,
    chunks: tuple[int, int] | None = None,
    on_error: Callable[[SlideReadError], None] | None = None,
) -> list:
    """Dask arrays of every level; building them reads no pixels."""
    import dask.array as da
    from dask.base import tokenize

    stat = os.stat(slide.path)
    token = tokenize(slide.path, stat.st_mtime_ns, stat.st_size, slide.backend, chunks)
    levels = []
    for level in range(slide.level_count):
        array = LevelArray(slide, level, on_error)
        chunk = chunks or default_chunk(slide, level)
        levels.append(
            da.from_array(
                array,
                chunks=chunk + array.shape[2:],
                name=f"wsi-{token}-{level}",
                asarray=False,
                fancy=False,
                lock=False,
                meta=np.empty((0,) * array.ndim, array.dtype),
            )
        )
    return levels
