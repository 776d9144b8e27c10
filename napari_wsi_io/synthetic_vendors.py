"""Small slides laid out like each scanner vendor's files, for tests and benchmarks.

One writer per vendor, following the vendor's public description (OpenSlide's
format pages and source); OpenSlide 4 opens each one as that vendor.
"""

from __future__ import annotations

import base64
import functools
import io
import os
import re
import struct
from pathlib import Path

import numpy as np

from .synthetic import _background, _sample, _texture, _tissue_field, _weight

__all__ = [
    "aperio_j2k_image",
    "aperio_j2k_levels",
    "encode_aperio_j2k_tile",
    "rgb_to_ycbcr",
    "write_aperio_j2k",
    "write_bif",
    "write_ndpi",
    "write_philips",
    "write_scn",
]


# -- Aperio SVS with JPEG 2000 tiles (compressions 33003 and 33005) --

APERIO_J2K_YCBCR = 33003  # YCbCr components, no colour transform in the codestream; Cb/Cr often half width
APERIO_J2K_RGB = 33005  # RGB through the codestream's reversible colour transform


def aperio_j2k_image(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Stained-tissue-like RGB: smooth colour fields with fine detail and sharp-edged nuclei in both axes."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    hue = 0.5 + 0.5 * np.sin(x / 37.0 + 2 * np.sin(y / 53.0))
    shade = 0.5 + 0.5 * np.cos(y / 29.0 - x / 71.0)
    pink, purple, paper = (np.array(c, np.float32) for c in ((232, 150, 196), (90, 50, 150), (243, 240, 244)))
    img = pink * (1 - hue[..., None]) + purple * hue[..., None]
    img = img * (0.7 + 0.3 * shade[..., None]) + paper * 0.3 * (1 - shade[..., None])
    nuclei = (np.sin(x / 3.1) * np.sin(y / 4.3)) > 0.85  # small dark blobs: chroma changes every few pixels
    img[nuclei] = (60, 30, 120)
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Full-range (JFIF) YCbCr, as Aperio 33003 stores it (uint8)."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    ycc = np.stack(
        [
            0.299 * r + 0.587 * g + 0.114 * b,
            128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
            128 + 0.5 * r - 0.418688 * g - 0.081312 * b,
        ],
        axis=-1,
    )
    return np.clip(np.round(ycc), 0, 255).astype(np.uint8)


def encode_aperio_j2k_tile(tile: np.ndarray, compression: int = APERIO_J2K_YCBCR, chroma: str = "half") -> bytes:
    """One RGB tile as the codestream Aperio stores for ``compression`` (lossless, so only the sampling loses)."""
    import imagecodecs

    if compression == APERIO_J2K_RGB:
        if chroma != "full":
            raise ValueError("Aperio 33005 stores RGB at full resolution (chroma='full')")
        return imagecodecs.jpeg2k_encode(tile, codecformat=imagecodecs.JPEG2K.CODEC.J2K, reversible=True, mct=True)
    if compression != APERIO_J2K_YCBCR:
        raise ValueError(f"compression must be {APERIO_J2K_YCBCR} or {APERIO_J2K_RGB}, not {compression}")
    ycc = rgb_to_ycbcr(tile)
    if chroma == "full":
        return imagecodecs.jpeg2k_encode(ycc, codecformat=imagecodecs.JPEG2K.CODEC.J2K, reversible=True, mct=False)
    if chroma != "half":
        raise ValueError(f"chroma must be 'full' or 'half', not {chroma!r}")
    if tile.shape[1] % 2:
        raise ValueError("half-width chroma needs an even tile width")
    from ._openjpeg import encode_j2k  # imagecodecs cannot subsample components

    planes = [ycc[..., 0], ycc[..., 1], ycc[..., 2]]
    # Each chroma sample is the mean of two horizontal neighbours (SIZ dx=2, dy=1).
    halves = [np.round((p[:, 0::2].astype(np.float32) + p[:, 1::2]) / 2).astype(np.uint8) for p in planes[1:]]
    return encode_j2k([planes[0], *halves], [(1, 1), (2, 1), (2, 1)])


