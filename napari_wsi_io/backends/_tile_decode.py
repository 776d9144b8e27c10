"""Reading a described TIFF level: its tiles' bytes through a file descriptor, checked, then decoded.

``TiffTiles`` is a ``TiffLevel`` (``_tiff_level``) bound to the slide's byte source (``_source``):
``raw`` reads a tile's bytes (a region's tiles are fetched together first, where the source is remote), ``check`` refuses the JPEG or JPEG 2000 tiles decoders
would crash on or silently get wrong, ``decode`` turns one tile into pixels and
``read_into`` fills a region.  ``EmbeddedTiles`` reads an associated image kept as
one JPEG stream outside the IFDs (Philips).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._errors import SlideReadError
from ._j2k import imagecodecs_returns_ycbcr, j2k_problem, ycbcr_to_rgb
from ._jpeg import JpegChecker
from ._tiff_level import TiffLevel, field_values
from ._tiff_page import APERIO_J2K_YCBCR, JPEG2000
from ._vendor import EmbeddedJpeg

if TYPE_CHECKING:
    from ._source import ByteSource

__all__ = ["EmbeddedTiles", "TiffTiles"]


@dataclass(frozen=True, eq=False, repr=False)
class TiffTiles(TiffLevel):
    """The compressed tiles (or strips) of one level or associated image, read through a byte source."""

    source: ByteSource
    #: Also refuse JPEG tiles TurboJPEG cannot decode (set for cuCIM, which decodes with it).
    turbojpeg: bool = False

    @classmethod
    def reading(cls, level: TiffLevel, source: ByteSource, turbojpeg: bool = False) -> TiffTiles:
        """``level``'s tiles, read through ``source``."""
        return cls(**field_values(level), source=source, turbojpeg=turbojpeg)

    def fetch(self, rows: range, cols: range) -> None:
        """Have the stored tiles under ``rows`` x ``cols`` fetched together (remote: parallel, coalesced)."""
        if not self.source.fetches_ahead:
            return
        index = (np.arange(rows.start, rows.stop)[:, None] * self.cols + np.arange(cols.start, cols.stop)).ravel()
        index = index[~self.missing[index]]
        self.source.prefetch(list(zip(self.offsets[index].tolist(), self.bytecounts[index].tolist())))

    def raw(self, ty: int, tx: int) -> bytes:
        """A stored tile's bytes (an NDPI restart interval as a JPEG of its own)."""
        i = ty * self.cols + tx
        count, offset = int(self.bytecounts[i]), int(self.offsets[i])
        data = self.source.read(offset, count)
        if len(data) != count:
            raise SlideReadError(self.path, f"{self.where(ty, tx)} lies past the end of the file")
        return self.restart.raw(data) if self.restart else data

    def check(self, ty: int, tx: int, data: bytes) -> None:
        """Raise for a JPEG or JPEG 2000 tile that decoders would crash on or silently turn into wrong pixels."""
        problem = None
        if self.restart is not None:
            problem = self.restart.problem(self, ty, tx, data)
        elif self.jpeg is not None:
            problem = self.jpeg.problem(data, self.turbojpeg)
        elif self.compression in JPEG2000:
            height = self.tile_height if self.tiled else min(self.tile_height, self.height - ty * self.tile_height)
            half_chroma = self.compression == APERIO_J2K_YCBCR  # Aperio's own sampling, read right everywhere
            problem = j2k_problem(data, self.tile_width, height, self.samples, self.bits, half_chroma)
        if problem:
            raise SlideReadError(self.path, f"{self.where(ty, tx)}: {problem}")

    def check_region(self, y: int, x: int, h: int, w: int) -> None:
        """Structurally check the JPEG (2000) tiles under a region (cuCIM hides corrupt ones)."""
        if self.jpeg is None and self.compression not in JPEG2000:
            return
        rows, cols = self.tile_range(y, x, h, w)
        self.fetch(rows, cols)
        for ty in rows:
            for tx in cols:
                if not self.missing[ty * self.cols + tx]:
                    self.check(ty, tx, self.raw(ty, tx))

    def decode(self, ty: int, tx: int) -> np.ndarray:
        """One tile as (tile_height, tile_width, samples), edge tiles cropped to the level (to the TIFF image
        for a stitched level)."""
        if self.restart is not None:
            h = min(self.tile_height, self.height - ty * self.tile_height)
            w = min(self.tile_width, self.width - tx * self.tile_width)
            return self.read_into(
                np.empty((h, w, self.samples), self.dtype), ty * self.tile_height, tx * self.tile_width
            )
        height, width = (self.grid_height, self.grid_width) if self.remap is not None else (self.height, self.width)
        h = min(self.tile_height, height - ty * self.tile_height)
        w = min(self.tile_width, width - tx * self.tile_width)
        if self.missing[ty * self.cols + tx]:
            return np.full((h, w, self.samples), self.fill, self.dtype)
        data = self.raw(ty, tx)
        self.check(ty, tx, data)
        ycbcr = False
        if self.compression == APERIO_J2K_YCBCR and self.samples == 3:
            try:  # imagecodecs converts half-width chroma itself, full-width not
                ycbcr = imagecodecs_returns_ycbcr(data)
            except ValueError as exc:
                raise SlideReadError(self.path, f"{self.where(ty, tx)}: {exc}") from None
        tile = self._decode_stored(ty, tx, data)
        if tile is not None and tile.ndim >= 3 and tile.size == math.prod(tile.shape[-3:]):
            tile = tile.reshape(tile.shape[-3:])
            if tile.shape[0] >= h and tile.shape[1] >= w and tile.shape[2] == self.samples:
                if ycbcr:
                    return ycbcr_to_rgb(tile[:h, :w])
                return tile[:h, :w]
        raise SlideReadError(self.path, f"{self.where(ty, tx)}: tile decodes to too few pixels")

    def _decode_stored(self, ty: int, tx: int, data: bytes) -> np.ndarray | None:
        try:
            return self.tile_decoder(data, ty * self.cols + tx, jpegtables=self.jpegtables)[0]
        except MemoryError:
            raise
        except Exception as exc:  # codecs raise many types; all mean a bad tile
            raise SlideReadError(self.path, f"{self.where(ty, tx)}: {exc}") from None

    def read_into(self, out: np.ndarray, y: int, x: int) -> np.ndarray:
        """Decode the tiles under ``out`` (h, w, samples), placed at (y, x) in the level."""
        if self.restart is not None:
            self.restart.read_into(self, out, y, x)
            return out
        if self.remap is not None:
            return self._read_stitched(out, y, x)
        return self._read_grid(out, y, x)

    def _read_stitched(self, out: np.ndarray, y: int, x: int) -> np.ndarray:
        # Read the TIFF block under the region once, then pick each stitched pixel's source.
        ys, xs = self.remap[0][y : y + out.shape[0]], self.remap[1][x : x + out.shape[1]]
        block = np.empty((int(ys[-1] - ys[0]) + 1, int(xs[-1] - xs[0]) + 1, out.shape[2]), self.dtype)
        self._read_grid(block, int(ys[0]), int(xs[0]))
        # Copy runs of consecutive source rows and columns (a tile's visible part): slices, not a gather.
        for oy0, oy1, by in _runs(ys - ys[0]):
            for ox0, ox1, bx in _runs(xs - xs[0]):
                out[oy0:oy1, ox0:ox1] = block[by : by + oy1 - oy0, bx : bx + ox1 - ox0]
        return out

    def _read_grid(self, out: np.ndarray, y: int, x: int) -> np.ndarray:
        h, w = out.shape[:2]
        th, tw = self.tile_height, self.tile_width
        rows, cols = self.tile_range(y, x, h, w)
        self.fetch(rows, cols)
        for ty in rows:
            for tx in cols:
                tile = self.decode(ty, tx)
                y0, x0 = max(y, ty * th), max(x, tx * tw)
                y1, x1 = min(y + h, ty * th + tile.shape[0]), min(x + w, tx * tw + tile.shape[1])
                out[y0 - y : y1 - y, x0 - x : x1 - x] = tile[y0 - ty * th : y1 - ty * th, x0 - tx * tw : x1 - tx * tw]
        return out


