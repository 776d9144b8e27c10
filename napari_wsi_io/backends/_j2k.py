"""Header check of a JPEG 2000 tile (Aperio compressions 33003 and 33005), and 33003's colours.

OpenJPEG sizes its buffers from the codestream's SIZ marker, not from the
TIFF: a damaged SIZ that claims a huge image or thousands of codestream tiles
made cuCIM allocate hundreds of MB for one 256 px tile in our fuzz tests.  So
the SIZ marker must describe exactly the TIFF tile, and the codestream must be
complete (end with EOC), before any decoder sees it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["j2k_problem", "ycbcr_to_rgb"]

_SOC_SIZ = b"\xff\x4f\xff\x51"
_EOC = b"\xff\xd9"
_MAX_CODESTREAM_TILES = 256


def _codestream(data: bytes) -> bytes | None:
    """The codestream, also from inside a JP2 container (its ``jp2c`` box)."""
    if data[:4] == _SOC_SIZ:
        return data
    pos = 0
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        header = 8
        if size == 1 and pos + 16 <= len(data):
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = len(data) - pos
        if size < header:
            return None
        if kind == b"jp2c":
            return data[pos + header : pos + size]
        pos += size
    return None


def j2k_problem(data: bytes, width: int, height: int, components: int, bits: int) -> str | None:
    """Why ``data`` is not a complete JPEG 2000 codestream of a ``width`` x ``height`` tile, or None."""
    stream = _codestream(data)
    if stream is None or stream[:4] != _SOC_SIZ:
        return "JPEG 2000 tile does not start with a codestream"
    if stream[-2:] != _EOC:
        return "JPEG 2000 tile is truncated (no end marker)"
    if len(stream) < 6 + 38:
        return "JPEG 2000 tile has a corrupt header"
    siz = stream[4:]
    length = int.from_bytes(siz[0:2], "big")
    x, y, x0, y0, tw, th, tx0, ty0 = (int.from_bytes(siz[4 + 4 * i : 8 + 4 * i], "big") for i in range(8))
    ncomp = int.from_bytes(siz[36:38], "big")
    if length != 38 + 3 * ncomp or len(siz) < length:
        return "JPEG 2000 tile has a corrupt header"
    if (x - x0, y - y0) != (width, height):
        return f"JPEG 2000 tile is {x - x0}x{y - y0} where the TIFF says {width}x{height}"
    if ncomp != components:
        return f"JPEG 2000 tile has {ncomp} components where the TIFF has {components}"
    if tw < 1 or th < 1 or tx0 > x0 or ty0 > y0 or tx0 + tw <= x0 or ty0 + th <= y0:
        return "JPEG 2000 tile has an invalid tiling"
    if -(-(x - tx0) // tw) * -(-(y - ty0) // th) > _MAX_CODESTREAM_TILES:
        return "JPEG 2000 tile has an implausible number of codestream tiles"
    for i in range(ncomp):
        precision, dx, dy = siz[38 + 3 * i : 41 + 3 * i]
        if precision != bits - 1 or (dx, dy) != (1, 1):
            return "JPEG 2000 tile has components of another depth or sampling than the TIFF"
    return None


# Aperio 33003 stores YCbCr; cuCIM converts it as OpenSlide does (within 1 of this).
_I = np.arange(256, dtype=np.int64) - 128
_R_CR = np.trunc(1.402 * _I).astype(np.int32)
_B_CB = np.trunc(1.772 * _I).astype(np.int32)
_G_CB = np.round(-0.344136 * _I * 65536).astype(np.int64)
_G_CR = np.round(-0.714136 * _I * 65536).astype(np.int64)


def ycbcr_to_rgb(tile: np.ndarray) -> np.ndarray:
    """Full-range (JFIF) YCbCr to RGB, uint8 in and out."""
    y, cb, cr = (tile[..., i].astype(np.int32) for i in range(3))
    r = y + _R_CR[cr]
    g = y + ((_G_CB[cb] + _G_CR[cr] + 32768) >> 16).astype(np.int32)
    b = y + _B_CB[cb]
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)
