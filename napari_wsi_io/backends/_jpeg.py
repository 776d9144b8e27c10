"""Structural check of a JPEG tile, without decoding it.

cuCIM prints an error and returns stale pixels for a JPEG tile that libjpeg
refuses, instead of raising; and a tile whose header disagrees with the TIFF
(another size, a bogus Huffman table) has crashed libjpeg-turbo in our fuzz
tests.  So before any decoder sees a tile we check everything libjpeg treats as
a hard error: the marker sequence, every table (as libjpeg builds it), frame
and scan headers against each other and against the TIFF's tile size, and that
the entropy-coded data holds no marker that may not appear there (random bytes
almost always form one).  What passes can only hold damage libjpeg decodes
with a warning, the same way in cuCIM and in imagecodecs.

Tiles of one level share their header bytes, so a header that passed is
remembered and the usual cost is a prefix comparison plus a regex scan
(microseconds, versus a millisecond to decode).
"""

from __future__ import annotations

import re
import threading

__all__ = ["JpegChecker", "jpeg_frame", "jpeg_problem"]

_SOI, _EOI, _SOS, _DHT, _DQT, _DRI, _COM = 0xD8, 0xD9, 0xDA, 0xC4, 0xDB, 0xDD, 0xFE
_SOF = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive"}
_UNSUPPORTED_SOF = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# In entropy-coded data 0xFF may only be followed by 0x00 (stuffing), 0xFF (fill) or a restart marker.
_MARKER_IN_DATA = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# Luma sampling factors TurboJPEG (cuCIM) decodes; chroma must be 1x1.
_TURBO_SAMPLING = {(1, 1), (2, 1), (2, 2), (1, 2), (4, 1)}
_MAX_GOOD_HEADERS = 64


class _Bad(Exception):
    """A problem found while walking the markers."""


class _State:
    """Tables defined so far, and the frame header once seen."""

    def __init__(self) -> None:
        self.huffman: set[tuple[int, int]] = set()  # (class, id); class 0 = DC, 1 = AC
        self.quant: set[int] = set()
        self.frame: tuple[str, int, int, int, list[tuple[int, int, int, int]]] | None = None
        self.jfif = False  # an APP0 JFIF marker
        self.adobe: int | None = None  # the colour transform of an APP14 Adobe marker

    def copy(self) -> _State:
        """The tables for a new image; markers seen belong to the old stream (libjpeg resets them)."""
        s = _State()
        s.huffman, s.quant = set(self.huffman), set(self.quant)
        return s

    def colour(self) -> str:
        """How libjpeg reads three components without being told (jdapimin.c default_decompress_parms)."""
        if self.jfif:
            return "YCbCr"
        if self.adobe is not None:
            return "RGB" if self.adobe == 0 else "YCbCr"
        ids = [c[0] for c in self.frame[4]]
        return "RGB" if ids == [82, 71, 66] else "YCbCr"


def _huffman_tables(segment: bytes, state: _State) -> None:
    """DHT as libjpeg's get_dht and jpeg_make_d_derived_tbl check it."""
    pos = 0
    while pos < len(segment):
        if pos + 17 > len(segment):
            raise _Bad("bad Huffman table length")
        index = segment[pos]
        cls, ident = index >> 4, index & 0x0F
        if cls > 1 or ident > 3:
            raise _Bad(f"bad Huffman table index 0x{index:02X}")
        counts = segment[pos + 1 : pos + 17]
        total = sum(counts)
        values = segment[pos + 17 : pos + 17 + total]
        if total > 256 or len(values) < total:
            raise _Bad("bogus Huffman table definition")
        # Canonical codes must fit their lengths, leaving the all-ones code unused.
        code = 0
        lengths = [n for n, c in enumerate(counts, 1) for _ in range(c)]
        size = lengths[0] if lengths else 0
        for length in lengths:
            while length != size:
                if code >= 1 << size:
                    raise _Bad("bogus Huffman table definition")
                code <<= 1
                size += 1
            code += 1
        if lengths and code >= 1 << size:
            raise _Bad("bogus Huffman table definition")
        if cls == 0 and any(v > 15 for v in values):
            raise _Bad("bogus Huffman table definition")
        state.huffman.add((cls, ident))
        pos += 17 + total


def _quant_tables(segment: bytes, state: _State) -> None:
    pos = 0
    while pos < len(segment):
        precision, ident = segment[pos] >> 4, segment[pos] & 0x0F
        if precision > 1 or ident > 3:
            raise _Bad(f"bad quantization table index 0x{segment[pos]:02X}")
        pos += 1 + 64 * (precision + 1)
        if pos > len(segment):
            raise _Bad("bad quantization table length")
        state.quant.add(ident)


