"""Coarse stand-ins: a chunk not decoded yet drawn from a coarser level, and the resident coarsest level."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .._cache import TileCache
from ..backends import Slide

if TYPE_CHECKING:
    from .state import PyramidDisplayState

__all__ = ["CoarsePixels", "ResidentLevel", "coarser_pixels"]

_RESIDENT_BYTES = 32 << 20  # the coarsest level is kept resident up to this size (2.4 Gpx sample: 7 MB)


class ResidentLevel:
    """The coarsest level's chunks, kept apart from the cache and never evicted.

    The stand-in of last resort: a frame never waits on a decode however long the pan before it pushed the
    coarser levels out of the cache (Viv keeps the coarsest level resident the same way).
    """

    def __init__(self, slide: Slide, cache: TileCache, grids: list[tuple[int, int]]) -> None:
        last = len(grids) - 1
        small = int(np.prod(slide.level_shape(last))) * np.dtype(slide.dtype).itemsize <= _RESIDENT_BYTES
        #: The level kept: None where it is too big, or caching is off.
        self.level = last if small and cache.max_bytes > 0 else None
        #: Its chunks read so far, by (row, column).
        self.chunks: dict[tuple[int, int], np.ndarray] = {}
        self._grid = grids[last]

    def missing(self) -> list[tuple[int, int]]:
        """Chunks of the level not kept yet (none where no level is kept)."""
        if self.level is None or len(self.chunks) >= self._grid[0] * self._grid[1]:
            return []
        return [(r, c) for r in range(self._grid[0]) for c in range(self._grid[1]) if (r, c) not in self.chunks]


class CoarsePixels(NamedTuple):
    """A region of a coarser level and the rows and columns of it that cover a finer chunk."""

    region: np.ndarray
    ys: np.ndarray  # rows of ``region`` (starting at 0), one per row of the finer chunk
    xs: np.ndarray
    factor: float  # downsample of the coarser level relative to the finer one

    def upsampled(self) -> np.ndarray:
        """``region[ys][:, xs]``; by a whole-number factor with ``repeat``, several times faster than indexing."""
        region, ys, xs, f = self
        k = round(f)
        if abs(f - k) < 1e-9 and k >= 1:
            # The first source row covers k rows of the repeated region, of which the output keeps the last ones.
            skip_y, skip_x = k - int(np.count_nonzero(ys == 0)), k - int(np.count_nonzero(xs == 0))
            out = region.repeat(k, axis=0).repeat(k, axis=1)[skip_y : skip_y + len(ys), skip_x : skip_x + len(xs)]
            if out.shape[:2] == (len(ys), len(xs)) and skip_y >= 0 and skip_x >= 0:
                return out
        return region[ys[:, None], xs[None, :]]


def coarser_pixels(state: PyramidDisplayState, level: int, r: int, c: int) -> CoarsePixels | None:
    """Chunk (``r``, ``c``) of ``level`` from the finest coarser level whose chunks under it are all in memory
    (cached or resident); None where no coarser level has them all."""
    ch, cw = state.shapes[level]
    w, h = state.slide.level_dimensions[level]
    y0, x0 = r * ch, c * cw
    y1, x1 = min(y0 + ch, h), min(x0 + cw, w)
    ds = state.slide.level_downsamples
    for other in range(level + 1, len(state.shapes)):
        f = ds[other] / ds[level]
        ow, oh = state.slide.level_dimensions[other]
        ys = np.minimum((np.arange(y0, y1) / f).astype(int), oh - 1)
        xs = np.minimum((np.arange(x0, x1) / f).astype(int), ow - 1)
        och, ocw = state.shapes[other]
        rows, cols = range(ys[0] // och, ys[-1] // och + 1), range(xs[0] // ocw, xs[-1] // ocw + 1)
        parts = {(rr, cc): state.in_memory(other, rr, cc) for rr in rows for cc in cols}
        if all(part is not None for part in parts.values()):
            region = _assemble(parts, (och, ocw), ys, xs, state.slide.dtype)
            return CoarsePixels(region, ys - ys[0], xs - xs[0], f)
    return None


def _assemble(
    parts: dict[tuple[int, int], np.ndarray], chunk: tuple[int, int], ys: np.ndarray, xs: np.ndarray, dtype
) -> np.ndarray:
    """The rows ``ys[0]..ys[-1]`` and columns ``xs[0]..xs[-1]`` of a level, from its chunks ``parts``."""
    och, ocw = chunk
    first = next(iter(parts.values()))
    region = np.empty((ys[-1] - ys[0] + 1, xs[-1] - xs[0] + 1, *first.shape[2:]), dtype)
    for (rr, cc), part in parts.items():
        ty0, tx0 = max(ys[0], rr * och), max(xs[0], cc * ocw)
        ty1, tx1 = min(ys[-1] + 1, rr * och + part.shape[0]), min(xs[-1] + 1, cc * ocw + part.shape[1])
        region[ty0 - ys[0] : ty1 - ys[0], tx0 - xs[0] : tx1 - xs[0]] = part[
            ty0 - rr * och : ty1 - rr * och, tx0 - cc * ocw : tx1 - cc * ocw
        ]
    return region