def _runs(index: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, stop, source start) of each run where ``index`` steps by one."""
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [len(index)]))
    return [(int(a), int(b), int(index[a])) for a, b in zip(starts, stops)]


class EmbeddedTiles:
    """An associated image held as one JPEG stream outside the IFDs, read like a single strip."""

    def __init__(self, path: str, image: EmbeddedJpeg, name: str) -> None:
        self.path, self.image, self.label = path, image, f"associated image {name!r}"
        self.width, self.height, self.samples = image.imagewidth, image.imagelength, image.samplesperpixel
        self.dtype = np.dtype(np.uint8)

    def read_into(self, out: np.ndarray, y: int, x: int) -> np.ndarray:
        problem = JpegChecker(None, {(self.width, self.height)}, self.samples).problem(self.image.data)
        if problem:
            raise SlideReadError(self.path, f"{self.label}: {problem}")
        import imagecodecs

        try:
            pixels = imagecodecs.jpeg8_decode(self.image.data)
        except Exception as exc:  # codecs raise many types; all mean a bad stream
            raise SlideReadError(self.path, f"{self.label}: {exc}") from None
        if pixels.size != self.width * self.height * self.samples or pixels.dtype != np.uint8:
            raise SlideReadError(self.path, f"{self.label}: decodes to {pixels.dtype} {pixels.shape}")
        pixels = pixels.reshape(self.height, self.width, self.samples)
        out[...] = pixels[y : y + out.shape[0], x : x + out.shape[1]]
        return out
