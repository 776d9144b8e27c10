"""Akoya (PerkinElmer) QPTIFF: the PhenoImager / Vectra layout, one page per channel per level.

Pages in file order: every channel's FullResolution page, a Thumbnail, the ReducedResolution pages (one
per channel per level), an Overview and a Label, each with its ``PerkinElmer-QPI-ImageDescription``.
``write_qptiff`` writes exact pixels (``qptiff_planes``); ``write_big_qptiff`` writes a gigapixel file
of many channels in seconds from a few pre-encoded tiles (for the time to open).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ._fluorescence import DEFAULT_CHANNELS, fluorescence_plane, fluorescence_pyramid

__all__ = ["qptiff_description", "qptiff_planes", "write_big_qptiff", "write_qptiff"]

_STRIPS = {"rowsperstrip": 64, "photometric": "rgb"}


def qptiff_description(image_type: str, channel: tuple[str, tuple[int, int, int] | None] | None = None) -> str:
    """A page's ImageDescription; a channel's gives its filter name, biomarker and colour."""
    fields = [
        "<DescriptionVersion>2</DescriptionVersion>",
        "<AcquisitionSoftware>PerkinElmer-QPI</AcquisitionSoftware>",
        f"<ImageType>{image_type}</ImageType>",
        "<Identifier>synthetic-qptiff</Identifier>",
        "<SlideID>SYNTH-1</SlideID>",
    ]
    if channel is not None:
        name, color = channel
        fluor = f"Opal {480 + 40 * (hash(name) % 5)}" if name != "DAPI" else "DAPI"
        fields += [f"<Name>{fluor}</Name>", f"<Biomarker>{name}</Biomarker>", "<ExposureTime>1000</ExposureTime>"]
        if color is not None:
            fields.append(f"<Color>{','.join(str(v) for v in color)}</Color>")
    body = "".join(fields)
    return f'<?xml version="1.0" encoding="utf-16"?><PerkinElmer-QPI-ImageDescription>{body}</PerkinElmer-QPI-ImageDescription>'


def qptiff_planes(shape: tuple[int, int], channels: int, *, dtype=np.uint8, levels: int = 3, seed: int = 0):
    """What ``write_qptiff`` stores: per channel, its levels."""
    return [fluorescence_pyramid(fluorescence_plane(*shape, c, 0, dtype, seed), levels) for c in range(channels)]


def _common(mpp: float, level_scale: float = 1.0) -> dict:
    res = 1e4 / (mpp * level_scale)
    return {"software": "PerkinElmer-QPI", "resolution": (res, res), "resolutionunit": "CENTIMETER", "metadata": None}


def write_qptiff(
    path: str | os.PathLike,
    shape: tuple[int, int] = (1000, 1400),
    channels: Sequence[tuple[str, tuple[int, int, int] | None]] = DEFAULT_CHANNELS[:5],
    *,
    dtype=np.uint8,
    levels: int = 3,
    tile: int = 256,
    compression: str | None = "lzw",
    mpp: float = 0.4962,
    seed: int = 0,
    sizes: dict[int, tuple[int, int]] | None = None,
) -> Path:
    """A QPTIFF of ``channels`` (biomarker, colour or None); 8-bit, or float32 for unmixed component images.

    ``sizes`` {channel: (height, width)} gives some channels' FullResolution page another size (a damaged file).
    """
    import tifffile

    path = Path(path)
    planes = qptiff_planes(shape, len(channels), dtype=dtype, levels=levels, seed=seed)
    tiled = {"tile": (tile, tile), "compression": compression, "photometric": "minisblack"}
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for c, channel in enumerate(channels):
            image = planes[c][0]
            if sizes and c in sizes:
                image = np.resize(image, sizes[c])
            tw.write(image, description=qptiff_description("FullResolution", channel), **tiled, **_common(mpp))
        _write_rgb(tw, "Thumbnail", planes, mpp, 8)
        for level in range(1, levels):
            for c, channel in enumerate(channels):
                description = qptiff_description("ReducedResolution", channel)
                tw.write(planes[c][level], description=description, subfiletype=1, **tiled, **_common(mpp, 2**level))
        _write_rgb(tw, "Overview", planes, mpp * 4, 16)
        _write_rgb(tw, "Label", planes, mpp * 4, 32)
    return path


def _write_rgb(tw, image_type: str, planes: list, mpp: float, step: int) -> None:
    """A small RGB page (thumbnail, overview, label) from the first channels."""
    grey = planes[0][0][::step, ::step]
    rgb = np.stack([grey] * 3, axis=-1)
    rgb = (rgb.astype(np.float64) / max(float(rgb.max()), 1.0) * 255).astype(np.uint8)
    tw.write(rgb, description=qptiff_description(image_type), subfiletype=1, **_STRIPS, **_common(mpp))


def write_big_qptiff(
    path: str | os.PathLike,
    side: int = 32768,
    channels: int = 40,
    *,
    tile: int = 512,
    min_side: int = 1024,
    mpp: float = 0.4962,
) -> Path:
    """A QPTIFF of ``channels`` 8-bit channels of ``side`` x ``side`` px and its pyramid down to ``min_side``,
    from a few pre-encoded deflate tiles: a 40-channel gigapixel file in seconds (pixels not meaningful)."""
    import imagecodecs
    import tifffile

    path = Path(path)
    rng = np.random.default_rng(0)
    # A 16 px motif repeated: deflate stores a tile in about a kilobyte, so the file stays small.
    pool = [
        imagecodecs.zlib_encode(np.tile(rng.integers(0, 200, (16, 16), dtype=np.uint8), (tile // 16,) * 2))
        for _ in range(4)
    ]
    sides = [side]
    while sides[-1] // 2 >= min_side:
        sides.append(sides[-1] // 2)
    names = [(f"marker {c}", None) for c in range(channels)]
    tiled = {"tile": (tile, tile), "compression": "zlib", "photometric": "minisblack", "dtype": np.uint8}
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for level, s in enumerate(sides):
            if level == 1:
                thumb = np.zeros((256, 256, 3), np.uint8)
                tw.write(thumb, description=qptiff_description("Thumbnail"), subfiletype=1, **_STRIPS, **_common(mpp))
            for c in range(channels):
                kind = "FullResolution" if level == 0 else "ReducedResolution"
                tw.write(
                    _pooled(pool, (-(-s // tile)) ** 2),
                    shape=(s, s),
                    description=qptiff_description(kind, names[c]),
                    subfiletype=1 if level else 0,
                    **tiled,
                    **_common(mpp, 2**level),
                )
    return path


def _pooled(pool: list[bytes], count: int) -> Iterator[bytes]:
    return (pool[i % len(pool)] for i in range(count))
