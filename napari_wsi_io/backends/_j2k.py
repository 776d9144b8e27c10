"""Header check of a JPEG 2000 tile (Aperio compressions 33003 and 33005), and 33003's colours.

OpenJPEG sizes its buffers from the codestream's SIZ marker, not from the
TIFF: a damaged SIZ that claims a huge image or thousands of codestream tiles
made cuCIM allocate hundreds of MB for one 256 px tile in our fuzz tests.  So
the SIZ marker must describe exactly the TIFF tile, and the codestream must be
complete (end with EOC), before any decoder sees it.

Aperio 33003 stores YCbCr, usually with Cb and Cr at half width (SIZ dx=2,
dy=1: "4:2:2").  OpenSlide and cuCIM repeat each chroma sample over two pixels
and convert to RGB.  imagecodecs (tifffile's decoder) converts only
subsampled codestreams itself (it guesses sYCC from the sampling) and returns
full-width YCbCr untouched: so the fallback converts a tile only when the
codestream is not subsampled, and checks once what this imagecodecs does.
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["imagecodecs_returns_ycbcr", "j2k_half_chroma", "j2k_problem", "ycbcr_to_rgb"]

_SOC_SIZ = b"\xff\x4f\xff\x51"
# The SIZ marker segment after its code: Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz, Csiz.
_SIZ = struct.Struct(">HHIIIIIIIIH")
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


def j2k_problem(
    data: bytes, width: int, height: int, components: int, bits: int, half_chroma: bool = False
) -> str | None:
    """Why ``data`` is not a complete JPEG 2000 codestream of a ``width`` x ``height`` tile, or None.

    ``half_chroma`` also accepts Aperio 33003's sampling: 3 components, the
    last two at half width, in an image that starts at (0, 0).
    """
    stream = _codestream(data)
    if stream is None or stream[:4] != _SOC_SIZ:
        return "JPEG 2000 tile does not start with a codestream"
    if stream[-2:] != _EOC:
        return "JPEG 2000 tile is truncated (no end marker)"
    if len(stream) < 6 + 38:
        return "JPEG 2000 tile has a corrupt header"
    length, _, x, y, x0, y0, tw, th, tx0, ty0, ncomp = _SIZ.unpack_from(stream, 4)
    if length != 38 + 3 * ncomp or len(stream) < 4 + length:
        return "JPEG 2000 tile has a corrupt header"
    if (x - x0, y - y0) != (width, height):
        return f"JPEG 2000 tile is {x - x0}x{y - y0} where the TIFF says {width}x{height}"
    if ncomp != components:
        return f"JPEG 2000 tile has {ncomp} components where the TIFF has {components}"
    if tw < 1 or th < 1 or tx0 > x0 or ty0 > y0 or tx0 + tw <= x0 or ty0 + th <= y0:
        return "JPEG 2000 tile has an invalid tiling"
    if -(-(x - tx0) // tw) * -(-(y - ty0) // th) > _MAX_CODESTREAM_TILES:
        return "JPEG 2000 tile has an implausible number of codestream tiles"
    comps = stream[42 : 42 + 3 * ncomp]  # per component: depth - 1, dx, dy
    if comps[0::3].count(bits - 1) != ncomp:
        return "JPEG 2000 tile has components of another depth than the TIFF"
    dx, dy = comps[1::3], comps[2::3]
    if dx == dy == b"\x01" * ncomp:
        return None
    if half_chroma and dx == b"\x01\x02\x02" and dy == b"\x01\x01\x01":
        # Chroma sample i covers pixels 2i and 2i+1 only when the image starts at 0.
        return None if x0 == 0 and y0 == 0 else "JPEG 2000 tile with half-width chroma has an image offset"
    sampling = ", ".join(f"{a}x{b}" for a, b in zip(dx, dy))
    return f"JPEG 2000 tile has components sampled {sampling}, which is not supported"


def j2k_half_chroma(data: bytes) -> bool:
    """True for a codestream (checked by ``j2k_problem``) whose chroma is at half width."""
    stream = _codestream(data)
    return stream[40:42] == b"\x00\x03" and stream[46] == 2


# OpenSlide's tables (src/make-tables.c); cuCIM's differ from them by at most 1.
_I = np.arange(256, dtype=np.float64) - 128
_R_CR = np.round(1.402 * _I).astype(np.int32)
_B_CB = np.round(1.772 * _I).astype(np.int32)
_G_CB = np.round(65536 * (0.5 - 0.34414 * _I)).astype(np.int64)  # the 0.5 rounds the sum
_G_CR = np.round(65536 * -0.71414 * _I).astype(np.int64)


def ycbcr_to_rgb(tile: np.ndarray) -> np.ndarray:
    """Full-range (JFIF) YCbCr to RGB, uint8 in and out, as OpenSlide converts Aperio 33003."""
    y, cb, cr = (tile[..., i].astype(np.int32) for i in range(3))
    r = y + _R_CR[cr]
    g = y + ((_G_CB[cb] + _G_CR[cr]) >> 16).astype(np.int32)
    b = y + _B_CB[cb]
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


# A 32x32 codestream with half-width chroma: Y 120; Cb 90, Cr 200 on the left half, Cb 170, Cr 60 on the right.
_PROBE = bytes.fromhex(
    "ff4fff51002f000000000020000000200000000000000000000000200000002000000000000000000003070101070201070201"
    "ff52000c00000001000504040001ff5c00134040484850484850484850484850484850ff640025000143726561746564206279"
    "204f70656e4a5045472076657273696f6e20322e352e34ff90000a0000000000810001ff93c1f20107c3e704057fc7d4020280"
    "808080c7da06000264dfcfc00c09371d80c3ea0700115dda370991afc7da1000140de389b19b5fcf80c3ea0a00172cc27e2722"
    "51eeff7fc7da180017d8c5d0c9aec8e551ca085f80c3ea0900216e10ebea9161211fc7da1800221a12eec9c0800c23f75d43ffd9"
)
_probe_result: tuple[bool | None, str] | None = None


def _decoded_half_chroma() -> tuple[bool | None, str]:
    """(True: imagecodecs returns RGB, False: upsampled YCbCr, None: neither) for half-width chroma, and why."""
    global _probe_result
    if _probe_result is None:
        import imagecodecs

        ycc = np.empty((32, 32, 3), np.uint8)
        ycc[..., 0] = 120
        ycc[:, :16, 1:], ycc[:, 16:, 1:] = (90, 200), (170, 60)
        try:
            got = imagecodecs.jpeg2k_decode(_PROBE).astype(np.int32)
        except Exception as exc:
            got = f"{type(exc).__name__}: {exc}"
        version = getattr(imagecodecs, "__version__", "?")
        if isinstance(got, str) or got.shape != ycc.shape:
            _probe_result = (None, f"imagecodecs {version} cannot decode half-width chroma ({got})"[:200])
        elif np.abs(got - ycbcr_to_rgb(ycc)).max() <= 2:
            _probe_result = (True, "")
        elif np.abs(got - ycc).max() <= 2:
            _probe_result = (False, "")
        else:
            _probe_result = (None, f"imagecodecs {version} decodes half-width chroma to unexpected colours")
    return _probe_result


def imagecodecs_returns_ycbcr(data: bytes) -> bool:
    """Whether imagecodecs hands back this checked 33003 tile still as YCbCr.

    Raises ``ValueError`` with the reason when it cannot decode the tile's half-width chroma right.
    """
    if not j2k_half_chroma(data):
        return True
    rgb, problem = _decoded_half_chroma()
    if rgb is None:
        raise ValueError(problem)
    return not rgb
