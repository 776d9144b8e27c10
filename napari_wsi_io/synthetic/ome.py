"""OME-TIFF with channels (fluorescence, multiplexed), written by tifffile as microscopes' converters do."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._fluorescence import DEFAULT_CHANNELS, fluorescence_plane, fluorescence_pyramid, rgba_int

__all__ = ["ome_planes", "write_big_ome_tiff", "write_ome_tiff"]


def ome_planes(
    shape: tuple[int, int], channels: int, *, z: int = 1, t: int = 1, dtype=np.uint16, levels: int = 3, seed: int = 0
) -> list[np.ndarray]:
    """What ``write_ome_tiff`` stores, by level: arrays of shape (t, z, c, height, width)."""
    height, width = shape
    per_plane = [
        fluorescence_pyramid(fluorescence_plane(height, width, c, ti * z + zi, dtype, seed), levels)
        for ti in range(t)
        for zi in range(z)
        for c in range(channels)
    ]
    return [
        np.stack([p[level] for p in per_plane]).reshape(t, z, channels, *per_plane[0][level].shape)
        for level in range(levels)
    ]


def write_ome_tiff(
    path: str | os.PathLike,
    shape: tuple[int, int] = (1100, 1500),
    channels: Sequence[tuple[str, tuple[int, int, int] | None]] = DEFAULT_CHANNELS,
    *,
    z: int = 1,
    t: int = 1,
    dtype=np.uint16,
    levels: int = 3,
    subifds: bool = True,
    tile: int = 256,
    compression: str | None = "zlib",
    mpp: float | None = 0.4962,
    z_spacing: float | None = 2.0,
    seed: int = 0,
) -> Path:
    """An OME-TIFF of ``channels`` (name, colour or None) x ``z`` x ``t`` planes of (height, width) ``shape``.

    The pyramid (``levels``, halving) lies in each plane's SubIFDs, or with ``subifds=False`` in separate
    pages: one OME Image per level, as some converters write them.  Pixels: ``ome_planes``.
    """
    import tifffile

    path = Path(path)
    data = ome_planes(shape, len(channels), z=z, t=t, dtype=dtype, levels=levels, seed=seed)
    metadata = {"axes": "TZCYX", "Channel": {"Name": [name for name, _ in channels]}}
    colors = [rgba_int(color) for _, color in channels if color is not None]
    if len(colors) == len(channels):
        metadata["Channel"]["Color"] = colors
    if mpp:
        metadata.update(PhysicalSizeX=mpp, PhysicalSizeY=mpp, PhysicalSizeXUnit="µm", PhysicalSizeYUnit="µm")
    if z > 1 and z_spacing:
        metadata.update(PhysicalSizeZ=z_spacing, PhysicalSizeZUnit="µm")
    options = {"tile": (tile, tile), "compression": compression, "photometric": "minisblack"}
    with tifffile.TiffWriter(path, bigtiff=True, ome=True) as tw:
        for level, array in enumerate(data):
            if subifds:
                extra = {"subifds": levels - 1, "metadata": metadata} if level == 0 else {"subfiletype": 1}
            else:
                extra = {"metadata": dict(metadata, Name=f"level {level}")}
            tw.write(array, **options, **extra)
    return path


def write_big_ome_tiff(
    path: str | os.PathLike,
    shape: tuple[int, int] = (8192, 16384),
    channels: int = 8,
    *,
    tile: int = 512,
    dtype=np.uint16,
    pool: int = 6,
    min_side: int = 512,
    mpp: float = 0.4962,
) -> Path:
    """A large OME-TIFF of ``channels`` channels (pyramid in SubIFDs down to ``min_side``) written in seconds:
    each tile is one of ``pool`` pre-encoded deflate tiles of the channel's fluorescence pattern (for the
    benchmarks: realistic decode cost and contrast, pixels not continuous across tiles or levels)."""
    import imagecodecs
    import tifffile

    path = Path(path)
    height, width = shape
    sizes = [(height, width)]
    while min(sizes[-1]) // 2 >= min_side:
        sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
    pools = [
        [imagecodecs.zlib_encode(fluorescence_plane(tile, tile, c, k, dtype, seed=7), level=1) for k in range(pool)]
        for c in range(channels)
    ]
    names = [name for name, _ in DEFAULT_CHANNELS] + [f"marker {c}" for c in range(len(DEFAULT_CHANNELS), channels)]
    colors = [color for _, color in DEFAULT_CHANNELS] + [None] * channels
    metadata = {
        "axes": "CYX",
        "Channel": {"Name": names[:channels]},
        "PhysicalSizeX": mpp,
        "PhysicalSizeY": mpp,
    }
    if all(c is not None for c in colors[:channels]):
        metadata["Channel"]["Color"] = [rgba_int(c) for c in colors[:channels]]
    with tifffile.TiffWriter(path, bigtiff=True, ome=True) as tw:
        for level, (h, w) in enumerate(sizes):
            count = (-(-h // tile)) * (-(-w // tile))
            tiles = (pools[c][(i * 7 + c) % pool] for c in range(channels) for i in range(count))
            options = {"subifds": len(sizes) - 1, "metadata": metadata} if level == 0 else {"subfiletype": 1}
            tw.write(
                tiles,
                shape=(channels, h, w),
                dtype=dtype,
                tile=(tile, tile),
                compression="zlib",
                photometric="minisblack",
                **options,
            )
    return path
