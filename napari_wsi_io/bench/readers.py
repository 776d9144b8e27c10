"""How one region of a level is read by each backend, as the strategies call it.

``region_reader(slide, level)`` returns ``read(region, out)``: ``out`` is the array
to fill (a view of the assembled level, or a scratch buffer for the zarr sink) or
None for the discard sink, which decodes without keeping the pixels.

The tifffile backend's JPEG tiles are decoded here with imagecodecs straight into a
per-thread tile buffer.  A fresh 192 kB array per tile costs page faults that make
decoding ~1.7x slower than the decoder itself (measured on the gigapixel sample);
reusing a buffer that stays in cache is what lets threads approach the decode limit.
The pixels are the same as ``Slide.read_level`` (tested), and every tile still
passes the structural check that keeps corrupt tiles from turning into wrong pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._errors import SlideReadError
from .._scratch import scratch
from ..backends import Slide, open_slide, planes_as_samples
from .regions import Region

__all__ = ["RegionReader", "jpeg_tile_decoder", "open_cpu", "region_reader", "scratch"]

RegionReader = Callable[[Region, "np.ndarray | None"], None]
_CHANNEL_BACKENDS = ("tifffile", "czi")


def open_cpu(path: str, backend: str | None = None, colour: str = "raw") -> Slide:
    """Open a slide decoded on the CPU, whatever ``NAPARI_WSI_IO_DEVICE`` says: these strategies measure CPUs.

    ``colour``: "raw" (the pixels the file stores) unless "srgb" is asked for, whatever ``NAPARI_WSI_IO_COLOUR`` says.
    A slide that stores channels is read whole: every channel and plane as the samples of a pixel
    (``PlanesAsSamples``), by the backend that reads its channels (tifffile for a TIFF, libCZI for a CZI).
    """
    slide = open_slide(path, backend, device="cpu", colour=colour)
    if slide.channels is None:
        return slide
    if slide.backend not in _CHANNEL_BACKENDS:
        slide.close()
        raise SlideReadError(path, f"{slide.backend} does not read the slide's channels")
    return planes_as_samples(slide)


def jpeg_tile_decoder(slide: Slide, level: int) -> Callable[[bytes, np.ndarray], None] | None:
    """``decode(data, out)`` for the level's 8-bit RGB JPEG tiles, or None for other tiles.

    Decodes with the colour spaces tifffile uses for the same tiles, so the pixels
    match the tifffile backend exactly.
    """
    tiles = slide.tiles[level]
    if tiles.jpeg is None or not tiles.tiled or tiles.samples != 3 or tiles.dtype != np.uint8:
        return None
    try:
        import imagecodecs
        from tifffile.tifffile import jpeg_decode_colorspace
    except ImportError:  # a tifffile without it: the backend's own reads are used
        return None
    # The level's description checked planar configuration and extra samples: one plane, none extra.
    colorspace, outcolorspace = jpeg_decode_colorspace(tiles.photometric, 1, (), tiles.jpeg.jfif)
    tables = tiles.jpegtables

    def decode(data: bytes, out: np.ndarray) -> None:
        imagecodecs.jpeg8_decode(data, tables=tables, colorspace=colorspace, outcolorspace=outcolorspace, out=out)

    return decode


def _jpeg_tiles_reader(slide: Slide, level: int, decode: Callable[[bytes, np.ndarray], None]) -> RegionReader:
    tiles = slide.tiles[level]
    th, tw = tiles.tile_height, tiles.tile_width

    def read(region: Region, out: np.ndarray | None) -> None:
        x, y, w, h = region
        buf = scratch("tile", (th, tw, 3), np.uint8)
        rows, cols = tiles.tile_range(y, x, h, w)
        for ty in rows:
            for tx in cols:
                if tiles.missing[ty * tiles.cols + tx]:  # a tile the format leaves unstored (Philips)
                    buf[...] = tiles.fill
                else:
                    data = tiles.raw(ty, tx)
                    tiles.check(ty, tx, data)
                    try:
                        decode(data, buf)
                    except Exception as exc:  # codecs raise many types; all mean a bad tile
                        raise SlideReadError(slide.path, f"{tiles.where(ty, tx)}: {exc}") from None
                if out is not None:
                    y0, x0 = max(y, ty * th), max(x, tx * tw)
                    y1, x1 = min(y + h, (ty + 1) * th), min(x + w, (tx + 1) * tw)
                    out[y0 - y : y1 - y, x0 - x : x1 - x] = buf[
                        y0 - ty * th : y1 - ty * th, x0 - tx * tw : x1 - tx * tw
                    ]

    return read


def _cucim_reader(slide, level: int) -> RegionReader:
    tiles = slide.tiles[level]

    def read(region: Region, out: np.ndarray | None) -> None:
        # What CucimSlide.read_level does, minus the copy when the pixels are discarded.
        x, y, w, h = region
        tiles.check_region(y, x, h, w)
        try:
            pixels = slide.read_cucim(level, x, y, w, h)
        except Exception as exc:
            raise SlideReadError(slide.path, f"level {level}: cuCIM: {exc}") from None
        if out is not None:
            out[...] = pixels

    return read


def _generic_reader(slide: Slide, level: int) -> RegionReader:
    def read(region: Region, out: np.ndarray | None) -> None:
        x, y, w, h = region
        if out is None:
            out = scratch("region", (h, w, slide.samples), slide.dtype)
        try:
            slide.read_level(level, x, y, w, h, out=out)
        except (SlideReadError, ValueError, MemoryError):
            raise
        except Exception as exc:  # OpenSlide raises its own error type for a corrupt tile
            raise SlideReadError(slide.path, f"level {level}: {slide.backend}: {exc}") from None

    return read


def region_reader(slide: Slide, level: int) -> RegionReader:
    """The fastest faithful way this backend reads a region of ``level``."""
    if slide.colour_transform is not None:  # sRGB asked for: the reads that apply it
        return _generic_reader(slide, level)
    if slide.backend == "cucim":
        return _cucim_reader(slide, level)
    if slide.backend == "tifffile" and slide.tiles[level].remap is None:  # not a stitched level (Ventana)
        decode = jpeg_tile_decoder(slide, level)
        if decode is not None:
            return _jpeg_tiles_reader(slide, level, decode)
    return _generic_reader(slide, level)
