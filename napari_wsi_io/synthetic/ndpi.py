"""Hamamatsu NDPI slides.

An NDPI file is classic little-endian TIFF with 64-bit IFD offsets (the header and each IFD's
next-IFD field take 8 bytes, each IFD entry has a 4-byte high-bits extension after the IFD), and
ASCII values always stored out of line.  Each pyramid level is ONE JPEG strip with restart
markers; McuStarts (tag 65426) lists where each restart interval's entropy-coded data begins,
relative to the strip.  SourceLens (65421) is the scan's objective on levels, -1 on the macro
image.  OpenSlide also needs FocalPlane (65424) on levels.
"""

from __future__ import annotations

import functools
import io
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from ._pyramid import level_shapes
from ._tiles import pick_from_pools
from ._tissue import glass_background, he_texture, sample, tissue_field, tissue_weight
from .generic import replaced_when_written

_NDPI_FORMAT_FLAG, _NDPI_SOURCELENS, _NDPI_XOFFSET, _NDPI_YOFFSET = 65420, 65421, 65422, 65423
_NDPI_FOCAL_PLANE, _NDPI_MCU_STARTS, _NDPI_REFERENCE, _NDPI_PROPERTY_MAP = 65424, 65426, 65427, 65449
_SHORT, _LONG, _RATIONAL, _ASCII, _SLONG, _FLOAT = 3, 4, 5, 2, 9, 11
_NDPI_RENDER_MAX_PIXELS = 1 << 24  # larger levels are assembled from a pool of encoded restart intervals
_RST = re.compile(rb"\xff[\xd0-\xd7]")
# MCU width and height in pixels, and Pillow's subsampling code, for each chroma subsampling.
_MCUS = {"4:4:4": (8, 8, 0), "4:2:2": (16, 8, 1), "4:2:0": (16, 16, 2)}

_Entry = tuple[int, int, int, bytes]  # tag, type, count, value bytes
_Page = tuple[int, int, list[_Entry]]  # strip offset, strip bytes, entries


def write_ndpi(
    path: str | os.PathLike,
    shape: tuple[int, int] = (1536, 2048),
    *,
    tile_width: int = 512,
    quality: int = 80,
    mpp: float = 0.4545,
    lens: float = 20.0,
    subsampling: str = "4:2:2",
    min_level_side: int = 256,
    mcu_starts: bool = True,
    macro: bool = True,
    seed: int = 0,
) -> Path:
    """Write a Hamamatsu NDPI slide and return its path.

    ``shape`` is (height, width) of level 0; each further level halves it (to
    whole MCUs) until its short side would drop under ``min_level_side``.
    Levels are single JPEG strips whose restart intervals are ``tile_width``
    pixels wide (fewer where a level's width needs it) and one MCU row high,
    with McuStarts unless ``mcu_starts=False``.  Real NDPI levels are 4:2:2 or
    4:4:4 (MCUs 8 rows high); OpenSlide refuses 4:2:0 restart intervals one MCU
    row high (libjpeg reads ahead for the next row and finds the end marker).  Levels of more than 16
    megapixels are assembled from a pool of encoded restart intervals, so a
    100,000 px wide slide writes in seconds without being held in memory.
    """
    mcu_w, mcu_h, sub = _MCUS[subsampling]
    if tile_width % mcu_w or shape[0] % mcu_h or shape[1] % mcu_w:
        raise ValueError(f"shape and tile_width must be whole MCUs ({mcu_w}x{mcu_h})")
    scan = _Scan(shape[1], (mcu_w, mcu_h), sub, tile_width, quality, mpp, lens, mcu_starts, seed)
    path = Path(path)
    field = tissue_field(seed)
    with replaced_when_written(path) as tmp, open(tmp, "wb") as f:
        f.write(b"II*\x00" + b"\0" * 8)
        shapes = level_shapes(*shape, min_level_side, (mcu_h, mcu_w))
        pages = [_write_level(f, scan, level, lshape, field) for level, lshape in enumerate(shapes)]
        if macro:
            pages.append(_write_macro(f, seed))
        _write_ifds(f, pages)
    return path