def _frame(marker: int, segment: bytes, state: _State) -> None:
    if state.frame is not None:
        raise _Bad("two frame headers")
    if len(segment) < 6:
        raise _Bad("bad frame header length")
    precision = segment[0]
    height, width, ncomp = int.from_bytes(segment[1:3], "big"), int.from_bytes(segment[3:5], "big"), segment[5]
    if len(segment) != 6 + 3 * ncomp or ncomp == 0:
        raise _Bad("bad frame header length")
    components = []
    for i in range(ncomp):
        ident, sampling, table = segment[6 + 3 * i : 9 + 3 * i]
        h, v = sampling >> 4, sampling & 0x0F
        if not (1 <= h <= 4 and 1 <= v <= 4):
            raise _Bad("bad sampling factors")
        if table > 3:
            raise _Bad("bad quantization table number")
        components.append((ident, h, v, table))
    state.frame = (_SOF[marker], precision, width, height, components)


def _scan(segment: bytes, state: _State) -> int:
    """Check a scan header against the frame; return its component count."""
    if state.frame is None:
        raise _Bad("scan before the frame header")
    kind, _, _, _, components = state.frame
    ns = segment[0] if segment else 0
    if ns < 1 or ns > 4 or len(segment) != 4 + 2 * ns:
        raise _Bad("bad scan header length")
    known = {c[0] for c in components}
    seen = set()
    for i in range(ns):
        ident, tables = segment[1 + 2 * i], segment[2 + 2 * i]
        if ident not in known or ident in seen:
            raise _Bad(f"invalid component {ident} in scan")
        seen.add(ident)
        dc, ac = tables >> 4, tables & 0x0F
        if dc > 3 or ac > 3:
            raise _Bad("bad Huffman table number")
    ss, se, a = segment[-3], segment[-2], segment[-1]
    ah, al = a >> 4, a & 0x0F
    if kind != "progressive":
        if (ss, se, ah, al) != (0, 63, 0, 0) or ns != len(components):
            raise _Bad("not a single sequential scan")
        needed = [(0, t >> 4) for t in segment[2::2][:ns]] + [(1, t & 0x0F) for t in segment[2::2][:ns]]
    else:
        if ss > se or se > 63 or (ss == 0 and se != 0) or (ss > 0 and ns != 1) or al > 13 or ah > 13:
            raise _Bad("bad progression parameters")
        tables = segment[2::2][:ns]
        needed = [(0, t >> 4) for t in tables] if ss == 0 else [(1, t & 0x0F) for t in tables]
        if ss == 0 and ah:  # DC refinement scans use no Huffman table
            needed = []
    missing = [f"{'DC' if c == 0 else 'AC'} {i}" for c, i in needed if (c, i) not in state.huffman]
    if missing:
        raise _Bad(f"undefined Huffman table ({', '.join(missing)})")
    return ns


def _walk(data: bytes, pos: int, state: _State, tables_only: bool) -> int:
    """Check marker segments from ``pos`` up to the first scan; return where its entropy data starts."""
    end = len(data)
    while True:
        if pos + 2 > end or data[pos] != 0xFF:
            raise _Bad("corrupt header")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == _EOI and tables_only:
            return pos
        if marker in _UNSUPPORTED_SOF:
            raise _Bad(f"unsupported JPEG process (marker 0x{marker:02X})")
        if not (0xE0 <= marker <= 0xEF or marker in (_DHT, _DQT, _DRI, _COM, _SOS) or marker in _SOF):
            raise _Bad(f"unexpected marker 0x{marker:02X}")
        if tables_only and (marker in _SOF or marker == _SOS):
            raise _Bad("JPEGTables holds image data")
        if pos + 4 > end:
            raise _Bad("corrupt header")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > end:
            raise _Bad("bogus marker length")
        segment = data[pos + 4 : pos + 2 + length]
        if marker == _DHT:
            _huffman_tables(segment, state)
        elif marker == _DQT:
            _quant_tables(segment, state)
        elif marker == _DRI:
            if length != 4:
                raise _Bad("bad restart interval length")
        elif marker in _SOF:
            _frame(marker, segment, state)
        elif marker == _SOS:
            _scan(segment, state)
            return pos + 2 + length
        elif marker == 0xE0 and len(segment) >= 14 and segment[:5] == b"JFIF\x00":
            state.jfif = True
        elif marker == 0xEE and len(segment) >= 12 and segment[:5] == b"Adobe":
            state.adobe = segment[11]
        pos += 2 + length


