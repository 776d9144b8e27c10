"""Hamamatsu NDPI slides."""

from __future__ import annotations

import functools
import io
import os
import re
import struct
from pathlib import Path

import numpy as np

from ._tissue import glass_background, he_texture, sample, tissue_field, tissue_weight

#
# An NDPI file is classic little-endian TIFF with 64-bit IFD offsets (the header and each IFD's
# next-IFD field take 8 bytes, each IFD entry has a 4-byte high-bits extension after the IFD), and
# ASCII values always stored out of line.  Each pyramid level is ONE JPEG strip with restart
# markers; McuStarts (tag 65426) lists where each restart interval's entropy-coded data begins,
# relative to the strip.  SourceLens (65421) is the scan's objective on levels, -1 on the macro
# image.  OpenSlide also needs FocalPlane (65424) on levels.

_NDPI_FORMAT_FLAG, _NDPI_SOURCELENS, _NDPI_XOFFSET, _NDPI_YOFFSET = 65420, 65421, 65422, 65423
_NDPI_FOCAL_PLANE, _NDPI_MCU_STARTS, _NDPI_REFERENCE, _NDPI_PROPERTY_MAP = 65424, 65426, 65427, 65449
_SHORT, _LONG, _RATIONAL, _ASCII, _SLONG, _FLOAT = 3, 4, 5, 2, 9, 11
_NDPI_RENDER_MAX_PIXELS = 1 << 24  # larger levels are assembled from a pool of encoded restart intervals
_RST = re.compile(rb"\xff[\xd0-\xd7]")


def _ndpi_entry(code: int, typ: int, values) -> tuple[int, int, int, bytes]:
    if typ == _ASCII:
        data = values.encode("ascii") + b"\0"
        if len(data) <= 4:  # OpenSlide reads NDPI ASCII out of line, tifffile in line: keep them apart
            data = data.ljust(5, b"\0")
        return code, typ, len(data), data
    values = list(values) if isinstance(values, (list, tuple, np.ndarray)) else [values]
    fmt = {_SHORT: "H", _LONG: "I", _SLONG: "i", _FLOAT: "f", _RATIONAL: "II"}[typ]
    flat = [int(v) for pair in values for v in pair] if typ == _RATIONAL else values
    return code, typ, len(values), struct.pack(f"<{len(values)}{fmt}", *flat)


def _ndpi_ifd(entries: list, offset: int) -> tuple[bytes, int]:
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


def _jpeg_with_restarts(img: np.ndarray, quality: int, subsampling: int, blocks: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality, subsampling=subsampling, restart_marker_blocks=blocks)
    return buf.getvalue()


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


@functools.lru_cache(maxsize=2)
def _ndpi_pattern(seed: int) -> tuple[np.ndarray, np.ndarray]:
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


