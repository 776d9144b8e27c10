"""How a level is cut into the regions strategies read: full-width rows, full-height columns or tiles."""

from __future__ import annotations

from ..backends import Slide
from ..pyramid import default_chunk

__all__ = ["CHUNKINGS", "Region", "chunk_shape", "regions"]

CHUNKINGS = ("rows", "columns", "tiles")

#: (x, y, width, height) in level coordinates.
Region = tuple[int, int, int, int]


def chunk_shape(slide: Slide, level: int, chunk: str, size: int | None = None) -> tuple[int, int]:
    """(width, height) of the regions of ``chunk`` ("rows", "columns", "tiles" or "level").

    ``size`` is the side of a region across the cut; None takes the file's tiles,
    grouped to about 1024 px (what the lazy pyramid uses too).
    """
    w, h = slide.level_dimensions[level]
    if size is None:
        ch, cw = default_chunk(slide, level)
    else:
        if size < 1:
            raise ValueError(f"chunk size must be at least 1 pixel, not {size}")
        cw, ch = min(size, w), min(size, h)
    shapes = {"rows": (w, ch), "columns": (cw, h), "tiles": (cw, ch), "level": (w, h)}
    if chunk not in shapes:
        raise ValueError(f"unknown chunking {chunk!r}; choose from {', '.join(CHUNKINGS)}")
    return shapes[chunk]


def regions(width: int, height: int, chunk_width: int, chunk_height: int) -> list[Region]:
    """The grid of regions covering a ``width`` x ``height`` level exactly once, row by row."""
    return [
        (x, y, min(chunk_width, width - x), min(chunk_height, height - y))
        for y in range(0, height, chunk_height)
        for x in range(0, width, chunk_width)
    ]
