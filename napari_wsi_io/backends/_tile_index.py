"""Where a level's tiles lie: the tile grid any level has, and the file span of each TIFF tile.

``TileGrid`` is the arithmetic every backend shares (OpenSlide's levels too): the
level's size, its tile size, which tiles a region covers and how a tile is named
in a message.  ``TileIndex`` adds where each compressed tile's bytes lie in a TIFF;
``tiff_tile_index`` builds it from a page and checks it against the file, so that a
damaged file fails when it opens, never in a decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ._tiff_page import LevelSource, PixelFormat, level_label

if TYPE_CHECKING:
    from ._ndpi import RestartIntervals

__all__ = ["TileGrid", "TileIndex", "tiff_tile_index"]

_MAX_TILES = 1 << 22  # per level: a 500k x 500k px slide of 256 px tiles
_MAX_RESTART_INTERVALS = 1 << 24  # per NDPI level: a 200k x 100k px level of 128 x 8 px intervals
_MAX_TILE_SIDE = 1 << 14
_MAX_STRIP_BYTES = 1 << 28


@dataclass(frozen=True, eq=False, repr=False)
class TileGrid:
    """A level's tiles as a grid: ``rows`` x ``cols`` tiles of ``tile_height`` x ``tile_width`` px.

    ``level`` is the level's number, or an associated image's name.  Edge tiles are
    cropped to ``width`` x ``height``.
    """

    #: False: the tiles' compressed bytes are not at hand (``raw``, ``bytecounts``, ... are absent).
    has_raw_tiles: ClassVar[bool] = False

    level: int | str
    width: int
    height: int
    tile_width: int
    tile_height: int
    rows: int
    cols: int

    @property
    def label(self) -> str:
        return level_label(self.level)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}: {self.width}x{self.height} px, {self.cols}x{self.rows} tiles>"

    def where(self, ty: int, tx: int) -> str:
        return f"{self.label}, tile ({tx}, {ty})"

    def tile_range(self, y: int, x: int, h: int, w: int) -> tuple[range, range]:
        """The tile rows and columns under the region (y, x, h, w), in level pixels."""
        return (
            range(y // self.tile_height, (y + h - 1) // self.tile_height + 1),
            range(x // self.tile_width, (x + w - 1) // self.tile_width + 1),
        )


@dataclass(frozen=True, eq=False, repr=False)
class TileIndex(TileGrid):
    """A TIFF level's tiles (or strips, or NDPI restart intervals): where each one's bytes lie.

    Tile ``(ty, tx)`` is entry ``ty * cols + tx``.  ``rows`` and ``cols`` are the grid of the
    TIFF image (``grid_width`` x ``grid_height``), which may be larger than the level
    (padded to whole tiles, or stitched from overlapping tiles).
    """

    has_raw_tiles: ClassVar[bool] = True

    grid_width: int
    grid_height: int
    #: False for strips, which cover whole rows (the last one may be shorter).
    tiled: bool
    offsets: np.ndarray
    bytecounts: np.ndarray
    #: Tiles the format may leave unstored (Philips: bytecount 0); they read as ``fill``.
    missing: np.ndarray
    fill: int | None


def tiff_tile_index(
    src: LevelSource, fmt: PixelFormat, size: tuple[int, int], restart: RestartIntervals | None, fill: int | None
) -> TileIndex:
    """The checked tile index of the page's ``size`` (width, height) image; ``restart`` for an NDPI level."""
    width, height = size
    page = src.page
    tile_height, tile_width = _tile_size(src, fmt, size, restart)
    rows, cols = -(-height // tile_height), -(-width // tile_width)
    expected = rows * cols
    # NDPI restart intervals are one MCU row high: a level has many more of them than tiles.
    if expected > (_MAX_RESTART_INTERVALS if restart else _MAX_TILES):
        src.fail(f"{expected} tiles claimed: image dimensions {width}x{height} are implausible")
    if restart:  # counted and checked against the markers already
        offsets, bytecounts = restart.offsets, restart.bytecounts
    else:
        offsets, bytecounts = _stored_spans(src, size, expected)
    # Tiles the format may leave unstored read as ``fill``; elsewhere a missing tile is damage.
    missing = (bytecounts == 0) if fill is not None else np.zeros(expected, bool)
    index = TileIndex(
        level=src.level,
        width=width,
        height=height,
        tile_width=tile_width,
        tile_height=tile_height,
        rows=rows,
        cols=cols,
        grid_width=width,
        grid_height=height,
        tiled=bool(page.is_tiled) or restart is not None,
        offsets=offsets,
        bytecounts=bytecounts,
        missing=missing,
        fill=fill,
    )
    _check_spans(src, index)
    _check_byte_counts(src, fmt, index, page.is_tiled)
    return index


def _tile_size(
    src: LevelSource, fmt: PixelFormat, size: tuple[int, int], restart: RestartIntervals | None
) -> tuple[int, int]:
    """(height, width) of a tile, a strip (whole rows) or an NDPI restart interval."""
    page = src.page
    if restart:
        return restart.tile_height, restart.tile_width
    if page.is_tiled:
        th, tw = int(page.tilelength), int(page.tilewidth)
        if min(th, tw) < 1 or max(th, tw) > _MAX_TILE_SIDE:
            src.fail(f"invalid tile size {tw}x{th}")
        return th, tw
    width, height = size
    th = min(int(page.rowsperstrip or 0), height)
    if th < 1 or th * width * fmt.samples * fmt.dtype.itemsize > _MAX_STRIP_BYTES:
        src.fail("invalid strip size")
    return th, width


def _stored_spans(src: LevelSource, size: tuple[int, int], expected: int) -> tuple[np.ndarray, np.ndarray]:
    """The offsets and byte counts the page stores, one per tile of the grid."""
    page = src.page
    tag = page.tags.get("TileOffsets" if page.is_tiled else "StripOffsets")
    stored = tag.count if tag is not None else 0
    if stored != expected or len(page.dataoffsets) != expected or len(page.databytecounts) != expected:
        src.fail(f"{stored} tiles stored where {size[0]}x{size[1]} needs {expected}")
    return np.asarray(page.dataoffsets, np.int64), np.asarray(page.databytecounts, np.int64)


def _check_spans(src: LevelSource, index: TileIndex) -> None:
    """Every stored tile has bytes, inside the file."""
    empty = int((index.bytecounts <= 0).sum()) - int(index.missing.sum())
    if empty:
        src.fail(f"{empty} tiles have no data")
    if index.missing.all():
        src.fail("no tile is stored")
    stored = ~index.missing
    stored_ends = (index.offsets + index.bytecounts)[stored]
    if (index.offsets[stored] < 0).any() or int(stored_ends.max()) > src.file_size:
        src.fail("tile data lies past the end of the file (truncated file?)")


def _check_byte_counts(src: LevelSource, fmt: PixelFormat, index: TileIndex, tiled: bool) -> None:
    """Uncompressed tiles hold their pixels; no tile claims more bytes than any codec needs."""
    bytecounts = index.bytecounts
    tile_bytes = index.tile_height * index.tile_width * fmt.samples * fmt.dtype.itemsize
    if fmt.compression == 1:  # uncompressed: every tile must hold its pixels
        needed = np.full(len(bytecounts), tile_bytes, np.int64)
        if not tiled:
            last_rows = index.height - (index.rows - 1) * index.tile_height
            needed[-1] = last_rows * index.width * fmt.samples * fmt.dtype.itemsize
        short = int(((bytecounts < needed) & ~index.missing).sum())
        if short:
            src.fail(f"{short} uncompressed tiles hold fewer bytes than their pixels need")
    # No codec needs several times the raw size: a larger count is damage, and would be read whole.
    if int(bytecounts.max()) > 4 * tile_bytes + (1 << 20):
        src.fail(f"a tile claims {int(bytecounts.max())} bytes, more than any codec needs")
