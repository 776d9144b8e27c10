"""What a TIFF holds, read from its IFDs alone (no pixels), and raw tile access.

Every backend starts here: the layout decides whether cuCIM may see the file,
supplies the metadata (cuCIM reports no Aperio MPP), and lets any backend
fetch and check the compressed bytes of one tile.
"""

from __future__ import annotations

import copy
import importlib
import logging
import math
import os
import re
import threading
from pathlib import Path

import numpy as np

from .._errors import SlideReadError
from ._j2k import imagecodecs_returns_ycbcr, j2k_problem, ycbcr_to_rgb
from ._jpeg import JpegChecker
from ._vendor import EmbeddedJpeg, Level, VendorLayout

__all__ = ["EmbeddedTiles", "LevelTiles", "TiffLayout", "is_tiff_file"]

_MAX_PAGES = 256
_MAX_TILES = 1 << 22  # per level: a 500k x 500k px slide of 256 px tiles
_MAX_RESTART_INTERVALS = 1 << 24  # per NDPI level: a 200k x 100k px level of 128 x 8 px intervals
_MAX_TILE_SIDE = 1 << 14
_MAX_STRIP_BYTES = 1 << 28
_JPEG = 7
_JPEG2000 = {33003, 33004, 33005, 34712}
_APERIO_J2K_YCBCR = 33003
# Compressions cuCIM 26.10 decodes correctly and safely (checked per kind in the tests
# and in tests/test_fuzz.py).  Deflate is left out: it logs libtiff errors, crashes with
# a predictor, and is reported to segfault on small tiles.  LZW is left out: cuCIM
# decodes a corrupt LZW tile to wrong pixels without an error, and only decoding
# it can tell.
_CUCIM_COMPRESSIONS = {1: "none", 7: "JPEG", 33003: "Aperio JPEG 2000", 33005: "Aperio JPEG 2000"}
# The types libtiff (inside cuCIM) accepts for the tags the pixels depend on; it
# ignores a tag of another type where tifffile reads it, and then the two disagree.
_TAG_TYPES = {
    256: {3, 4},  # ImageWidth
    257: {3, 4},  # ImageLength
    258: {3},  # BitsPerSample
    259: {3},  # Compression
    262: {3},  # PhotometricInterpretation
    277: {3},  # SamplesPerPixel
    284: {3},  # PlanarConfiguration
    317: {3},  # Predictor
    322: {3, 4},  # TileWidth
    323: {3, 4},  # TileLength
    324: {3, 4, 16},  # TileOffsets
    325: {3, 4, 16},  # TileByteCounts
    338: {3},  # ExtraSamples
    339: {3},  # SampleFormat
    347: {7},  # JPEGTables
    530: {3},  # YCbCrSubSampling
}
_CUCIM_VENDORS = {"aperio", "generic-tiff", "philips"}
# An NDPI strip without restart markers is decoded whole for each read: fine for small levels and the macro.
_NDPI_WHOLE_STRIP = 1 << 24
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_tiff_file(path: str | os.PathLike) -> bool:
    """True when the file starts with a (Big)TIFF header."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in _TIFF_MAGIC
    except OSError:
        return False


def _enum_name(value) -> str:
    return getattr(value, "name", str(value))


class LevelTiles:
    """The compressed tiles (or strips) of one pyramid level or associated image.

    Building it checks every tag the pixels depend on, so that a damaged file
    fails here, with a reason, and never reaches a decoder.
    """

    def __init__(
        self,
        path: str,
        page,
        level: int | str,
        file_size: int,
        size: tuple[int, int] | None = None,
        fill: int | None = None,
        remap: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.path, self.level, self._fd, self.fill = path, level, -1, fill
        self.label = f"level {level}" if isinstance(level, int) else f"associated image {level!r}"
        #: Also refuse JPEG tiles TurboJPEG cannot decode (set for cuCIM).
        self.turbojpeg = False
        # The tile grid follows the tags; tifffile may already have clipped imagewidth (Philips).
        self.height, self.width = int(page.tags.valueof(257, 0)), int(page.tags.valueof(256, 0))
        self.samples = int(page.samplesperpixel)
        self.compression = int(page.compression)
        self.photometric = int(page.photometric)
        if self.width < 1 or self.height < 1:
            self._fail("the image has no pixels")
        if self.samples not in (1, 3):
            self._fail(f"{self.samples} samples per pixel are not supported (1 or 3)")
        if self.samples > 1 and int(page.planarconfig) != 1:
            self._fail("separate colour planes are not supported")
        if page.dtype is None or np.dtype(page.dtype).itemsize > 2 or np.dtype(page.dtype).kind not in "ui":
            kind = {1: "integer", 2: "signed integer", 3: "floating-point"}.get(int(page.sampleformat), "unknown")
            self._fail(f"{page.bitspersample}-bit {kind} samples are not supported")
        self.dtype = np.dtype(page.dtype)
        self.bits = int(page.bitspersample)
        import tifffile

        if self.compression not in tifffile.TIFF.DECOMPRESSORS:
            self._fail(f"unsupported compression {_enum_name(page.compression)}")
        # What tifffile would hand back undecoded (palette indices, raw YCbCr) is refused.
        allowed = {1: (0, 1), 3: (2, 6) if self.compression == _JPEG else (2,)}[self.samples]
        if self.photometric not in allowed:
            self._fail(f"photometric {_enum_name(page.photometric)} with {self.samples} samples is not supported")
        #: NDPI: the level is one JPEG strip read by restart interval (tifffile's "tiles").
        self.restart = None
        if self.compression == _JPEG and page.is_ndpi:
            from ._ndpi import restart_intervals

            self.restart = restart_intervals(self, page, file_size)
            if self.restart is None and self.width * self.height > _NDPI_WHOLE_STRIP:
                self._fail(
                    f"the {self.width}x{self.height} px JPEG strip has no restart markers: "
                    "it would have to be decoded whole for every view"
                )
        if self.restart:
            self.tile_height, self.tile_width = self.restart.tile_height, self.restart.tile_width
        elif page.is_tiled:
            self.tile_height, self.tile_width = int(page.tilelength), int(page.tilewidth)
            if min(self.tile_height, self.tile_width) < 1 or max(self.tile_height, self.tile_width) > _MAX_TILE_SIDE:
                self._fail(f"invalid tile size {self.tile_width}x{self.tile_height}")
        else:
            self.tile_height, self.tile_width = min(int(page.rowsperstrip or 0), self.height), self.width
            if self.tile_height < 1 or self.tile_height * self.tile_width * self.samples * self.dtype.itemsize > (
                _MAX_STRIP_BYTES
            ):
                self._fail("invalid strip size")
        self.tiled = bool(page.is_tiled) or self.restart is not None
        self.rows = -(-self.height // self.tile_height)
        self.cols = -(-self.width // self.tile_width)
        expected = self.rows * self.cols
        # NDPI restart intervals are one MCU row high: a level has many more of them than tiles.
        if expected > (_MAX_RESTART_INTERVALS if self.restart else _MAX_TILES):
            self._fail(f"{expected} tiles claimed: image dimensions {self.width}x{self.height} are implausible")
        if self.restart:  # counted and checked against the markers already
            self.offsets, self.bytecounts = self.restart.offsets, self.restart.bytecounts
        else:
            tag = page.tags.get("TileOffsets" if page.is_tiled else "StripOffsets")
            stored = tag.count if tag is not None else 0
            if stored != expected or len(page.dataoffsets) != expected or len(page.databytecounts) != expected:
                self._fail(f"{stored} tiles stored where {self.width}x{self.height} needs {expected}")
            self.offsets = np.asarray(page.dataoffsets, np.int64)
            self.bytecounts = np.asarray(page.databytecounts, np.int64)
        # Tiles the format may leave unstored (Philips: bytecount 0) read as ``fill``; elsewhere that is damage.
        self.missing = (self.bytecounts == 0) if fill is not None else np.zeros(expected, bool)
        empty = int((self.bytecounts <= 0).sum()) - int(self.missing.sum())
        if empty:
            self._fail(f"{empty} tiles have no data")
        if self.missing.all():
            self._fail("no tile is stored")
        stored_ends = (self.offsets + self.bytecounts)[~self.missing]
        if (self.offsets[~self.missing] < 0).any() or int(stored_ends.max()) > file_size:
            self._fail("tile data lies past the end of the file (truncated file?)")
        # No codec needs several times the raw size: a larger count is damage, and would be read whole.
        tile_bytes = self.tile_height * self.tile_width * self.samples * self.dtype.itemsize
        if self.compression == 1:  # uncompressed: every tile must hold its pixels
            needed = np.full(expected, tile_bytes, np.int64)
            if not page.is_tiled:
                last_rows = self.height - (self.rows - 1) * self.tile_height
                needed[-1] = last_rows * self.width * self.samples * self.dtype.itemsize
            short = int(((self.bytecounts < needed) & ~self.missing).sum())
            if short:
                self._fail(f"{short} uncompressed tiles hold fewer bytes than their pixels need")
        if int(self.bytecounts.max()) > 4 * tile_bytes + (1 << 20):
            self._fail(f"a tile claims {int(self.bytecounts.max())} bytes, more than any codec needs")
        self.jpeg = None
        if self.compression == _JPEG:
            last = self.height - (self.rows - 1) * self.tile_height
            sizes = (
                {(self.tile_width, self.tile_height)}
                if page.is_tiled
                else {(self.width, self.tile_height), (self.width, last)}
            )
            self.jpeg = (
                self.restart.checker
                if self.restart
                else JpegChecker(page.jpegtables, sizes, self.samples, self.bits, self.photometric, page.is_jfif)
            )
            if self.jpeg.tables_problem:
                self._fail(self.jpeg.tables_problem)
        self._decode = page.decode
        if self.compression == _JPEG and page.is_ndpi:
            from ._ndpi import decode_strip

            self._decode = decode_strip
        self._jpegtables = page.jpegtables
        self._grid_height, self._grid_width = self.height, self.width
        # The real size inside a padded tile grid; rows and cols stay the grid's.
        if size is not None and size != (self.width, self.height):
            width, height = size
            if not (self.tiled and 0 < width <= self.width and 0 < height <= self.height):
                self._fail(f"the slide says {width}x{height}, the TIFF image is {self.width}x{self.height}")
            self.width, self.height = width, height
        # A stitched level (Ventana overlapping tiles): the TIFF row and column of each of its rows and columns.
        self.remap = None
        if remap is not None:
            ys, xs = (np.asarray(a, np.int64) for a in remap)
            if (
                (len(ys), len(xs)) != (self.height, self.width)
                or min(ys.min(), xs.min()) < 0
                or ys.max() >= self._grid_height
                or xs.max() >= self._grid_width
                or (np.diff(ys) < 0).any()
                or (np.diff(xs) < 0).any()
            ):
                self._fail("the stitched tile layout does not fit the TIFF image")
            self.remap = (ys, xs)

    def _fail(self, reason: str):
        raise SlideReadError(self.path, f"{self.label}: {reason}")

    def bind(self, fd: int, turbojpeg: bool = False) -> LevelTiles:
        """A copy that reads through ``fd``."""
        tiles = copy.copy(self)
        tiles._fd, tiles.turbojpeg = fd, turbojpeg
        return tiles

    def where(self, ty: int, tx: int) -> str:
        return f"{self.label}, tile ({tx}, {ty})"

    def raw(self, ty: int, tx: int) -> bytes:
        i = ty * self.cols + tx
        count, offset = int(self.bytecounts[i]), int(self.offsets[i])
        data = os.pread(self._fd, count, offset)
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
        elif self.compression in _JPEG2000:
            height = self.tile_height if self.tiled else min(self.tile_height, self.height - ty * self.tile_height)
            half_chroma = self.compression == _APERIO_J2K_YCBCR  # Aperio's own sampling, read right everywhere
            problem = j2k_problem(data, self.tile_width, height, self.samples, self.bits, half_chroma)
        if problem:
            raise SlideReadError(self.path, f"{self.where(ty, tx)}: {problem}")

    def decode(self, ty: int, tx: int) -> np.ndarray:
        """One tile as (tile_height, tile_width, samples), edge tiles cropped to the level (to the TIFF image
        for a stitched level)."""
        if self.restart is not None:
            h = min(self.tile_height, self.height - ty * self.tile_height)
            w = min(self.tile_width, self.width - tx * self.tile_width)
            return self.read_into(
                np.empty((h, w, self.samples), self.dtype), ty * self.tile_height, tx * self.tile_width
            )
        height, width = (self._grid_height, self._grid_width) if self.remap is not None else (self.height, self.width)
        h = min(self.tile_height, height - ty * self.tile_height)
        w = min(self.tile_width, width - tx * self.tile_width)
        if self.missing[ty * self.cols + tx]:
            return np.full((h, w, self.samples), self.fill, self.dtype)
        data = self.raw(ty, tx)
        self.check(ty, tx, data)
        ycbcr = False
        if self.compression == _APERIO_J2K_YCBCR and self.samples == 3:
            try:  # imagecodecs converts half-width chroma itself, full-width not
                ycbcr = imagecodecs_returns_ycbcr(data)
            except ValueError as exc:
                raise SlideReadError(self.path, f"{self.where(ty, tx)}: {exc}") from None
        try:
            tile = self._decode(data, ty * self.cols + tx, jpegtables=self._jpegtables)[0]
        except MemoryError:
            raise
        except Exception as exc:  # codecs raise many types; all mean a bad tile
            raise SlideReadError(self.path, f"{self.where(ty, tx)}: {exc}") from None
        if tile is not None and tile.ndim >= 3 and tile.size == math.prod(tile.shape[-3:]):
            tile = tile.reshape(tile.shape[-3:])
            if tile.shape[0] >= h and tile.shape[1] >= w and tile.shape[2] == self.samples:
                if ycbcr:
                    return ycbcr_to_rgb(tile[:h, :w])
                return tile[:h, :w]
        raise SlideReadError(self.path, f"{self.where(ty, tx)}: tile decodes to too few pixels")

    def tile_range(self, y: int, x: int, h: int, w: int) -> tuple[range, range]:
        return (
            range(y // self.tile_height, (y + h - 1) // self.tile_height + 1),
            range(x // self.tile_width, (x + w - 1) // self.tile_width + 1),
        )

    def read_into(self, out: np.ndarray, y: int, x: int) -> np.ndarray:
        """Decode the tiles under ``out`` (h, w, samples), placed at (y, x) in the level."""
        if self.restart is not None:
            self.restart.read_into(self, out, y, x)
            return out
        if self.remap is not None:
            # Read the TIFF block under the region once, then pick each stitched pixel's source.
            ys, xs = self.remap[0][y : y + out.shape[0]], self.remap[1][x : x + out.shape[1]]
            block = np.empty((int(ys[-1] - ys[0]) + 1, int(xs[-1] - xs[0]) + 1, out.shape[2]), self.dtype)
            self._read_grid(block, int(ys[0]), int(xs[0]))
            # Copy runs of consecutive source rows and columns (a tile's visible part): slices, not a gather.
            for oy0, oy1, by in _runs(ys - ys[0]):
                for ox0, ox1, bx in _runs(xs - xs[0]):
                    out[oy0:oy1, ox0:ox1] = block[by : by + oy1 - oy0, bx : bx + ox1 - ox0]
            return out
        return self._read_grid(out, y, x)

    def _read_grid(self, out: np.ndarray, y: int, x: int) -> np.ndarray:
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
        """Structurally check the JPEG (2000) tiles under a region (cuCIM hides corrupt ones)."""
        if self.jpeg is None and self.compression not in _JPEG2000:
            return
        rows, cols = self.tile_range(y, x, h, w)
        for ty in rows:
            for tx in cols:
                if not self.missing[ty * self.cols + tx]:
                    self.check(ty, tx, self.raw(ty, tx))


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


# Vendors whose layout has its own module (OpenSlide's vendor names).
_VENDOR_MODULES: dict[str, str] = {
    "hamamatsu": "._ndpi",
    "leica": "._scn",
    "ventana": "._bif",
    "philips": "._philips",
}


def _vendor(tif) -> str:
    for attr, name in (
        ("is_svs", "aperio"),
        ("is_ndpi", "hamamatsu"),
        ("is_scn", "leica"),
        ("is_bif", "ventana"),
        ("is_philips", "philips"),
        ("is_ome", "ome"),
    ):
        if getattr(tif, attr, False):
            return name
    # tifffile looks for "</scn>" or "</DataObject>" at the very end (and "Philips DP"): a damaged
    # or unusual vendor XML must not open as a generic TIFF (the macro as the slide, padded levels).
    first = tif.pages.first
    head = (first.description or "")[:1024]
    if "leica-microsystems.com/scn" in head:
        return "leica"
    if (first.software or "").startswith("Philips") and "DPUfsImport" in head:
        return "philips"
    return "generic-tiff"


def _associated_name(page, index: int, vendor: str) -> str:
    text = (page.description or "").lower()
    for name in ("label", "macro", "thumbnail"):
        if re.search(rf"\b{name}\b", text):
            return name
    return "thumbnail" if vendor == "aperio" and index == 1 else f"image{index}"


class _TifffileComplaints(logging.Handler):
    """Collects what tifffile logs about this thread's file while the layout is read."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            self.messages.append(record.getMessage())

    def __enter__(self) -> _TifffileComplaints:
        logging.getLogger("tifffile").addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("tifffile").removeHandler(self)