class JpegChecker:
    """Checks the JPEG tiles of one TIFF level.

    ``tables`` is the JPEGTables tag (or None); ``sizes`` the (width, height)
    a tile may have; ``components`` and ``precision`` what the TIFF declares.
    ``photometric`` and ``jfif`` (the first tile has a JFIF marker) say how
    tifffile will convert colours; cuCIM converts by the photometric tag alone,
    so a tile libjpeg reads in the other colour space is refused for cuCIM.
    """

    def __init__(
        self,
        tables: bytes | None = None,
        sizes: set[tuple[int, int]] | None = None,
        components: int | None = None,
        precision: int = 8,
        photometric: int | None = None,
        jfif: bool = False,
    ) -> None:
        self.sizes, self.components, self.precision = sizes, components, precision
        self.photometric, self.jfif = photometric, jfif
        self._tables = _State()
        self.tables_problem = None
        if tables:
            try:
                if len(tables) < 4 or tables[:2] != b"\xff\xd8":
                    raise _Bad("does not start with a JPEG marker")
                if _walk(tables, 2, self._tables, tables_only=True) != len(tables) - 2:
                    raise _Bad("data after the end marker")
            except _Bad as exc:
                self.tables_problem = f"JPEGTables: {exc}"
        # Headers (up to the entropy data) that passed -> what TurboJPEG would refuse in them.
        self._good: tuple[tuple[bytes, str | None], ...] = ()  # replaced whole, so readers need no lock
        self._lock = threading.Lock()

    def problem(self, data: bytes, turbojpeg: bool = False) -> str | None:
        """Why ``data`` must not be decoded, or None.

        ``turbojpeg`` also refuses what TurboJPEG (cuCIM) cannot decode but
        libjpeg can: progressive scans and unusual chroma subsampling.
        """
        if self.tables_problem:
            return self.tables_problem
        if len(data) < 4 or data[:2] != b"\xff\xd8":
            return "JPEG tile does not start with a JPEG marker"
        if data[-2:] != b"\xff\xd9":
            return "JPEG tile is truncated (no end marker)"
        known = next(((h, t) for h, t in self._good if data.startswith(h)), None)
        if known:
            start, turbo_problem = len(known[0]), known[1]
        else:
            try:
                state = self._tables.copy()
                start = _walk(data, 2, state, tables_only=False)
                turbo_problem = self._check_frame(state)
            except _Bad as exc:
                return f"JPEG tile header: {exc}"
            if state.frame[0] == "progressive":  # each progressive tile is walked in full
                return (turbojpeg and turbo_problem) or self._later_scans(data, start, state)
            with self._lock:
                if len(self._good) < _MAX_GOOD_HEADERS:
                    self._good += ((bytes(data[:start]), turbo_problem),)
        if turbojpeg and turbo_problem:
            return turbo_problem
        if start > len(data) - 2 or _MARKER_IN_DATA.search(data, start, len(data) - 2):
            return "JPEG tile has corrupt compressed data"
        return None

    def _check_frame(self, state: _State) -> str | None:
        """Raise for a frame libjpeg refuses; return what only TurboJPEG refuses."""
        if state.frame is None:
            raise _Bad("no frame header")
        kind, precision, width, height, components = state.frame
        if precision != self.precision:
            raise _Bad(f"{precision}-bit samples where the TIFF has {self.precision}")
        if self.components is not None and len(components) != self.components:
            raise _Bad(f"{len(components)} components where the TIFF has {self.components}")
        if self.sizes is not None and (width, height) not in self.sizes:
            expected = " or ".join(f"{w}x{h}" for w, h in sorted(self.sizes))
            raise _Bad(f"size {width}x{height} where the TIFF says {expected}")
        missing = sorted({c[3] for c in components} - state.quant)
        if missing:
            raise _Bad(f"undefined quantization table {missing[0]}")
        if kind == "progressive":
            return "JPEG tile is progressive (cuCIM does not read it)"
        if len(components) == 3 and (
            (components[0][1], components[0][2]) not in _TURBO_SAMPLING
            or any((c[1], c[2]) != (1, 1) for c in components[1:])
        ):
            return "JPEG tile has unusual chroma subsampling (cuCIM does not read it)"
        if len(components) == 3 and self.photometric is not None:
            # tifffile forces RGB for an RGB page without JFIF (Aperio), else lets libjpeg guess.
            expected = "RGB" if self.photometric == 2 and not self.jfif else state.colour()
            cucim = "RGB" if self.photometric == 2 else "YCbCr"
            if expected != cucim:
                return f"JPEG tile is {expected} where the TIFF says {cucim} (cuCIM would show wrong colours)"
        return None

    @staticmethod
    def _later_scans(data: bytes, pos: int, state: _State) -> str | None:
        """Walk the scans of a progressive tile: tables and scan headers between them."""
        end = len(data) - 2
        while True:
            found = _MARKER_IN_DATA.search(data, pos, end + 2)
            if found is None:
                return "JPEG tile has corrupt compressed data"
            pos = found.start()
            if pos == end:
                return None
            try:
                if data[pos + 1] in _SOF or data[pos + 1] == _DQT:
                    raise _Bad(f"unexpected marker 0x{data[pos + 1]:02X}")
                pos = _walk(data, pos, state, tables_only=False)
            except _Bad as exc:
                return f"JPEG tile header: {exc}"


def jpeg_problem(data: bytes, tables: bytes | None = None, turbojpeg: bool = False) -> str | None:
    """Why ``data`` is not a well-formed JPEG stream, or None (no size check)."""
    return JpegChecker(tables).problem(data, turbojpeg)


def jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, components) from a JPEG stream's frame header, or None when its header is damaged."""
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return None
    state = _State()
    try:
        _walk(data, 2, state, tables_only=False)
    except _Bad:
        return None
    if state.frame is None:
        return None
    return state.frame[2], state.frame[3], len(state.frame[4])