def _aperio_j2k_description(shape: tuple[int, int], tile: int, mpp: float, codec: str, extra: str = "") -> str:
    h, w = shape
    return (
        f"Aperio Image Library v12.0.15 \r\n{w}x{h} [0,0 {w}x{h}] ({tile}x{tile}) {codec} Q=70{extra}"
        f"|AppMag = 40|MPP = {mpp:.4f}|ScannerType = napari-wsi-io synthetic"
    )


def _aperio_j2k_tiles(img: np.ndarray, tile: int, compression: int, chroma: str):
    h, w = img.shape[:2]
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            part = img[y : y + tile, x : x + tile]
            # Edge tiles are whole tiles (the codestream's SIZ says the tile size); repeat the edge pixels.
            padded = np.pad(part, ((0, tile - part.shape[0]), (0, tile - part.shape[1]), (0, 0)), mode="edge")
            yield encode_aperio_j2k_tile(padded, compression, chroma)


def aperio_j2k_levels(shape: tuple[int, int], min_level_side: int = 256, seed: int = 0) -> list[np.ndarray]:
    """The RGB levels ``write_aperio_j2k`` encodes: level 0, then 2x2 means until a side would drop under the min."""
    levels = [aperio_j2k_image(shape, seed)]
    while min(levels[-1].shape[:2]) // 2 >= min_level_side:
        prev = levels[-1]
        h, w = prev.shape[0] // 2 * 2, prev.shape[1] // 2 * 2
        quad = prev[:h, :w].astype(np.float32).reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
        levels.append(np.round(quad).astype(np.uint8))
    return levels


