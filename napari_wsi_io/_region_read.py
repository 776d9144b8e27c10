"""A region of a level read in one call, or tile by tile around damaged tiles (which read as zeros)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from ._errors import SlideReadError
from .backends import Slide

__all__ = ["read_region"]


def read_region(
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
