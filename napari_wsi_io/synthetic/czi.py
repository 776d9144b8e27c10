"""Zeiss CZI test files, written with Zeiss's own writer (pylibCZIrw), pyramid subblocks appended.

The pixels are a hash of (x, y[, channel, plane]) in image coordinates, so any region of any level can be
recomputed (``expected_rgb``, ``expected_channel``) and a misplaced tile, a swapped channel or B and R mixed
up all show.  Facts about pylibCZIrw 6.1 the writers rely on: ``write`` infers the pixel type from the array
((h, w, 3) uint8 -> Bgr24, uint16 -> Bgr48, (h, w, 1) -> Gray8/16) and stores the last axis as B, G, R;
``write_metadata``'s scale is in metres; display colours are written as ``#AARRGGBB``.  pylibCZIrw cannot
write pyramid subblocks: ``_czi_pyramid.add_pyramid`` appends them; nor JPEG XR: ``czi_jpegxr`` rewrites a file so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._czi_pyramid import add_pyramid, downsample, level_size

__all__ = ["expected_channel", "expected_rgb", "level_size", "write_czi_brightfield", "write_czi_fluorescence"]

_K1, _K2, _K3, _K4 = np.uint32(0x9E3779B1), np.uint32(0x85EBCA77), np.uint32(0xC2B2AE3D), np.uint32(0x27D4EB2F)
CZI_CHANNELS = {"DAPI": (0, 0, 255), "FITC": (0, 255, 0), "TRITC": (255, 0, 0)}


def _hash(x: np.ndarray, y: np.ndarray, salt: int) -> np.ndarray:
    h = x.astype(np.uint32) * _K1 ^ y.astype(np.uint32) * _K2 ^ np.uint32((salt * int(_K3)) & 0xFFFFFFFF)
    h ^= h >> np.uint32(15)
    h *= _K4
    h ^= h >> np.uint32(13)
    return h


def _grid(x: int, y: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(x, x + w, dtype=np.uint32), np.arange(y, y + h, dtype=np.uint32))


def _base_rgb(x: int, y: int, w: int, h: int, dtype) -> np.ndarray:
    xx, yy = _grid(x, y, w, h)
    hh = _hash(xx, yy, 1)
    if np.dtype(dtype) == np.uint8:
        return np.stack([(hh >> 24) & 255, (hh >> 12) & 255, hh & 255], axis=-1).astype(np.uint8)
    h2 = _hash(xx, yy, 2)
    return np.stack([hh >> 16, hh & 0xFFFF, h2 >> 16], axis=-1).astype(np.uint16)


def _base_channel(x: int, y: int, w: int, h: int, c: int, z: int, dtype) -> np.ndarray:
    """A 16-bit channel spans about 1,100-6,600, as a real fluorescence scan."""
    xx, yy = _grid(x, y, w, h)
    hh = _hash(xx, yy, 100 + 16 * z + c)
    if np.dtype(dtype) == np.uint16:
        return (1100 + (hh >> 16) % 5500).astype(np.uint16)
    return (hh >> 24).astype(dtype)


def _expected(base, x, y, w, h, width, height, level, factor):
    """Region (x, y, w, h) of level ``level``, computed as ``add_pyramid`` builds it from level 0."""
    if level == 0:
        return base(x, y, w, h)
    pw, ph = level_size(width, height, level - 1, factor)
    x0, y0 = x * factor, y * factor
    x1, y1 = min((x + w) * factor, pw), min((y + h) * factor, ph)
    sub = _expected(base, x0, y0, x1 - x0, y1 - y0, width, height, level - 1, factor)
    pad = ((0, (y + h) * factor - y1), (0, (x + w) * factor - x1)) + ((0, 0),) * (sub.ndim - 2)
    if pad[0][1] or pad[1][1]:
        sub = np.pad(sub, pad, mode="edge")
    return downsample(sub, factor)


def expected_rgb(x, y, w, h, dtype=np.uint8, *, width=None, height=None, level=0, factor=2) -> np.ndarray:
    """RGB (R, G, B order) of a region of level ``level`` of ``write_czi_brightfield``'s image."""
    return _expected(lambda *r: _base_rgb(*r, dtype), x, y, w, h, width, height, level, factor)