def _aperio_j2k_label_macro(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A small label (printed lines) and macro (the slide glass with the tissue)."""
    rng = np.random.default_rng((seed, 99))
    label = np.full((160, 160, 3), 250, np.uint8)
    label[20:140:12, 16:144] = rng.integers(0, 60, (10, 128, 3), dtype=np.uint8)
    macro = np.full((120, 360, 3), 205, np.uint8)
    macro[20:100, 120:340] = aperio_j2k_image((80, 220), seed)
    return label, macro


def write_aperio_j2k(
    path: str | os.PathLike,
    shape: tuple[int, int] = (1024, 1536),
    *,
    compression: int = APERIO_J2K_YCBCR,
    chroma: str = "half",
    tile: int = 240,
    mpp: float = 0.499,
    min_level_side: int = 256,
    seed: int = 0,
) -> Path:
    """Write an Aperio SVS whose tiles are JPEG 2000 codestreams and return its path.

    ``compression`` 33003: YCbCr components without the codestream's colour
    transform, Cb and Cr at half width (``chroma="half"``, SIZ dx=2) or full
    width; 33005: RGB through the codestream's reversible colour transform.
    Layout as Aperio writes it (and OpenSlide reads it): tiled level 0, a
    stripped JPEG thumbnail as IFD 1, tiled reductions by 2, then label (LZW)
    and macro (JPEG); MPP and AppMag in the ImageDescription.  Tiles are
    lossless, so only the chroma sampling loses anything.
    """
    import tifffile

    if tile % 16 or tile < 64:
        raise ValueError(f"tile must be a multiple of 16 and at least 64 (OpenJPEG's 6 resolutions), not {tile}")
    codec = "J2K/YUV16" if compression == APERIO_J2K_YCBCR else "J2K/KDU"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    levels = aperio_j2k_levels(shape, min_level_side, seed)
    with tifffile.TiffWriter(path) as tw:
        for level, img in enumerate(levels):
            tw.write(
                _aperio_j2k_tiles(img, tile, compression, chroma),
                shape=img.shape,
                dtype=np.uint8,
                tile=(tile, tile),
                compression=compression,
                photometric="rgb",
                subfiletype=0,
                description=_aperio_j2k_description(img.shape[:2], tile, mpp, codec),
                metadata=None,
            )
            if level == 0:
                step = max(1, -(-max(shape) // 512))
                tw.write(
                    np.ascontiguousarray(levels[0][::step, ::step]),
                    photometric="rgb",
                    compression="jpeg",
                    rowsperstrip=16,
                    description=_aperio_j2k_description(
                        shape, tile, mpp, codec, f" -> {shape[1] // step}x{shape[0] // step}"
                    ),
                    metadata=None,
                )
        label, macro = _aperio_j2k_label_macro(seed)
        tw.write(
            label,
            photometric="rgb",
            compression="lzw",
            subfiletype=1,
            description=f"Aperio Image Library v12.0.15\r\nlabel {label.shape[1]}x{label.shape[0]}",
            metadata=None,
        )
        tw.write(
            macro,
            photometric="rgb",
            compression="jpeg",
            subfiletype=9,
            description=f"Aperio Image Library v12.0.15\r\nmacro {macro.shape[1]}x{macro.shape[0]}",
            metadata=None,
        )
    return path


# -- Hamamatsu NDPI -------------------------------------------------------------------------------
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
    return _texture(512, 1.0, rng), _background(512, rng)


def _ndpi_render(shape: tuple[int, int], field: np.ndarray, seed: int) -> np.ndarray:
    """A tissue-like image of one level (small levels only; one texture serves them all, for speed)."""
    (tissue, paper), side = _ndpi_pattern(seed), 512
    h, w = shape
    reps = (-(-h // side), -(-w // side), 1)
    weight = _weight(_sample(field, np.linspace(0, 1, h), np.linspace(0, 1, w)))[..., None]
    img = np.tile(tissue, reps)[:h, :w] * weight + np.tile(paper, reps)[:h, :w] * (1 - weight)
    return np.clip(img, 0, 255).astype(np.uint8)


def _ndpi_pool(level: int, tw: int, th: int, quality: int, subsampling: int, blocks: int, seed: int):
    """Encoded restart intervals (entropy data, no marker) of tissue and background, and their header."""
    rng = np.random.default_rng((seed, level, 8))
    side = max(1024, 2 * tw)
    texture = _texture(side, 2.0**level, rng)[: side // th * th, : 2 * tw]
    pools, header = [], b""
    for img in (texture, _background(side, rng)[: 8 * th, :tw]):
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
    mask = _weight(_sample(field, np.linspace(0, 1, rows), np.linspace(0, 1, cols))) > 0.5
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
    field = _tissue_field(seed)
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
            img[40:344, 300:1000] = np.clip(_texture(352, 1.0, rng)[:304, :350].repeat(2, axis=1), 0, 255)
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


# -- Leica SCN, Ventana BIF and Philips TIFF --


def vendor_pattern(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Gradients, a grid and blobs: smooth enough for JPEG, distinct enough to catch a misplaced tile."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(x / 97.0), 128 + 100 * np.cos(y / 71.0), (x + y) / (height + width) * 255], -1)
    img[(y.astype(int) % 128 < 6) | (x.astype(int) % 128 < 6)] = (40, 30, 90)
    for cy, cx, r in zip(rng.integers(0, height, 12), rng.integers(0, width, 12), rng.integers(20, 120, 12)):
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.integers(0, 255, 3)
    return img.clip(0, 255).astype(np.uint8)


def _halve(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    return img[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean((1, 3)).astype(np.uint8)


def _pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [img]
    for _ in range(levels - 1):
        out.append(_halve(out[-1]))
    return out


def _jpeg(img: np.ndarray) -> bytes:
    import imagecodecs

    return imagecodecs.jpeg8_encode(img, level=90)


_TILED = {
    "tile": (256, 256),
    "compression": "jpeg",
    "compressionargs": {"level": 90},
    "photometric": "rgb",
    "metadata": None,
}
_STRIPS = {
    "compression": "jpeg",
    "compressionargs": {"level": 90},
    "photometric": "rgb",
    "metadata": None,
    "rowsperstrip": 16,
}


def _sparse_tiles(img: np.ndarray):
    """JPEG tiles of ``img``, empty (not stored) where a whole tile is white."""
    import imagecodecs

    for y in range(0, img.shape[0], 256):
        for x in range(0, img.shape[1], 256):
            tile = np.zeros((256, 256, 3), np.uint8)
            part = img[y : y + 256, x : x + 256]
            tile[: part.shape[0], : part.shape[1]] = part
            yield (
                b""
                if (part == 255).all() and part.shape[:2] == (256, 256)
                else imagecodecs.jpeg8_encode(tile, level=90)
            )


def write_scn(
    path: str | os.PathLike, shape: tuple[int, int] = (1500, 2000), levels: int = 3, mpp: float = 0.5, seed: int = 0
) -> Path:
    """Leica SCN: BigTIFF, XML in IFD 0; IFDs 0-1 are the macro (its view covers the whole
    collection), the main image's levels follow, each named by a <dimension ifd=...> element.

    The main image sits 100 um inside the collection, as a scanned region does on a slide.
    """
    import tifffile

    path = Path(path)
    height, width = shape
    main = _pyramid(vendor_pattern(height, width, seed), levels)
    nm = round(mpp * 1000)
    margin = 100_000  # nm
    view_w, view_h = width * nm, height * nm
    coll_w, coll_h = view_w + 2 * margin, view_h + 2 * margin
    macro = _pyramid(vendor_pattern(coll_h // 2000, coll_w // 2000, seed + 1), 2)  # 2 um/px
    dims_macro = "".join(
        f'<dimension sizeX="{m.shape[1]}" sizeY="{m.shape[0]}" r="{i}" ifd="{i}"/>' for i, m in enumerate(macro)
    )
    dims_main = "".join(
        f'<dimension sizeX="{m.shape[1]}" sizeY="{m.shape[0]}" r="{i}" z="0" ifd="{i + 2}"/>'
        for i, m in enumerate(main)
    )

    def image(name, dims, view, objective):
        return (
            f'<image name="{name}" uuid="urn:uuid:{name}"><creationDate>2026-01-02T03:04:05.67Z</creationDate>'
            '<device model="Leica SCN400;Leica SCN" version="1.5.1.10804 2012/05/10 13:29:07;1.5.1.10864"/>'
            f'<pixels sizeX="{dims[0]}" sizeY="{dims[1]}">{dims[2]}</pixels>'
            f'<view sizeX="{view[0]}" sizeY="{view[1]}" offsetX="{view[2]}" offsetY="{view[3]}" spacingZ="0"/>'
            f"<scanSettings><objectiveSettings><objective>{objective}</objective></objectiveSettings>"
            "<illuminationSettings><numericalAperture>0.5</numericalAperture>"
            "<illuminationSource>brightfield</illuminationSource></illuminationSettings></scanSettings></image>"
        )

    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<scn xmlns="http://www.leica-microsystems.com/scn/2010/10/01">'
        f'<collection name="synthetic" uuid="urn:uuid:collection" sizeX="{coll_w}" sizeY="{coll_h}">'
        f"<barcode>{base64.b64encode(b'SYNTH-SCN-1').decode()}</barcode>"
        + image("macro", (macro[0].shape[1], macro[0].shape[0], dims_macro), (coll_w, coll_h, 0, 0), 1.25)
        + image("main", (width, height, dims_main), (view_w, view_h, margin, margin), 20)
        + "</collection></scn>"
    )
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for i, m in enumerate(macro):
            res = 1e4 / 2.0 * (m.shape[1] / macro[0].shape[1])
            tw.write(
                m,
                description=xml if i == 0 else None,
                software="Leica SCN",
                resolution=(res, res),
                resolutionunit="CENTIMETER",
                **_TILED,
            )
        for i, m in enumerate(main):
            res = 1e4 / mpp / 2**i
            tw.write(m, resolution=(res, res), resolutionunit="CENTIMETER", **_TILED)
    return path


def write_bif(
    path: str | os.PathLike,
    shape: tuple[int, int] = (1536, 2048),
    levels: int = 3,
    mpp: float = 0.25,
    overlap: tuple[int, int] = (0, 0),
    seed: int = 0,
) -> Path:
    """Ventana BIF: XMP <iScan> in IFD 0 "Label Image", IFD 1 "Thumbnail", then "level=N mag=M"
    tiled IFDs; level 0's XMP holds the <EncodeInfo> tile joints (serpentine numbering from the
    bottom-left tile, as OpenSlide reads them) with ``overlap`` pixels between neighbours."""
    import tifffile

    path = Path(path)
    height, width = shape
    main = _pyramid(vendor_pattern(height, width, seed), levels)
    rows, cols = -(-height // 256), -(-width // 256)
    mag = 40 * 0.25 / mpp
    iscan = (
        '<?xml version="1.0" encoding="utf-8"?><Metadata><iScan CameraCapture="1" '
        f'Magnification="{mag:g}" ScanRes="{mpp}" ScannerModel="VENTANA DP 200" UnitNumber="SYNTH" '
        'BuildVersion="1.1.0.15854" SlideAnnotation="synthetic" ShowLabel="1"/></Metadata>'
    )
    joints = []
    for row in range(rows):  # row 0 is the bottom row, walked left to right, the next one back
        for i in range(cols):
            number = row * cols + i + 1
            if i < cols - 1:
                left, right = (number, number + 1) if row % 2 == 0 else (number + 1, number)
                joints.append((left, right, "RIGHT"))
            if row < rows - 1:
                above = (row + 1) * cols + (cols - 1 - i) + 1
                joints.append((number, above, "UP"))
    joint_xml = "".join(
        f'<TileJointInfo FlagJoined="1" Direction="{d}" Tile1="{a}" Tile2="{b}" '
        f'OverlapX="{overlap[0] if d == "RIGHT" else 0}" OverlapY="{overlap[1] if d == "UP" else 0}" Confidence="100"/>'
        for a, b, d in joints
    )
    encode = (
        '<?xml version="1.0" encoding="utf-8"?><EncodeInfo Ver="2"><AoiOrigin><AOI0 OriginX="0" OriginY="0"/></AoiOrigin><SlideStitchInfo>'
        f'<ImageInfo AOIScanned="1" AOIIndex="0" Width="256" Height="256" NumRows="{rows}" NumCols="{cols}" '
        f'Pos-X="0" Pos-Y="0">{joint_xml}</ImageInfo></SlideStitchInfo></EncodeInfo>'
    )
    label = vendor_pattern(300, 280, seed + 2)
    thumb = _halve(_halve(_halve(main[0])))
    software = "ScanOutputManager 1.1.0.15854"
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write(
            label,
            description="Label Image",
            software=software,
            extratags=[(700, 1, 0, iscan.encode(), True)],
            **_STRIPS,
        )
        tw.write(thumb, description="Thumbnail", software=software, **_STRIPS)
        for i, m in enumerate(main):
            extra = [(700, 1, 0, encode.encode(), True)] if i == 0 else []
            desc = f"level={i} mag={mag / 2**i:g} quality=90"
            res = 1e4 / mpp / 2**i
            tw.write(m, description=desc, software=software, extratags=extra, resolution=(res, res),
                     resolutionunit="CENTIMETER", **_TILED)  # fmt: skip
    return path


def write_philips(
    path: str | os.PathLike,
    shape: tuple[int, int] = (1500, 2000),
    levels: int = 4,
    mpp: float = 0.25,
    label_in_xml: bool = False,
    sparse: bool = False,
    seed: int = 0,
) -> Path:
    """Philips TIFF: DPUfsImport XML in IFD 0, every level padded to whole 256 px tiles (black),
    its real size and spacing in the XML; label and macro as JPEG strip IFDs ("Label", "Macro"),
    or base64 JPEG inside the XML (PIM_DP_IMAGE_DATA) with ``label_in_xml``.  With ``sparse``
    the top-left 512 px are blank glass and its all-white tiles are not stored (bytecount 0)."""
    import tifffile

    path = Path(path)
    height, width = shape
    pattern = vendor_pattern(height, width, seed)
    if sparse:
        pattern[:512, :512] = 255
    main = _pyramid(pattern, levels)
    spacing = [f"&quot;{mpp * 2**i / 1000:.9g}&quot; &quot;{mpp * 2**i / 1000:.9g}&quot;" for i in range(levels)]
    reps = "".join(
        '<DataObject ObjectType="PixelDataRepresentation">'
        f'<Attribute Name="DICOM_PIXEL_SPACING" Group="0x0028" Element="0x0030" PMSVR="IDoubleArray">{s}</Attribute>'
        f'<Attribute Name="PIIM_DP_PIXEL_DATA_REPRESENTATION_NUMBER" Group="0x101D" Element="0x2001" '
        f'PMSVR="IUInt16">{i}</Attribute></DataObject>'
        for i, s in enumerate(spacing)
    )
    label, macro = vendor_pattern(320, 300, seed + 2), vendor_pattern(400, 1200, seed + 3)

    def associated(kind, img):
        if not label_in_xml:
            return ""
        data = base64.b64encode(_jpeg(img)).decode()
        return (
            '<DataObject ObjectType="DPScannedImage">'
            f'<Attribute Name="PIM_DP_IMAGE_DATA" Group="0x301D" Element="0x1005" PMSVR="IString">{data}</Attribute>'
            f'<Attribute Name="PIM_DP_IMAGE_TYPE" Group="0x301D" Element="0x1004" PMSVR="IString">{kind}</Attribute>'
            "</DataObject>"
        )

    xml = (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<DataObject ObjectType="DPUfsImport">'
        '<Attribute Name="DICOM_MANUFACTURER" Group="0x0008" Element="0x0070" PMSVR="IString">PHILIPS</Attribute>'
        f'<Attribute Name="PIM_DP_UFS_BARCODE" Group="0x301D" Element="0x1002" PMSVR="IString">'
        f"{base64.b64encode(b'SYNTH-PHILIPS-1').decode()}</Attribute>"
        '<Attribute Name="PIM_DP_SCANNED_IMAGES" Group="0x301D" Element="0x1003" PMSVR="IDataObjectArray"><Array>'
        '<DataObject ObjectType="DPScannedImage">'
        '<Attribute Name="DICOM_DERIVATION_DESCRIPTION" Group="0x0008" Element="0x2111" PMSVR="IString">'
        "tiff-useBigTIFF=1-useRgb=0-levels=10003,10002,10000,10001-processing=0-q80-sourceFilename=&quot;s&quot;"
        "</Attribute>"
        f'<Attribute Name="DICOM_PIXEL_SPACING" Group="0x0028" Element="0x0030" PMSVR="IDoubleArray">{spacing[0]}'
        "</Attribute>"
        f'<Attribute Name="PIM_DP_IMAGE_COLUMNS" Group="0x301D" Element="0x1007" PMSVR="IUInt32">{width}</Attribute>'
        f'<Attribute Name="PIM_DP_IMAGE_ROWS" Group="0x301D" Element="0x1006" PMSVR="IUInt32">{height}</Attribute>'
        '<Attribute Name="PIM_DP_IMAGE_TYPE" Group="0x301D" Element="0x1004" PMSVR="IString">WSI</Attribute>'
        '<Attribute Name="PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE" Group="0x1001" Element="0x8b01" '
        f'PMSVR="IDataObjectArray"><Array>{reps}</Array></Attribute></DataObject>'
        + associated("LABELIMAGE", label)
        + associated("MACROIMAGE", macro)
        + "</Array></Attribute></DataObject>"
    )
    software = "Philips DP v1.0"
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for i, m in enumerate(main):
            # Level 0 keeps its size; Philips pads the coarser levels to whole tiles (black).
            if i:
                padded = np.zeros((-(-m.shape[0] // 256) * 256, -(-m.shape[1] // 256) * 256, 3), np.uint8)
                padded[: m.shape[0], : m.shape[1]] = m
                m = padded
            opts = {"description": xml if i == 0 else None, "software": software, "subfiletype": 1 if i else 0}
            if sparse:
                tw.write(_sparse_tiles(m), shape=m.shape, dtype=np.uint8, **opts, **_TILED)
            else:
                tw.write(m, **opts, **_TILED)
        if not label_in_xml:
            tw.write(label, description="Label", software=software, **_STRIPS)
            tw.write(macro, description="Macro", software=software, **_STRIPS)
    return path