@dataclass(frozen=True)
class _Scan:
    """What ``write_ndpi`` was asked for that each level needs."""

    width: int  # of level 0
    mcu: tuple[int, int]  # width, height in pixels
    subsampling: int  # Pillow's code
    tile_width: int
    quality: int
    mpp: float
    lens: float
    mcu_starts: bool
    seed: int


class _Jpeg(NamedTuple):
    """How Pillow encodes a strip: quality, its subsampling code and the MCUs in a restart interval (0: none)."""

    quality: int
    subsampling: int
    blocks: int


def _write_level(f: BinaryIO, scan: _Scan, level: int, shape: tuple[int, int], field: np.ndarray) -> _Page:
    """Write one level's strip at the end of ``f``; return its page."""
    h, w = shape
    mcu_w, mcu_h = scan.mcu
    # The widest restart interval up to tile_width that splits the level's width evenly.
    blocks = max(d for d in range(1, scan.tile_width // mcu_w + 1) if (w // mcu_w) % d == 0)
    jpeg = _Jpeg(scan.quality, scan.subsampling, blocks)
    start = f.tell()
    if h * w > _NDPI_RENDER_MAX_PIXELS:
        starts = _write_pooled_strip(f, shape, level, (blocks * mcu_w, mcu_h), jpeg, field, scan.seed)
    else:
        starts = _write_rendered_strip(f, shape, jpeg, field, scan.seed)
    if f.tell() >= 1 << 32:
        raise ValueError("NDPI files over 4 GB need McuStartsHighBytes, which this writer does not write")
    res = (round(1e7 / scan.mpp * w / scan.width), 1000)
    entries = [*_image_entries(w, h, res, scan.lens), _ndpi_entry(_NDPI_FOCAL_PLANE, _SLONG, 0)]
    if level == 0:
        properties = ["Objective.Lens.Magnificant=20", f"NDP.S/N=SYN{scan.seed:05d}", "Created=synthetic"]
        entries.append(_ndpi_entry(_NDPI_PROPERTY_MAP, _ASCII, "\r\n".join(properties)))
    if scan.mcu_starts and len(starts) > 1:
        entries.append(_ndpi_entry(_NDPI_MCU_STARTS, _LONG, starts))
    return start, f.tell() - start, entries


def _write_macro(f: BinaryIO, seed: int) -> _Page:
    """Write the macro image (the slide glass with tissue) at the end of ``f``; return its page."""
    rng = np.random.default_rng((seed, 99))
    img = np.full((384, 1024, 3), 200, np.uint8)
    img[40:344, 300:1000] = np.clip(he_texture(352, 1.0, rng)[:304, :350].repeat(2, axis=1), 0, 255)
    start = f.tell()
    f.write(_jpeg_with_restarts(img, _Jpeg(90, 0, 0)))
    return start, f.tell() - start, _image_entries(1024, 384, (400, 1), -1.0)


def _image_entries(width: int, height: int, res: tuple[int, int], lens: float) -> list[_Entry]:
    """Size, one strip of all rows, resolution (per centimetre) and objective of a level or the macro."""
    return [
        _ndpi_entry(256, _LONG, width),
        _ndpi_entry(257, _LONG, height),
        _ndpi_entry(278, _LONG, height),
        _ndpi_entry(282, _RATIONAL, [res]),
        _ndpi_entry(283, _RATIONAL, [res]),
        _ndpi_entry(_NDPI_SOURCELENS, _FLOAT, lens),
    ]


def _common_entries() -> list[_Entry]:
    """The tags every IFD carries."""
    return [
        _ndpi_entry(258, _SHORT, [8, 8, 8]),
        _ndpi_entry(259, _SHORT, 7),
        _ndpi_entry(262, _SHORT, 2),
        _ndpi_entry(271, _ASCII, "Hamamatsu"),
        _ndpi_entry(272, _ASCII, "NanoZoomer synthetic"),
        _ndpi_entry(277, _SHORT, 3),
        _ndpi_entry(296, _SHORT, 3),  # centimetre
        _ndpi_entry(305, _ASCII, "NDP.scan napari-wsi-io"),
        _ndpi_entry(_NDPI_FORMAT_FLAG, _LONG, 1),
        _ndpi_entry(_NDPI_XOFFSET, _SLONG, 1234567),
        _ndpi_entry(_NDPI_YOFFSET, _SLONG, -765432),
        _ndpi_entry(_NDPI_REFERENCE, _ASCII, "napari-wsi-io synthetic slide"),
    ]


def _write_ifds(f: BinaryIO, pages: list[_Page]) -> None:
    """Append one IFD per page, each linked from the one before (the first from the header)."""
    common = _common_entries()
    link = 4  # where the offset of the next IFD goes
    for start, count, entries in pages:
        offset = f.tell() + f.tell() % 2
        strip = [_ndpi_entry(273, _LONG, start), _ndpi_entry(279, _LONG, count)]
        ifd, next_link = _ndpi_ifd(entries + strip + common, offset)
        f.seek(offset)
        f.write(ifd)
        f.seek(link)
        f.write(struct.pack("<Q", offset))
        f.seek(0, os.SEEK_END)
        link = next_link


# -- The TIFF container --


def _ndpi_entry(code: int, typ: int, values) -> _Entry:
    """One IFD entry: ``values`` (a number, a sequence, or a str for ASCII) packed little-endian."""
    if typ == _ASCII:
        data = values.encode("ascii") + b"\0"
        if len(data) <= 4:  # OpenSlide reads NDPI ASCII out of line, tifffile in line: keep them apart
            data = data.ljust(5, b"\0")
        return code, typ, len(data), data
    values = list(values) if isinstance(values, (list, tuple, np.ndarray)) else [values]
    fmt = {_SHORT: "H", _LONG: "I", _SLONG: "i", _FLOAT: "f", _RATIONAL: "II"}[typ]
    flat = [int(v) for pair in values for v in pair] if typ == _RATIONAL else values
    return code, typ, len(values), struct.pack(f"<{len(values)}{fmt}", *flat)


def _ndpi_ifd(entries: list[_Entry], offset: int) -> tuple[bytes, int]:
    """An NDPI IFD placed at ``offset``, and where its next-IFD field lies."""
    n = len(entries)
    values_at = offset + 2 + 16 * n + 8
    head, values = bytearray(struct.pack("<H", n)), bytearray()
    for code, typ, count, data in sorted(entries):
        if len(data) <= 4 and typ != _ASCII:
            field = data.ljust(4, b"\0")
        else:
            field = struct.pack("<I", values_at + len(values))
            values += data + b"\0" * (len(data) % 2)
        head += struct.pack("<HHI", code, typ, count) + field
    return bytes(head + b"\0" * 8 + b"\0" * (4 * n) + values), offset + 2 + 12 * n


# -- Level strips: JPEG with restart markers --


def _jpeg_with_restarts(img: np.ndarray, jpeg: _Jpeg) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(
        buf, "JPEG", quality=jpeg.quality, subsampling=jpeg.subsampling, restart_marker_blocks=jpeg.blocks
    )
    return buf.getvalue()


def _interval_starts(jpeg: bytes) -> list[int]:
    """Where each restart interval's entropy-coded data begins: after the SOS segment, then after each marker."""
    start = _scan_start(jpeg)
    return [start] + [m.end() for m in _RST.finditer(jpeg, start)]


def _scan_start(jpeg: bytes) -> int:
    """Where the entropy-coded data of a baseline JPEG begins (after the SOS segment)."""
    pos = 2
    while jpeg[pos + 1] != 0xDA:
        pos += 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
    return pos + 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")


def _with_size(header: bytes, width: int, height: int) -> bytes:
    """The header with the frame size patched; a side JPEG cannot hold is written as 0, as NDPI scanners do."""
    sof = header.find(b"\xff\xc0")
    height, width = (v if v <= 65500 else 0 for v in (height, width))
    return header[: sof + 5] + struct.pack(">HH", height, width) + header[sof + 9 :]


# -- Level pixels: rendered whole when small, else from a pool of encoded restart intervals --


@functools.lru_cache(maxsize=2)
def _ndpi_pattern(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Tissue texture and glass (512 px, level 0 scale) that every small level tiles."""
    rng = np.random.default_rng((seed, 7))
    return he_texture(512, 1.0, rng), glass_background(512, rng)


def _ndpi_render(shape: tuple[int, int], field: np.ndarray, seed: int) -> np.ndarray:
    """A tissue-like image of one level (small levels only; one texture serves them all, for speed)."""
    (tissue, paper), side = _ndpi_pattern(seed), 512
    h, w = shape
    reps = (-(-h // side), -(-w // side), 1)
    weight = tissue_weight(sample(field, np.linspace(0, 1, h), np.linspace(0, 1, w)))[..., None]
    img = np.tile(tissue, reps)[:h, :w] * weight + np.tile(paper, reps)[:h, :w] * (1 - weight)
    return np.clip(img, 0, 255).astype(np.uint8)


def _write_rendered_strip(f: BinaryIO, shape: tuple[int, int], jpeg: _Jpeg, field: np.ndarray, seed: int) -> list[int]:
    """A small level's strip encoded whole; return its McuStarts (relative)."""
    encoded = _jpeg_with_restarts(_ndpi_render(shape, field, seed), jpeg)
    f.write(encoded)
    return _interval_starts(encoded)


def _write_pooled_strip(
    f: BinaryIO,
    shape: tuple[int, int],
    level: int,
    interval: tuple[int, int],
    jpeg: _Jpeg,
    field: np.ndarray,
    seed: int,
) -> list[int]:
    """A large level's strip assembled from pooled restart intervals of ``interval`` px, each followed by its
    marker; return its McuStarts (relative)."""
    h, w = shape
    rows, cols = h // interval[1], w // interval[0]
    tissue, paper, header = _ndpi_pool(level, interval, jpeg, seed)
    header = _with_size(header, w, h)
    f.write(header)
    starts, pos = [], len(header)
    rng = np.random.default_rng((seed, level, 9))
    for r, row in enumerate(pick_from_pools(field, rows, cols, tissue, paper, rng)):
        parts = []
        for c, body in enumerate(row):
            i = r * cols + c
            marker = b"\xff\xd9" if i == rows * cols - 1 else bytes((0xFF, 0xD0 + i % 8))
            starts.append(pos)
            parts += (body, marker)
            pos += len(body) + 2
        f.write(b"".join(parts))
    return starts


def _ndpi_pool(level: int, interval: tuple[int, int], jpeg: _Jpeg, seed: int) -> tuple[list, list, bytes]:
    """Encoded restart intervals (entropy data, no marker) of tissue and background, and their header."""
    tw, th = interval
    rng = np.random.default_rng((seed, level, 8))
    side = max(1024, 2 * tw)
    texture = he_texture(side, 2.0**level, rng)[: side // th * th, : 2 * tw]
    pools, header = [], b""
    for img in (texture, glass_background(side, rng)[: 8 * th, :tw]):
        encoded = _jpeg_with_restarts(np.clip(img, 0, 255).astype(np.uint8), jpeg)
        cuts = _interval_starts(encoded)
        header = header or encoded[: cuts[0]]  # the tissue's; _with_size patches the frame size
        pools.append([encoded[a : b - 2] for a, b in zip(cuts[:-1], cuts[1:], strict=True)] + [encoded[cuts[-1] : -2]])
    return pools[0], pools[1], header
