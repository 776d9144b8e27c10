"""OME-TIFF with channels (fluorescence, multiplexed), written by tifffile as microscopes' converters do."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._fluorescence import DEFAULT_CHANNELS, fluorescence_plane, fluorescence_pyramid, rgba_int

__all__ = ["ome_planes", "write_ome_tiff"]


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