def _ndpi_pool(level: int, tw: int, th: int, quality: int, subsampling: int, blocks: int, seed: int):
    """Encoded restart intervals (entropy data, no marker) of tissue and background, and their header."""
    rng = np.random.default_rng((seed, level, 8))
    side = max(1024, 2 * tw)
    texture = he_texture(side, 2.0**level, rng)[: side // th * th, : 2 * tw]
    pools, header = [], b""
    for img in (texture, glass_background(side, rng)[: 8 * th, :tw]):
        jpeg = _jpeg_with_restarts(np.clip(img, 0, 255).astype(np.uint8), quality, subsampling, blocks)
        start = _scan_start(jpeg)
        header = header or jpeg[:start]
        cuts = [start] + [m.end() for m in _RST.finditer(jpeg, start)]
        pools.append([jpeg[a : b - 2] for a, b in zip(cuts[:-1], cuts[1:], strict=True)] + [jpeg[cuts[-1] : -2]])
    return pools[0], pools[1], header


def _ndpi_level_strip(f, shape, level, tw, th, field, quality, subsampling, blocks, seed) -> list[int]:
    """Write one level's JPEG strip at the file position; return its McuStarts (relative)."""
    h, w = shape
    rows, cols = h // th, w // tw
    if h * w <= _NDPI_RENDER_MAX_PIXELS:
        jpeg = _jpeg_with_restarts(_ndpi_render(shape, field, seed), quality, subsampling, blocks)
        start = _scan_start(jpeg)
        f.write(jpeg)
        return [start] + [m.end() for m in _RST.finditer(jpeg, start)]
    tissue, paper, header = _ndpi_pool(level, tw, th, quality, subsampling, blocks, seed)
    mask = tissue_weight(sample(field, np.linspace(0, 1, rows), np.linspace(0, 1, cols))) > 0.5
    rng = np.random.default_rng((seed, level, 9))
    picks, paper_picks = rng.integers(0, len(tissue), (rows, cols)), rng.integers(0, len(paper), (rows, cols))
    header = _with_size(header, w, h)
    f.write(header)
    starts, pos = [], len(header)
    for r in range(rows):
        parts = []
        for c in range(cols):
            i = r * cols + c
            body = tissue[picks[r, c]] if mask[r, c] else paper[paper_picks[r, c]]
            marker = b"\xff\xd9" if i == rows * cols - 1 else bytes((0xFF, 0xD0 + i % 8))
            starts.append(pos)
            parts += (body, marker)
            pos += len(body) + 2
        f.write(b"".join(parts))
    return starts


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
    mcu_w, mcu_h, sub = {"4:4:4": (8, 8, 0), "4:2:2": (16, 8, 1), "4:2:0": (16, 16, 2)}[subsampling]
    if tile_width % mcu_w or shape[0] % mcu_h or shape[1] % mcu_w:
        raise ValueError(f"shape and tile_width must be whole MCUs ({mcu_w}x{mcu_h})")
    shapes = [tuple(shape)]
    while min(shapes[-1]) // 2 >= min_level_side:
        h, w = shapes[-1]
        shapes.append((h // 2 // mcu_h * mcu_h, w // 2 // mcu_w * mcu_w))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    field = tissue_field(seed)
    common = [
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
    properties = "\r\n".join(["Objective.Lens.Magnificant=20", f"NDP.S/N=SYN{seed:05d}", "Created=synthetic"])
    pages = []  # (strip offset, strip bytes, entries)
    with open(tmp, "wb") as f:
        f.write(b"II*\x00" + b"\0" * 8)
        for level, (h, w) in enumerate(shapes):
            mcus = w // mcu_w
            blocks = max(d for d in range(1, tile_width // mcu_w + 1) if mcus % d == 0)
            start = f.tell()
            starts = _ndpi_level_strip(f, (h, w), level, blocks * mcu_w, mcu_h, field, quality, sub, blocks, seed)
            count = f.tell() - start
            if f.tell() >= 1 << 32:
                raise ValueError("NDPI files over 4 GB need McuStartsHighBytes, which this writer does not write")
            res = (round(1e7 / mpp * w / shape[1]), 1000)
            entries = [
                _ndpi_entry(256, _LONG, w),
                _ndpi_entry(257, _LONG, h),
                _ndpi_entry(278, _LONG, h),
                _ndpi_entry(282, _RATIONAL, [res]),
                _ndpi_entry(283, _RATIONAL, [res]),
                _ndpi_entry(_NDPI_SOURCELENS, _FLOAT, lens),
                _ndpi_entry(_NDPI_FOCAL_PLANE, _SLONG, 0),
            ]
            if level == 0:
                entries.append(_ndpi_entry(_NDPI_PROPERTY_MAP, _ASCII, properties))
            if mcu_starts and len(starts) > 1:
                entries.append(_ndpi_entry(_NDPI_MCU_STARTS, _LONG, starts))
            pages.append((start, count, entries))
        if macro:
            rng = np.random.default_rng((seed, 99))
            img = np.full((384, 1024, 3), 200, np.uint8)
            img[40:344, 300:1000] = np.clip(he_texture(352, 1.0, rng)[:304, :350].repeat(2, axis=1), 0, 255)
            start = f.tell()
            f.write(_jpeg_with_restarts(img, 90, 0, 0))
            entries = [
                _ndpi_entry(256, _LONG, 1024),
                _ndpi_entry(257, _LONG, 384),
                _ndpi_entry(278, _LONG, 384),
                _ndpi_entry(282, _RATIONAL, [(400, 1)]),
                _ndpi_entry(283, _RATIONAL, [(400, 1)]),
                _ndpi_entry(_NDPI_SOURCELENS, _FLOAT, -1.0),
            ]
            pages.append((start, f.tell() - start, entries))
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
    os.replace(tmp, path)
    return path
