"""What every backend's level offers the readers, the pyramid and the benchmarks: the ``TileReader`` protocol.

``Slide.tiles[level]`` is a ``TileReader``: a TIFF level (``_tile_decode.TiffTiles``)
or an OpenSlide level (``_openslide.OpenSlideTiles``).  Only a TIFF level has its
compressed tiles at hand (``has_raw_tiles``): then it is a ``RawTileReader`` too,
which the benchmarks' decode limit and the JPEG tile reader use.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ._jpeg import JpegChecker

__all__ = ["RawTileReader", "TileReader"]


class TileReader(Protocol):
    """One level's (or associated image's) pixels, tile by tile or region by region."""

    #: True when the compressed tiles are at hand: the object is a ``RawTileReader``.
    has_raw_tiles: bool
    level: int | str
    label: str
    width: int
    height: int
    tile_width: int
    tile_height: int
    rows: int
    cols: int
    samples: int
    dtype: np.dtype
    #: The TIFF Compression value, or None where the library decodes its own tiles.
    compression: int | None
    #: The structural check of JPEG tiles, or None.
    jpeg: JpegChecker | None
    #: False for TIFF strips (whole rows of the level).
    tiled: bool

    def where(self, ty: int, tx: int) -> str: ...

    def tile_range(self, y: int, x: int, h: int, w: int) -> tuple[range, range]: ...

    def check_region(self, y: int, x: int, h: int, w: int) -> None:
        """Raise ``SlideReadError`` for a tile under the region a decoder would get wrong."""

    def decode(self, ty: int, tx: int) -> np.ndarray:
        """One tile as (height, width, samples), cropped at the level's edges."""

    def read_into(self, out: np.ndarray, y: int, x: int) -> np.ndarray:
        """Fill ``out`` (h, w, samples) with the region at (y, x) in the level."""


class RawTileReader(TileReader, Protocol):
    """A level whose compressed tiles can be read and checked one by one (entry ``ty * cols + tx``)."""

    offsets: np.ndarray
    bytecounts: np.ndarray
    #: Tiles the format leaves unstored; they read as ``fill``.
    missing: np.ndarray
    fill: int | None
    photometric: int
    jpegtables: bytes | None
    #: A stitched level's (rows, cols) remapping, or None.
    remap: tuple[np.ndarray, np.ndarray] | None

    def raw(self, ty: int, tx: int) -> bytes: ...

    def check(self, ty: int, tx: int, data: bytes) -> None: ...
