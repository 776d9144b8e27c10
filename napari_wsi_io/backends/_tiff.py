"""What a TIFF holds, read from its IFDs alone (no pixels), and raw tile access.

Every backend starts here: the layout decides whether cuCIM may see the file,
supplies the metadata (cuCIM reports no Aperio MPP), and lets any backend
fetch and check the compressed bytes of one tile.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path

import numpy as np

from .._errors import SlideReadError
from ._jpeg import jpeg_problem

__all__ = ["LevelTiles", "TiffLayout", "is_tiff_file"]

_MAX_PAGES = 256
_MAX_TILES = 1 << 22  # per level: a 500k x 500k px slide of 256 px tiles
_MAX_TILE_SIDE = 1 << 14
_MAX_STRIP_BYTES = 1 << 28
_JPEG = 7
# Compressions cuCIM 26.10 decodes correctly and safely (checked per kind in the tests).
# Deflate is left out: it logs libtiff errors, crashes with a predictor, and is
# reported to segfault on small tiles.
_CUCIM_COMPRESSIONS = {1: "none", 5: "LZW", 7: "JPEG", 33003: "Aperio JPEG 2000", 33005: "Aperio JPEG 2000"}
_CUCIM_VENDORS = {"aperio", "generic-tiff", "philips"}
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_tiff_file(path: str | os.PathLike) -> bool:
    """True when the file starts with a (Big)TIFF header."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in _TIFF_MAGIC
    except OSError:
        return False


