"""A TIFF level (or associated image) as an immutable description, checked tag by tag.

``describe_level`` runs one small validator per concern: the image size, the pixel
format (``_tiff_page``), NDPI's restart intervals (``_ndpi``), the tile grid and where
each tile lies (``_tile_index``), the JPEG tables, the level's real size inside a
padded grid, and a stitched level's remapping.  A damaged file fails there, with a
reason, and never reaches a decoder.  The description holds no file handle:
``TiffTiles.reading`` (``_tile_decode``) reads its tiles through the slide's byte source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ._jpeg import JpegChecker
from ._tiff_page import JPEG, LevelSource, PixelFormat, pixel_format
from ._tile_index import TileIndex, tiff_tile_index

if TYPE_CHECKING:
    from ._ndpi import RestartIntervals
    from ._source import ByteSource

__all__ = ["TiffLevel", "describe_level", "field_values"]

# An NDPI strip without restart markers is decoded whole for each read: fine for small levels and the macro.
_NDPI_WHOLE_STRIP = 1 << 24


@dataclass(frozen=True, eq=False, repr=False)
class TiffLevel(TileIndex, PixelFormat):
    """One level's tile index and pixel format, and how its tiles are decoded."""

    path: str
    #: The structural check of each JPEG tile (NDPI: of each restart interval); None for other codecs.
    jpeg: JpegChecker | None
    #: NDPI: the level is one JPEG strip read by restart interval (tifffile's "tiles").
    restart: RestartIntervals | None
    #: A stitched level (Ventana overlapping tiles): the TIFF row and column of each level row and column.
    remap: tuple[np.ndarray, np.ndarray] | None
    jpegtables: bytes | None
    #: ``decode(data, index, jpegtables=...)``: tifffile's, or NDPI's whole-strip decode.
    tile_decoder: Callable[..., Any]


def field_values(obj) -> dict[str, Any]:
    """A dataclass's fields as keyword arguments (``dataclasses.asdict`` would copy the arrays)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def describe_level(
    source: ByteSource,
    page,
    level: int | str,
    size: tuple[int, int] | None = None,
    fill: int | None = None,
    remap: tuple[np.ndarray, np.ndarray] | None = None,
) -> TiffLevel:
    """``page`` as a level, checked; ``size``, ``fill`` and ``remap`` as a vendor layout gives them
    (``_vendor.LevelPage``)."""
    path = source.name
    src = LevelSource(path, level, page, source.size, source)
    tiff_size = _tiff_size(src)
    fmt = pixel_format(src)
    restart = _ndpi_restart_intervals(src, fmt, tiff_size)
    index = tiff_tile_index(src, fmt, tiff_size, restart, fill)
    jpeg = _jpeg_checker(src, fmt, index, restart)
    decoder = _tile_decoder(page, fmt)
    index = _fit_size(src, index, size)
    remap = _stitching(src, index, remap)
    return TiffLevel(
        **field_values(fmt),
        **field_values(index),
        path=path,
        jpeg=jpeg,
        restart=restart,
        remap=remap,
        jpegtables=page.jpegtables,
        tile_decoder=decoder,
    )


def _tiff_size(src: LevelSource) -> tuple[int, int]:
    """(width, height) as the tags say: the tile grid follows them (tifffile may clip imagewidth, Philips)."""
    height, width = int(src.page.tags.valueof(257, 0)), int(src.page.tags.valueof(256, 0))
    if width < 1 or height < 1:
        src.fail("the image has no pixels")
    return width, height


def _ndpi_restart_intervals(src: LevelSource, fmt: PixelFormat, size: tuple[int, int]) -> RestartIntervals | None:
    """An NDPI JPEG strip's restart intervals, or None (not NDPI, or a strip small enough to decode whole)."""
    if fmt.compression != JPEG or not src.page.is_ndpi:
        return None
    from ._ndpi import restart_intervals

    restart = restart_intervals(src, fmt, size)
    width, height = size
    if restart is None and width * height > _NDPI_WHOLE_STRIP:
        src.fail(
            f"the {width}x{height} px JPEG strip has no restart markers: it would have to be decoded whole for every view"
        )
    return restart


def _jpeg_checker(
    src: LevelSource, fmt: PixelFormat, index: TileIndex, restart: RestartIntervals | None
) -> JpegChecker | None:
    """The JPEG check of the level's tiles (or strips, whose last one may be shorter); None for other codecs."""
    if fmt.compression != JPEG:
        return None
    page = src.page
    if restart:
        checker = restart.checker
    else:
        last = index.height - (index.rows - 1) * index.tile_height
        sizes = (
            {(index.tile_width, index.tile_height)}
            if page.is_tiled
            else {(index.width, index.tile_height), (index.width, last)}
        )
        checker = JpegChecker(page.jpegtables, sizes, fmt.samples, fmt.bits, fmt.photometric, page.is_jfif)
    if checker.tables_problem:
        src.fail(checker.tables_problem)
    return checker


def _fit_size(src: LevelSource, index: TileIndex, size: tuple[int, int] | None) -> TileIndex:
    """The index with the level's real size inside a padded tile grid; rows and cols stay the grid's."""
    if size is None or size == (index.width, index.height):
        return index
    width, height = size
    if not (index.tiled and 0 < width <= index.width and 0 < height <= index.height):
        src.fail(f"the slide says {width}x{height}, the TIFF image is {index.width}x{index.height}")
    return replace(index, width=width, height=height)


def _stitching(
    src: LevelSource, index: TileIndex, remap: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """A stitched level's (rows, cols) remapping, checked to fit the TIFF image and to run forward."""
    if remap is None:
        return None
    ys, xs = (np.asarray(a, np.int64) for a in remap)
    if (
        (len(ys), len(xs)) != (index.height, index.width)
        or min(ys.min(), xs.min()) < 0
        or ys.max() >= index.grid_height
        or xs.max() >= index.grid_width
        or (np.diff(ys) < 0).any()
        or (np.diff(xs) < 0).any()
    ):
        src.fail("the stitched tile layout does not fit the TIFF image")
    return ys, xs


def _tile_decoder(page, fmt: PixelFormat) -> Callable[..., Any]:
    if fmt.compression == JPEG and page.is_ndpi:
        from ._ndpi import decode_strip

        return decode_strip
    return page.decode
