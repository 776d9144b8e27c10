"""A region of a level read in one call, or tile by tile around damaged tiles (which read as zeros).

A remote read that failed on the way (``SlideFetchError``) is reported and raised as ``NotFetched``,
which carries the blank region: the viewer shows it without caching it, and the next view fetches again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from ._errors import SlideFetchError, SlideReadError
from .backends import Slide

__all__ = ["NotFetched", "read_region"]


class NotFetched(Exception):
    """A region whose bytes did not arrive (reported already); ``blank`` stands in for it until the next view."""

    def __init__(self, blank: np.ndarray) -> None:
        super().__init__("not fetched")
        self.blank = blank


def read_region(
    slide: Slide, level: int, y: int, x: int, h: int, w: int, on_error: Callable[[SlideReadError], None] | None
) -> np.ndarray:
    """Pixels of a region; with ``on_error``, a damaged tile is reported and reads as zeros."""
    shape = slide.level_shape(level)
    try:
        return slide.read_level(level, x, y, w, h)
    except SlideFetchError as exc:
        if on_error is None:
            raise
        on_error(exc)
        raise NotFetched(np.zeros((h, w, *shape[2:]), slide.dtype)) from None
    except SlideReadError:
        if on_error is None:
            raise
    # Read tile by tile so only the damaged tiles go blank.
    out = np.zeros((h, w, *shape[2:]), slide.dtype)
    tiles = slide.tiles[level]
    th, tw = tiles.tile_height, tiles.tile_width
    rows, cols = tiles.tile_range(y, x, h, w)
    for ty, tx in itertools.product(rows, cols):
        ty0, tx0 = max(y, ty * th), max(x, tx * tw)
        ty1, tx1 = min(y + h, (ty + 1) * th), min(x + w, (tx + 1) * tw)
        try:
            out[ty0 - y : ty1 - y, tx0 - x : tx1 - x] = slide.read_level(level, tx0, ty0, tx1 - tx0, ty1 - ty0)
        except SlideFetchError as exc:
            on_error(exc)
            raise NotFetched(out) from None
        except SlideReadError as exc:
            on_error(exc)
    return out