class TiffLayout:
    """Levels, associated images and metadata of a TIFF slide.

    Everything is read and checked here, once: tifffile parses damaged tags
    lazily and raises any exception type when one is touched, so after this
    nothing reads a tag again.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import tifffile

        self.path = os.fspath(path)
        if Path(self.path).is_dir():
            raise SlideReadError(self.path, "it is a directory holding no whole-slide DICOM series")
        if not Path(self.path).is_file():
            raise SlideReadError(self.path, "no such file")
        self.file_size = os.path.getsize(self.path)
        if self.file_size == 0:
            raise SlideReadError(self.path, "the file is empty")
        if not is_tiff_file(self.path):
            raise SlideReadError(self.path, "not a TIFF file (no TIFF header)")
        with _TifffileComplaints() as complaints:
            try:
                self._tif = tifffile.TiffFile(self.path)
            except Exception as exc:  # tifffile raises many types for damaged headers
                raise SlideReadError(self.path, f"damaged TIFF structure ({exc})") from None
            try:
                self._inspect()
            except BaseException as exc:
                self._tif.close()
                if isinstance(exc, (SlideReadError, MemoryError)) or not isinstance(exc, Exception):
                    raise
                raise SlideReadError(self.path, f"damaged TIFF tags ({type(exc).__name__}: {exc})") from None
        # A tag tifffile only warns about (in any IFD, associated images too) has crashed cuCIM's open.
        if complaints.messages and self._cucim_problem is None:
            self._cucim_problem = f"tifffile reports damage ({complaints.messages[0]})"

    def _inspect(self) -> None:
        pages = self._main_pages()
        self.vendor = _vendor(self._tif)
        self.uses_subifds = bool(pages[0].subifds)
        module = _VENDOR_MODULES.get(self.vendor)
        layout = (
            importlib.import_module(module, __package__).read_layout(self._tif, pages)
            if module
            else self._generic_layout(pages)
        )
        if not layout.levels:
            raise SlideReadError(self.path, f"no pyramid levels found in this {self.vendor} file")
        self.level_pages = [level.page for level in layout.levels]
        self.levels = [
            LevelTiles(self.path, level.page, i, self.file_size, level.size, level.fill, level.remap)
            for i, level in enumerate(layout.levels)
        ]
        self.associated_pages = {
            name: p for name, p in layout.associated.items() if p.shape and 0 < p.imagewidth * p.imagelength <= 1 << 26
        }
        self.properties = self._properties()
        self.properties.update(layout.properties)
        self.mpp = layout.mpp or self._mpp()
        # cuCIM refuses a file with several full-resolution IFDs (a label or macro strip among them).
        self._full_resolution_ifds = sum(int(p.subfiletype) == 0 for p in pages)
        self._cucim_problem = self._find_cucim_problem()

    def _generic_layout(self, pages: list) -> VendorLayout:
        """Generic TIFF, Aperio SVS and OME-TIFF: the first image and its reductions."""
        level_pages = self._find_levels(pages)
        associated = {_associated_name(p, i, self.vendor): p for i, p in enumerate(pages) if p not in level_pages}
        return VendorLayout([Level(p) for p in level_pages], associated)

    def _main_pages(self) -> list:
        pages, seen = [], set()
        for page in self._tif.pages:
            # A loop in the IFD chain can hand back the same IFD again: stop there.
            if page is None or len(pages) >= _MAX_PAGES or page.offset in seen:
                break
            seen.add(page.offset)
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

    def close(self) -> None:
        self._tif.close()

    def tiles(self, fd: int, turbojpeg: bool = False) -> list[LevelTiles]:
        """The levels' tiles, read through ``fd``."""
        return [level.bind(fd, turbojpeg) for level in self.levels]

    def associated_tiles(self, name: str, fd: int) -> LevelTiles:
        """The tiles (strips) of an associated image, checked like a level's."""
        try:
            page = self.associated_pages[name]
            if isinstance(page, EmbeddedJpeg):
                return EmbeddedTiles(self.path, page, name)
            return LevelTiles(self.path, page, name, self.file_size).bind(fd)
        except (SlideReadError, MemoryError, KeyError):
            raise
        except Exception as exc:
            raise SlideReadError(self.path, f"associated image {name!r}: damaged tags ({exc})") from None

    def _properties(self) -> dict[str, str]:
        page = self.level_pages[0]
        props = {}
        for tag in page.tags:
            try:
                if tag.count < 64 and tag.dtype != 7:
                    props[f"tiff.{tag.name}"] = str(tag.value)
            except Exception:  # a damaged tag the pixels do not need: leave it out
                continue
        if self.vendor == "aperio":
            props.update(_parse_aperio(page.description or ""))
        props["napari_wsi_io.vendor"] = self.vendor
        return props

    def _mpp(self) -> tuple[float, float] | None:
        """Microns per pixel (x, y) at level 0, or None when the file does not say."""
        if self.vendor == "aperio":
            try:
                value = float(self.properties["aperio.MPP"])
            except (KeyError, ValueError):
                value = 0.0
            if 0 < value < 1000:
                return (value, value)
        try:
            return _resolution_mpp(self.level_pages[0])
        except Exception:  # damaged resolution tags: the scale is unknown, the pixels are fine
            return None

    def cucim_problem(self) -> str | None:
        """Why cuCIM must not read this file, or None when it can do so safely and correctly."""
        return self._cucim_problem

    def _find_cucim_problem(self) -> str | None:
        if self.uses_subifds:
            return "pyramid levels are stored in SubIFDs, which cuCIM does not read"
        if self.vendor == "hamamatsu":  # checked with cuCIM 26.10: "Cannot find a plugin" (as .tif: refused too)
            return "cuCIM has no NDPI reader (its levels are JPEG strips read here by restart interval)"
        if self.vendor not in _CUCIM_VENDORS:
            return f"{self.vendor} files are not handled by cuCIM"
        if self.vendor != "aperio" and self._full_resolution_ifds > 1:
            return f"{self._full_resolution_ifds} IFDs have SubfileType 0 (cuCIM opens only one full-resolution image)"
        for page, level in zip(self.level_pages, self.levels):
            if not level.tiled:
                return "striped, not tiled (cuCIM's slow path returns RGBA)"
            if level.bits != 8 or level.dtype != np.uint8:
                return f"{level.bits} bits per sample (cuCIM reads 8)"
            if level.samples != 3:
                return "not 3-sample RGB/YCbCr"
            if level.compression not in _CUCIM_COMPRESSIONS:
                return f"{_enum_name(page.compression)} compression is not safe in cuCIM"
            if int(page.predictor) != 1:
                return "a TIFF predictor (crashes cuCIM)"
            odd = [
                tag.name for tag in page.tags if tag.code in _TAG_TYPES and int(tag.dtype) not in _TAG_TYPES[tag.code]
            ]
            if odd:
                return f"tag {odd[0]} has an unusual type (cuCIM's libtiff would ignore it)"
            # The TIFF standard asks for multiples of 16; cuCIM's tile cache assumes them.
            if level.tile_width % 16 or level.tile_height % 16:
                return f"tile size {level.tile_width}x{level.tile_height} is not a multiple of 16"
        return None