class LevelTiles:
    """The compressed tiles (or strips) of one pyramid level."""

    def __init__(self, path: str, fd: int, page, level: int) -> None:
        self.path, self.level, self._fd = path, level, fd
        self.height, self.width = int(page.imagelength), int(page.imagewidth)
        if page.is_tiled:
            self.tile_height, self.tile_width = int(page.tilelength), int(page.tilewidth)
        else:
            self.tile_height, self.tile_width = min(int(page.rowsperstrip), self.height), self.width
        self.rows = -(-self.height // self.tile_height)
        self.cols = -(-self.width // self.tile_width)
        self.samples = int(page.samplesperpixel)
        self.dtype = np.dtype(page.dtype)
        self.compression = int(page.compression)
        self.offsets = np.asarray(page.dataoffsets, np.int64)
        self.bytecounts = np.asarray(page.databytecounts, np.int64)
        self._decode = page.decode
        self._jpegtables = page.jpegtables

    def where(self, ty: int, tx: int) -> str:
        return f"level {self.level}, tile ({tx}, {ty})"

    def raw(self, ty: int, tx: int) -> bytes:
        i = ty * self.cols + tx
        count, offset = int(self.bytecounts[i]), int(self.offsets[i])
        data = os.pread(self._fd, count, offset)
        if len(data) != count:
            raise SlideReadError(self.path, f"{self.where(ty, tx)} lies past the end of the file")
        return data

    def check(self, ty: int, tx: int, data: bytes) -> None:
        """Raise for a JPEG tile that decoders would silently turn into wrong pixels."""
        if self.compression == _JPEG:
            problem = jpeg_problem(data)
            if problem:
                raise SlideReadError(self.path, f"{self.where(ty, tx)}: {problem}")

    def decode(self, ty: int, tx: int) -> np.ndarray:
        """One tile as (tile_height, tile_width, samples), edge tiles cropped to the level."""
        data = self.raw(ty, tx)
        self.check(ty, tx, data)
        try:
            tile = self._decode(data, ty * self.cols + tx, jpegtables=self._jpegtables)[0]
        except Exception as exc:  # codecs raise many types; all mean a bad tile
            raise SlideReadError(self.path, f"{self.where(ty, tx)}: {exc}") from None
        h = min(self.tile_height, self.height - ty * self.tile_height)
        w = min(self.tile_width, self.width - tx * self.tile_width)
        if tile is None or tile.size < h * w * self.samples:
            raise SlideReadError(self.path, f"{self.where(ty, tx)}: tile decodes to too few pixels")
        tile = tile.reshape(tile.shape[-3:])
        return tile[:h, :w]

    def tile_range(self, y: int, x: int, h: int, w: int) -> tuple[range, range]:
        return (
            range(y // self.tile_height, (y + h - 1) // self.tile_height + 1),
            range(x // self.tile_width, (x + w - 1) // self.tile_width + 1),
        )

    def read_into(self, out: np.ndarray, y: int, x: int) -> np.ndarray:
        """Decode the tiles under ``out`` (h, w, samples), placed at (y, x) in the level."""
        h, w = out.shape[:2]
        th, tw = self.tile_height, self.tile_width
        rows, cols = self.tile_range(y, x, h, w)
        for ty in rows:
            for tx in cols:
                tile = self.decode(ty, tx)
                y0, x0 = max(y, ty * th), max(x, tx * tw)
                y1, x1 = min(y + h, ty * th + tile.shape[0]), min(x + w, tx * tw + tile.shape[1])
                out[y0 - y : y1 - y, x0 - x : x1 - x] = tile[y0 - ty * th : y1 - ty * th, x0 - tx * tw : x1 - tx * tw]
        return out

    def check_region(self, y: int, x: int, h: int, w: int) -> None:
        """Structurally check the JPEG tiles under a region (cuCIM hides corrupt ones)."""
        if self.compression != _JPEG:
            return
        rows, cols = self.tile_range(y, x, h, w)
        for ty in rows:
            for tx in cols:
                self.check(ty, tx, self.raw(ty, tx))


def _parse_aperio(description: str) -> dict[str, str]:
    fields = description.split("|")[1:]
    pairs = (f.split("=", 1) for f in fields if "=" in f)
    return {f"aperio.{k.strip()}": v.strip() for k, v in pairs}


def _resolution_mpp(page) -> tuple[float, float] | None:
    unit = page.tags.get("ResolutionUnit")
    um_per_unit = {2: 25400.0, 3: 10000.0}.get(int(unit.value) if unit else 2)
    xres, yres = page.tags.get("XResolution"), page.tags.get("YResolution")
    if um_per_unit is None or xres is None or yres is None:
        return None
    try:
        mpp = tuple(um_per_unit * v[1] / v[0] for v in (xres.value, yres.value))
    except (TypeError, ZeroDivisionError, IndexError):
        return None
    # Writers store 1 or 72 dpi as a placeholder: such values are not a scan resolution.
    return mpp if all(0.01 < m < 1000 for m in mpp) else None


def _vendor(tif) -> str:
    for attr, name in (
        ("is_svs", "aperio"),
        ("is_ndpi", "hamamatsu"),
        ("is_scn", "leica"),
        ("is_philips", "philips"),
        ("is_ome", "ome"),
    ):
        if getattr(tif, attr, False):
            return name
    return "generic-tiff"


def _associated_name(page, index: int, vendor: str) -> str:
    text = (page.description or "").lower()
    for name in ("label", "macro", "thumbnail"):
        if re.search(rf"\b{name}\b", text):
            return name
    return "thumbnail" if vendor == "aperio" and index == 1 else f"image{index}"


class TiffLayout:
    """Levels, associated images and metadata of a TIFF slide."""

    def __init__(self, path: str | os.PathLike) -> None:
        import tifffile

        self.path = os.fspath(path)
        if not Path(self.path).is_file():
            raise SlideReadError(self.path, "no such file")
        self.file_size = os.path.getsize(self.path)
        if self.file_size == 0:
            raise SlideReadError(self.path, "the file is empty")
        if not is_tiff_file(self.path):
            raise SlideReadError(self.path, "not a TIFF file (no TIFF header)")
        try:
            self._tif = tifffile.TiffFile(self.path)
            pages = self._main_pages()
        except SlideReadError:
            raise
        except Exception as exc:  # tifffile raises many types for damaged headers
            raise SlideReadError(self.path, f"damaged TIFF structure ({exc})") from None
        self.vendor = _vendor(self._tif)
        self.uses_subifds = bool(pages[0].subifds)
        self.level_pages = self._find_levels(pages)
        self.associated_pages = {
            _associated_name(p, i, self.vendor): p
            for i, p in enumerate(pages)
            if p not in self.level_pages and p.shape and p.imagewidth * p.imagelength <= 1 << 26
        }
        for i, page in enumerate(self.level_pages):
            self._validate(page, i)

    def _main_pages(self) -> list:
        pages = []
        for page in self._tif.pages:
            if page is None or len(pages) >= _MAX_PAGES:
                break
            pages.append(page.keyframe if hasattr(page, "keyframe") else page)
        if not pages:
            raise SlideReadError(self.path, "the TIFF has no images")
        return pages

    def _find_levels(self, pages: list) -> list:
        first = pages[0]
        if self.uses_subifds:
            return [level.keyframe for level in self._tif.series[0].levels]
        if not first.is_tiled:
            return [first]
        levels = [first]
        for page in pages[1:]:
            last = levels[-1]
            if (
                page.is_tiled
                and page.samplesperpixel == first.samplesperpixel
                and page.dtype == first.dtype
                and page.imagewidth < last.imagewidth
                and page.imagelength <= last.imagelength
            ):
                levels.append(page)
        return levels

    def _validate(self, page, level: int) -> None:
        def fail(reason: str):
            raise SlideReadError(self.path, f"level {level}: {reason}")

        if page.imagewidth < 1 or page.imagelength < 1:
            fail("the image has no pixels")
        if page.samplesperpixel not in (1, 3):
            fail(f"{page.samplesperpixel} samples per pixel are not supported (1 or 3)")
        if page.samplesperpixel > 1 and int(page.planarconfig) != 1:
            fail("separate colour planes are not supported")
        if page.dtype is None or np.dtype(page.dtype).itemsize > 2 or np.dtype(page.dtype).kind not in "ui":
            fail(f"{page.bitspersample}-bit {page.sampleformat.name.lower()} samples are not supported")
        import tifffile

        if int(page.compression) not in tifffile.TIFF.DECOMPRESSORS:
            fail(f"unsupported compression {page.compression!r}")
        if page.is_tiled:
            side = (int(page.tilelength), int(page.tilewidth))
            if min(side) < 1 or max(side) > _MAX_TILE_SIDE:
                fail(f"invalid tile size {side[1]}x{side[0]}")
        else:
            side = (min(int(page.rowsperstrip or 0), page.imagelength), page.imagewidth)
            nbytes = side[0] * side[1] * page.samplesperpixel * np.dtype(page.dtype).itemsize
            if side[0] < 1 or nbytes > _MAX_STRIP_BYTES:
                fail("invalid strip size")
        expected = -(-page.imagelength // side[0]) * -(-page.imagewidth // side[1])
        if expected > _MAX_TILES:
            fail(f"{expected} tiles claimed: image dimensions {page.imagewidth}x{page.imagelength} are implausible")
        key = "TileOffsets" if page.is_tiled else "StripOffsets"
        tag = page.tags.get(key)
        if tag is None or tag.count != expected or len(page.databytecounts) != expected:
            fail(f"{tag.count if tag else 0} tiles stored where {page.imagewidth}x{page.imagelength} needs {expected}")
        offsets = np.asarray(page.dataoffsets, np.int64)
        counts = np.asarray(page.databytecounts, np.int64)
        if (counts <= 0).any():
            fail(f"{int((counts <= 0).sum())} tiles have no data")
        if (offsets < 0).any() or int((offsets + counts).max()) > self.file_size:
            fail("tile data lies past the end of the file (truncated file?)")

    def close(self) -> None:
        self._tif.close()

    def tiles(self, fd: int) -> list[LevelTiles]:
        return [LevelTiles(self.path, fd, page, i) for i, page in enumerate(self.level_pages)]

    @cached_property
    def properties(self) -> dict[str, str]:
        page = self.level_pages[0]
        props = {f"tiff.{tag.name}": str(tag.value) for tag in page.tags if tag.count < 64 and tag.dtype != 7}
        if self.vendor == "aperio":
            props.update(_parse_aperio(page.description))
        props["napari_wsi_io.vendor"] = self.vendor
        return props

    @cached_property
    def mpp(self) -> tuple[float, float] | None:
        """Microns per pixel (x, y) at level 0, or None when the file does not say."""
        if self.vendor == "aperio":
            try:
                value = float(self.properties["aperio.MPP"])
            except (KeyError, ValueError):
                value = 0.0
            if value > 0:
                return (value, value)
        return _resolution_mpp(self.level_pages[0])

    def cucim_problem(self) -> str | None:
        """Why cuCIM must not read this file, or None when it can do so safely and correctly."""
        if self.uses_subifds:
            return "pyramid levels are stored in SubIFDs, which cuCIM does not read"
        if self.vendor not in _CUCIM_VENDORS:
            return f"{self.vendor} files are not handled by cuCIM"
        for page in self.level_pages:
            if not page.is_tiled:
                return "striped, not tiled (cuCIM's slow path returns RGBA)"
            if page.bitspersample != 8:
                return f"{page.bitspersample} bits per sample (cuCIM reads 8)"
            if page.samplesperpixel != 3 or int(page.photometric) not in (2, 6):
                return "not 3-sample RGB/YCbCr"
            if int(page.compression) not in _CUCIM_COMPRESSIONS:
                return f"{page.compression.name} compression is not safe in cuCIM"
            if int(page.predictor) != 1:
                return "a TIFF predictor (crashes cuCIM)"
        return None