def expected_channel(x, y, w, h, c, z=0, dtype=np.uint16, *, width=None, height=None, level=0, factor=2):
    """Plane (h, w) of channel ``c``, focal plane ``z`` of ``write_czi_fluorescence``'s image."""
    return _expected(lambda *r: _base_channel(*r, c, z, dtype), x, y, w, h, width, height, level, factor)


def _tiles(width: int, height: int, tile: int):
    for ty in range(0, height, tile):
        for tx in range(0, width, tile):
            yield tx, ty, min(tile, width - tx), min(tile, height - ty)


def write_czi_brightfield(
    path: str | os.PathLike,
    width: int = 2048,
    height: int = 1536,
    *,
    tile: int = 1024,
    dtype=np.uint8,
    mpp: float = 0.25,
    origin: tuple[int, int] = (0, 0),
    compression: str | None = None,
    pyramid: bool = False,
) -> Path:
    """A brightfield mosaic, Bgr24 (uint8) or Bgr48 (uint16), its top-left at ``origin`` on the CZI plane.

    ``compression``: e.g. "zstd1:ExplicitLevel=1;PreProcess=HiLoByteUnpack" (lossless); None: raw.
    """
    from pylibCZIrw import czi as pyczi

    path = Path(path)
    ox, oy = origin
    with pyczi.create_czi(str(path), exist_ok=True, compression_options=compression) as w:
        for tx, ty, tw, th in _tiles(width, height, tile):
            rgb = _base_rgb(tx, ty, tw, th, dtype)
            w.write(np.ascontiguousarray(rgb[..., ::-1]), location=(ox + tx, oy + ty))
        w.write_metadata("brightfield", scale_x=mpp * 1e-6, scale_y=mpp * 1e-6)
    if pyramid:
        add_pyramid(path, tile=tile)
    return path


def write_czi_fluorescence(
    path: str | os.PathLike,
    width: int = 2048,
    height: int = 1536,
    *,
    channels: dict[str, tuple[int, int, int]] | Sequence[str] = CZI_CHANNELS,
    tile: int = 1024,
    dtype=np.uint16,
    z_count: int = 1,
    mpp: float = 0.325,
    z_step_um: float = 1.5,
    origin: tuple[int, int] = (0, 0),
    compression: str | None = None,
    pyramid: bool = False,
) -> Path:
    """Grey channels (named, tinted where ``channels`` gives colours) x ``z_count`` focal planes."""
    from pylibCZIrw import czi as pyczi

    path = Path(path)
    names = list(channels)
    ox, oy = origin
    with pyczi.create_czi(str(path), exist_ok=True, compression_options=compression) as w:
        for c in range(len(names)):
            for z in range(z_count):
                plane = {"C": c, "Z": z} if z_count > 1 else {"C": c}
                for tx, ty, tw, th in _tiles(width, height, tile):
                    data = _base_channel(tx, ty, tw, th, c, z, dtype)
                    w.write(data[..., None], location=(ox + tx, oy + ty), plane=plane)
        display = None
        if isinstance(channels, dict):
            display = {
                i: pyczi.ChannelDisplaySettingsDataClass(
                    True, pyczi.TintingMode.Color, pyczi.Rgb8Color(*(np.uint8(v) for v in rgb)), 0.0, 1.0
                )
                for i, rgb in enumerate(channels.values())
            }
        w.write_metadata(
            "fluorescence",
            channel_names=dict(enumerate(names)),
            scale_x=mpp * 1e-6,
            scale_y=mpp * 1e-6,
            scale_z=(z_step_um * 1e-6) if z_count > 1 else 0.0,
            display_settings=display,
        )
    if pyramid:
        add_pyramid(path, tile=tile)
    return path
