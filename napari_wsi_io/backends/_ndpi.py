"""Hamamatsu NDPI: levels by OpenSlide's rules, and random access through the restart intervals.

Each NDPI level is ONE JPEG strip with restart markers.  McuStarts (tag 65426,
high bytes in 65432) says where each restart interval's entropy data begins;
tifffile turns them into "tiles" one MCU row high (``page.jpegheader`` is the
strip's header patched to one interval).  Restart intervals reset the DC
prediction, so any run of them, taken row by row, is the entropy data of a
JPEG of their size once the restart markers are renumbered in order: a region
is decoded in one call, never the whole strip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._errors import SlideReadError
from ._jpeg import JpegChecker
from ._tiff_page import LevelSource, PixelFormat
from ._vendor import LevelPage, VendorLayout

if TYPE_CHECKING:
    from ._tile_decode import TiffTiles

__all__ = ["RestartIntervals", "decode_strip", "read_layout", "restart_intervals"]

_SOURCELENS, _XOFFSET, _YOFFSET, _FOCAL_PLANE = 65421, 65422, 65423, 65424
_MCU_STARTS, _MCU_STARTS_HIGH, _REFERENCE, _PROPERTY_MAP = 65426, 65432, 65427, 65449
_JPEG_MAX_DIMENSION = 65500  # libjpeg's limit
_MAX_DECODE_PIXELS = 1 << 23  # per decode call: bounds the scratch buffer of a large read
_EOI = b"\xff\xd9"
_MAX_HEADER = 1 << 16  # a JPEG header's tables and frame fit in a few kB
_MAX_SCAN_BYTES = 1 << 30  # a strip without McuStarts is scanned for its markers up to this size (about 1 s)
_SCAN_CHUNK = 1 << 24


def _lens(page) -> float | None:
    try:
        value = page.tags.valueof(_SOURCELENS)
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def read_layout(tif, pages: list) -> VendorLayout:
    """Levels: the pages with a positive SourceLens in focal plane 0, largest first; macro: SourceLens -1."""
    path = tif.filehandle.path
    levels, associated = [], {}
    for page in pages:
        lens = _lens(page)
        if lens is None:
            raise SlideReadError(path, f"NDPI page {page.index} has no SourceLens tag ({_SOURCELENS})")
        if lens > 0:
            if int(page.tags.valueof(_FOCAL_PLANE, 0) or 0) == 0:  # other focal planes are z-stack layers
                levels.append(page)
        elif lens == -1 and "macro" not in associated:
            associated["macro"] = page
    levels.sort(key=lambda p: (p.imagewidth, p.imagelength), reverse=True)
    for big, small in zip(levels, levels[1:]):
        if (small.imagewidth, small.imagelength) == (big.imagewidth, big.imagelength):
            raise SlideReadError(path, f"two NDPI levels are {big.imagewidth}x{big.imagelength} px")
    return VendorLayout([LevelPage(p) for p in levels], associated, _properties(pages[0]))


def _properties(page) -> dict[str, str]:
    """What OpenSlide reads from the first IFD, under its names."""
    props = {}
    tags = page.tags
    lens = _lens(page)
    if lens is not None:
        props["hamamatsu.SourceLens"] = f"{lens:g}"
        if lens > 0:
            props["openslide.objective-power"] = f"{lens:g}"
    for code, name in ((_XOFFSET, "XOffsetFromSlideCentre"), (_YOFFSET, "YOffsetFromSlideCentre")):
        value = tags.valueof(code)
        if isinstance(value, (int, np.integer)):
            props[f"hamamatsu.{name}"] = str(int(value))
    for code, name in ((_REFERENCE, "Reference"),):
        value = tags.valueof(code)
        if isinstance(value, str):
            props[f"hamamatsu.{name}"] = value
    text = tags.valueof(_PROPERTY_MAP)
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    if isinstance(text, str):
        for record in text.split("\r\n"):
            key, _, value = record.partition("=")
            if key and value:
                props[f"hamamatsu.{key}"] = value
    return props


def decode_strip(data: bytes, index: int, jpegtables: bytes | None = None) -> tuple[np.ndarray, None, None]:
    """A whole NDPI strip (no restart intervals) in the colours libjpeg picks from its markers, as OpenSlide.

    tifffile's decoder would take a JPEG without JFIF marker under an RGB photometric tag as RGB.
    """
    import imagecodecs

    image = imagecodecs.jpeg8_decode(data)
    return (image[..., None] if image.ndim == 2 else image), None, None


def _sof_and_interval(header: bytes) -> tuple[int, int, int, int]:
    """(offset of the SOF height field, restart interval, MCU width, MCU height) of a checked header."""
    pos, sof, interval, mcu = 2, -1, 0, (8, 8)
    while pos + 4 <= len(header) and header[pos] == 0xFF:
        marker, length = header[pos + 1], int.from_bytes(header[pos + 2 : pos + 4], "big")
        if marker == 0xC0:
            sof = pos + 5
            ncomp = header[pos + 9]
            factors = [header[pos + 11 + 3 * i] for i in range(ncomp)]
            mcu = (8 * max(f >> 4 for f in factors), 8 * max(f & 15 for f in factors))
        elif marker == 0xDD:
            interval = int.from_bytes(header[pos + 4 : pos + 6], "big")
        elif marker == 0xDA:
            break
        pos += 2 + length
    return sof, interval, mcu[0], mcu[1]


def restart_intervals(src: LevelSource, fmt: PixelFormat, size: tuple[int, int]) -> RestartIntervals | None:
    """The restart intervals of an NDPI JPEG strip, or None for a strip of one interval (decoded whole).

    Without McuStarts the strip's restart markers are found by scanning it once (bounded), as
    OpenSlide does in the background.
    """
    page = src.page
    if _MCU_STARTS in page.tags:
        return RestartIntervals(src, fmt, size)
    from tifffile.tifffile import ndpi_jpeg_tile

    offset, strip_bytes = _first(page.tags.valueof(273)), _first(page.tags.valueof(279))
    start = src.source.read(offset, min(strip_bytes, _MAX_HEADER))
    try:
        th, tw, header = ndpi_jpeg_tile(start)
    except Exception:  # no restart interval or frame header: the whole-strip checks say what is wrong
        return None
    if tw >= size[0] and th >= size[1]:
        return None
    return RestartIntervals(src, fmt, size, (bytes(header), tw, th))


class RestartIntervals:
    """The restart-interval grid of one NDPI level: checks at open, decodes regions in one call.

    ``scan`` is (header, interval width, interval height) of a strip without McuStarts, whose
    intervals are then found by scanning it for restart markers.
    """

    def __init__(
        self, src: LevelSource, fmt: PixelFormat, size: tuple[int, int], scan: tuple[bytes, int, int] | None = None
    ) -> None:
        page = src.page
        strip_offset, strip_bytes = _first(page.tags.valueof(273)), _first(page.tags.valueof(279))
        if strip_offset < 0 or strip_bytes < 4 or strip_offset + strip_bytes > src.file_size:
            src.fail("the JPEG strip lies past the end of the file (truncated file?)")
        header, tw, th = scan or _tagged_header(src)
        self.header = bytes(header)
        self.tile_width, self.tile_height = tw, th
        self.checker = JpegChecker(None, {(tw, th)}, fmt.samples, fmt.bits, fmt.photometric, _is_jfif(self.header))
        problem = self.checker.problem(self.header + _EOI)
        if problem:
            src.fail(problem)
        self.rows, self.cols = self._grid(src, size)
        starts = self._scan(src, strip_offset, strip_bytes) if scan else _tagged_starts(src)
        #: Where each interval's data lies in the file, and its length with its marker.
        self.bytecounts = self._checked_counts(src, starts, strip_bytes, scanned=scan is not None)
        self.offsets = starts + strip_offset
        self._check_strip_header(src, strip_offset, size)

    def _grid(self, src: LevelSource, size: tuple[int, int]) -> tuple[int, int]:
        """(rows, cols) of intervals, after checking the header's frame and restart interval against the TIFF."""
        tw, th = self.tile_width, self.tile_height
        self.sof, interval, mcu_w, mcu_h = _sof_and_interval(self.header)
        if self.sof < 0 or interval < 1 or tw != interval * mcu_w or th != mcu_h:
            src.fail("the JPEG strip's restart interval does not match its frame header")
        if tw > _JPEG_MAX_DIMENSION:
            src.fail(f"restart intervals of {tw} px are wider than a JPEG can be")
        mcus_per_row = -(-size[0] // mcu_w)
        if mcus_per_row % interval:
            src.fail(f"restart intervals of {interval} MCUs do not divide a row of {mcus_per_row} MCUs")
        return -(-size[1] // th), mcus_per_row // interval

    def _checked_counts(self, src: LevelSource, starts: np.ndarray, strip_bytes: int, scanned: bool) -> np.ndarray:
        """Each interval's length (with its marker), after checking that ``starts`` fit the strip."""
        expected = self.rows * self.cols
        if scanned and len(starts) != expected:
            src.fail(
                f"no McuStarts (tag {_MCU_STARTS}), and the JPEG strip holds {len(starts)} restart intervals "
                f"where {expected} are needed"
            )
        counts = np.diff(starts, append=strip_bytes)
        if len(starts) != expected:
            src.fail(f"McuStarts (tag {_MCU_STARTS}) lists {len(starts)} restart intervals where {expected} are needed")
        if starts[0] != len(self.header):
            src.fail(f"the first McuStart ({starts[0]}) is not where the JPEG header ends ({len(self.header)})")
        if ((starts < 0) | (starts >= strip_bytes)).any():
            src.fail(f"McuStarts (tag {_MCU_STARTS}) point past the end of the JPEG strip ({strip_bytes} bytes)")
        # Each interval holds at least one byte of data and its 2-byte marker.
        if (counts < 3).any():
            src.fail(
                f"McuStarts (tag {_MCU_STARTS}) are out of order or too close (restart interval {_first_bad(counts)})"
            )
        return counts

    def _check_strip_header(self, src: LevelSource, strip_offset: int, size: tuple[int, int]) -> None:
        """The strip's own frame header must agree with the TIFF where JPEG can hold the size."""
        original = src.source.read(strip_offset, len(self.header))
        if len(original) != len(self.header) or original[: self.sof] != self.header[: self.sof]:
            src.fail("the JPEG strip's header changed while it was read")
        jpeg_h, jpeg_w = (int.from_bytes(original[self.sof + i : self.sof + i + 2], "big") for i in (0, 2))
        width, height = size
        if max(width, height) <= _JPEG_MAX_DIMENSION and (jpeg_w, jpeg_h) != (width, height):
            src.fail(f"the JPEG strip is {jpeg_w}x{jpeg_h} px where the TIFF says {width}x{height}")

    def _scan(self, src: LevelSource, offset: int, size: int) -> np.ndarray:
        """Where each interval's data starts, relative to the strip, from its restart markers."""
        if size > _MAX_SCAN_BYTES:
            src.fail(
                f"no McuStarts (tag {_MCU_STARTS}), and the {size >> 20} MB JPEG strip is too large to scan "
                "for its restart markers"
            )
        found, pos = [np.array([len(self.header)], np.int64)], len(self.header)
        src.source.prefetch([(offset + pos, size - pos)])  # remote: the strip in parallel requests, not chunk by chunk
        while pos < size:
            data = np.frombuffer(src.source.read(offset + pos, min(_SCAN_CHUNK, size - pos)), np.uint8)
            if len(data) < 2:
                break
            ff = np.flatnonzero(data[:-1] == 0xFF)
            after = data[ff + 1]
            found.append(pos + ff[(after >= 0xD0) & (after <= 0xD7)] + 2)
            # The next chunk starts at this one's last byte: a marker split between them is seen once.
            pos += len(data) - 1 if pos + len(data) < size else len(data)
        return np.concatenate(found)

    def raw(self, data: bytes) -> bytes:
        """One interval as a JPEG of its own (the decoders stop at its end, before the marker)."""
        return self.header + data + _EOI

    def problem(self, tiles: TiffTiles, ty: int, tx: int, data: bytes) -> str | None:
        """What is wrong with the JPEG ``raw`` made of one interval."""
        body = np.frombuffer(data, np.uint8)[len(self.header) : len(data) - 2]
        last = ty * self.cols + tx == self.rows * self.cols - 1
        problem = _segments_problem(body, np.array([len(body)]), last)
        if problem:
            return problem[1]
        # The header, and the interval as the decoder takes it (its marker left out).
        return self.checker.problem(data[: len(data) - 4] + _EOI)

    def read_into(self, tiles: TiffTiles, out: np.ndarray, y: int, x: int) -> None:
        """Decode the intervals under ``out`` (h, w, samples) at (y, x), a band of rows per call."""
        h, w = out.shape[:2]
        rows, cols = tiles.tile_range(y, x, h, w)
        th, tw = tiles.tile_height, tiles.tile_width
        step_c = max(1, min(len(cols), _JPEG_MAX_DIMENSION // tw))
        for c0 in range(cols.start, cols.stop, step_c):
            c1 = min(c0 + step_c, cols.stop)
            step_r = max(1, min(_JPEG_MAX_DIMENSION // th, _MAX_DECODE_PIXELS // ((c1 - c0) * tw * th)))
            for r0 in range(rows.start, rows.stop, step_r):
                r1 = min(r0 + step_r, rows.stop)
                block = self._decode(tiles, r0, r1, c0, c1)
                y0, x0 = max(y, r0 * th), max(x, c0 * tw)
                y1, x1 = min(y + h, r1 * th), min(x + w, c1 * tw)
                out[y0 - y : y1 - y, x0 - x : x1 - x] = block[y0 - r0 * th : y1 - r0 * th, x0 - c0 * tw : x1 - c0 * tw]

    def _decode(self, tiles: TiffTiles, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        import imagecodecs

        from .._scratch import scratch

        th, tw, n = tiles.tile_height, tiles.tile_width, (r1 - r0) * (c1 - c0)
        header = bytearray(self.header)
        header[self.sof : self.sof + 4] = ((r1 - r0) * th).to_bytes(2, "big") + ((c1 - c0) * tw).to_bytes(2, "big")
        index = (np.arange(r0, r1)[:, None] * self.cols + np.arange(c0, c1)).ravel()
        counts = tiles.bytecounts[index]
        # The intervals of one row lie back to back in the strip: one read per row (remote: all rows at once).
        firsts, lasts = np.arange(r0, r1) * self.cols + c0, np.arange(r0, r1) * self.cols + c1 - 1
        ends = tiles.offsets[lasts] + tiles.bytecounts[lasts]
        spans = [(int(a), int(b - a)) for a, b in zip(tiles.offsets[firsts], ends)]
        tiles.source.prefetch(spans)
        parts = [bytes(header)]
        for r, (start, size) in zip(range(r0, r1), spans):
            data = tiles.source.read(start, size)
            if len(data) != size:
                raise SlideReadError(tiles.path, f"{tiles.where(r, c0)} lies past the end of the file")
            parts.append(data)
        buf = np.frombuffer(bytearray().join(parts), np.uint8)  # one copy, writable: the markers are renumbered
        body = buf[len(header) :]
        problem = _segments_problem(body, counts, index[-1] == self.rows * self.cols - 1)
        if problem:
            bad = index[int(problem[0])]
            raise SlideReadError(tiles.path, f"{tiles.where(bad // self.cols, bad % self.cols)}: {problem[1]}")
        ends = np.cumsum(counts) - 1
        body[ends[:-1]] = 0xD0 + np.arange(n - 1) % 8  # renumber the markers in order
        body[ends[-1]] = 0xD9
        shape = ((r1 - r0) * th, (c1 - c0) * tw) + ((tiles.samples,) if tiles.samples > 1 else ())
        block = scratch("ndpi", shape, np.uint8)
        try:
            # libjpeg picks the colour space from the JPEG markers, as OpenSlide lets it for NDPI.
            imagecodecs.jpeg8_decode(buf, out=block)
        except MemoryError:
            raise
        except Exception as exc:  # codecs raise many types; all mean bad data
            raise SlideReadError(tiles.path, f"{tiles.where(r0, c0)}: {exc}") from None
        return block.reshape(shape[:2] + (tiles.samples,))


def _segments_problem(body: np.ndarray, counts: np.ndarray, ends_level: bool):
    """(index, reason) of the first restart interval that is not entropy data ending in its marker, or None.

    In entropy data 0xFF is always followed by 0x00 (stuffing); any other pair is a marker, and the only
    one allowed is the interval's own, in its last two bytes: a restart marker, or the end marker
    after the level's last interval.  A marker inside would make libjpeg resynchronise, with a warning
    and wrong pixels.
    """
    ff = np.flatnonzero(body[:-1] == 0xFF)
    markers = ff[body[ff + 1] != 0]
    ends = np.cumsum(counts) - 2
    if len(markers) == len(ends) and (markers == ends).all():
        kinds = body[ends + 1]
        rst = (kinds >= 0xD0) & (kinds <= 0xD7)
        if ends_level:
            rst[-1] |= kinds[-1] == 0xD9
        if rst.all():
            return None
        i = int(np.argmin(rst))
        return i, f"restart interval ends with marker 0x{int(kinds[i]):02X}, not a restart marker"
    ends_at = np.searchsorted(ends, markers)  # the interval each marker lies in
    wrong = markers != ends[np.minimum(ends_at, len(ends) - 1)]
    if wrong.any():
        i = int(ends_at[np.argmax(wrong)])
        return min(i, len(ends) - 1), "a marker inside the restart interval's compressed data (corrupt data)"
    i = int(np.flatnonzero(~np.isin(ends, markers))[0])
    return i, "restart interval does not end with a restart marker (McuStarts do not match the data)"


def _tagged_header(src: LevelSource) -> tuple[bytes, int, int]:
    """(header, interval width, interval height) as tifffile derives them from McuStarts."""
    page = src.page
    if page.jpegheader is None or not page.is_tiled:
        src.fail(
            f"McuStarts (tag {_MCU_STARTS}) do not match the JPEG strip "
            "(no baseline frame header or restart interval in it)"
        )
    return page.jpegheader, int(page.tilewidth), int(page.tilelength)


def _tagged_starts(src: LevelSource) -> np.ndarray:
    """Where each interval's data starts, relative to the strip, from McuStarts (and its high bytes)."""
    tags = src.page.tags
    # The tag itself, as an array (tifffile's tuples of offsets take 100 ms to convert on a large level).
    starts = np.asarray(tags.valueof(_MCU_STARTS), np.int64).ravel()
    high = tags.valueof(_MCU_STARTS_HIGH)
    if high is not None:
        high = np.asarray(high, np.int64).ravel()
        if len(high) != len(starts):
            src.fail(f"McuStartsHighBytes (tag {_MCU_STARTS_HIGH}) has {len(high)} values for {len(starts)}")
        starts = starts + (high << 32)
    return starts


def _first(value) -> int:
    return int(value[0] if isinstance(value, (tuple, list, np.ndarray)) else value)


def _first_bad(counts: np.ndarray) -> int:
    return int(np.flatnonzero(counts < 3)[0])


def _is_jfif(header: bytes) -> bool:
    return header[2:4] == b"\xff\xe0" and header[6:11] == b"JFIF\x00"
