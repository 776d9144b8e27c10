"""Aperio SVS: the pages every SVS carries, and SVS files with JPEG 2000 tiles (compressions 33003 and 33005).

Aperio's layout, as OpenSlide reads it: tiled level 0, a stripped JPEG
thumbnail as IFD 1, tiled reductions by 2, then the label (LZW) and macro
(JPEG); MPP and AppMag in each ImageDescription.  The JPEG-tiled SVS is
``write_synthetic_slide(..., aperio=True)`` in ``generic``, which writes its
extra pages with the helpers here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._pyramid import level_shapes, mean_2x2
from ._tissue import he_texture

if TYPE_CHECKING:
    from tifffile import TiffWriter

APERIO_J2K_YCBCR = 33003  # YCbCr components, no colour transform in the codestream; Cb/Cr often half width
APERIO_J2K_RGB = 33005  # RGB through the codestream's reversible colour transform
_LIBRARY = "Aperio Image Library v12.0.15"


# -- The SVS pages around the levels --


def aperio_description(
    shape: tuple[int, int], tile: int, mpp: float, codec: str = "JPEG/RGB Q=80", extra: str = ""
) -> str:
    """The ImageDescription of a level (or, with ``extra`` " -> WxH", of the thumbnail)."""
    h, w = shape
    return (
        f"{_LIBRARY} \r\n{w}x{h} [0,0 {w}x{h}] ({tile}x{tile}) {codec}{extra}"
        f"|AppMag = 40|MPP = {mpp:.4f}|ScannerType = napari-wsi-io synthetic"
    )


def write_aperio_thumbnail(
    tw: TiffWriter, thumb: np.ndarray, description: str, rowsperstrip: int | None = None
) -> None:
    """The stripped JPEG thumbnail Aperio writes right after level 0."""
    tw.write(
        thumb, photometric="rgb", compression="jpeg", rowsperstrip=rowsperstrip, description=description, metadata=None
    )


def write_aperio_label_macro(tw: TiffWriter, label: np.ndarray, macro: np.ndarray) -> None:
    """The last two pages: the label (LZW) and the macro (JPEG), each named in its ImageDescription."""
    for name, img, compression, subfiletype in (("label", label, "lzw", 1), ("macro", macro, "jpeg", 9)):
        tw.write(
            img,
            photometric="rgb",
            compression=compression,
            subfiletype=subfiletype,
            description=f"{_LIBRARY}\r\n{name} {img.shape[1]}x{img.shape[0]}",
            metadata=None,
        )


def jpeg_svs_label_macro(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The JPEG-tiled SVS's label (printed lines) and macro (the slide glass with tissue)."""
    label = _printed_label(400, (60, 40), 20, seed)
    rng = np.random.default_rng((seed, 99))
    macro = np.full((500, 1500, 3), 200, np.uint8)
    macro[50:450, 400:1400] = (he_texture(400, 16.0, rng)[:, :400].repeat(5, axis=1)[:, :1000]).clip(0, 255)
    return label, macro


def _printed_label(side: int, margins: tuple[int, int], pitch: int, seed: int) -> np.ndarray:
    """A white square label with lines of dark print every ``pitch`` rows, ``margins`` (rows, columns) in from
    its edges."""
    label = np.full((side, side, 3), 250, np.uint8)
    lines = range(margins[0], side - margins[0], pitch)
    ink = np.random.default_rng((seed, 99)).integers(0, 60, (len(lines), side - 2 * margins[1], 3), dtype=np.uint8)
    label[lines.start : lines.stop : pitch, margins[1] : side - margins[1]] = ink
    return label


# -- JPEG 2000 tiles --


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
    from .._openjpeg import encode_j2k  # imagecodecs cannot subsample components

    planes = [ycc[..., 0], ycc[..., 1], ycc[..., 2]]
    # Each chroma sample is the mean of two horizontal neighbours (SIZ dx=2, dy=1).
    halves = [np.round((p[:, 0::2].astype(np.float32) + p[:, 1::2]) / 2).astype(np.uint8) for p in planes[1:]]
    return encode_j2k([planes[0], *halves], [(1, 1), (2, 1), (2, 1)])


def _aperio_j2k_tiles(img: np.ndarray, tile: int, compression: int, chroma: str) -> Iterator[bytes]:
    """The level's tiles, row by row, as Aperio's codestreams."""
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
    for _ in level_shapes(*shape, min_level_side)[1:]:
        levels.append(np.round(mean_2x2(levels[-1])).astype(np.uint8))
    return levels


def _aperio_j2k_label_macro(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A small label (printed lines) and macro (the slide glass with the tissue)."""
    label = _printed_label(160, (20, 16), 12, seed)
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
    Layout as Aperio writes it (see the module's docstring).  Tiles are
    lossless, so only the chroma sampling loses anything.
    """
    import tifffile

    if tile % 16 or tile < 64:
        raise ValueError(f"tile must be a multiple of 16 and at least 64 (OpenJPEG's 6 resolutions), not {tile}")
    codec = ("J2K/YUV16" if compression == APERIO_J2K_YCBCR else "J2K/KDU") + " Q=70"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(path) as tw:
        for level, img in enumerate(aperio_j2k_levels(shape, min_level_side, seed)):
            tw.write(
                _aperio_j2k_tiles(img, tile, compression, chroma),
                shape=img.shape,
                dtype=np.uint8,
                tile=(tile, tile),
                compression=compression,
                photometric="rgb",
                subfiletype=0,
                description=aperio_description(img.shape[:2], tile, mpp, codec),
                metadata=None,
            )
            if level == 0:
                step = max(1, -(-max(shape) // 512))
                extra = f" -> {shape[1] // step}x{shape[0] // step}"
                thumb = np.ascontiguousarray(img[::step, ::step])
                write_aperio_thumbnail(tw, thumb, aperio_description(shape, tile, mpp, codec, extra), rowsperstrip=16)
        write_aperio_label_macro(tw, *_aperio_j2k_label_macro(seed))
    return path
