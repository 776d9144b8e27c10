"""A CZI subblock's stored bytes and their decode with imagecodecs, as the benchmark's decode limit needs.

libCZI decodes the subblocks when it composes a read; the decode limit times the codec alone, subblock by
subblock, on one core: raw (a copy), JPEG, JPEG XR, zstd ("Zstd0") and zstd with libCZI's header
("Zstd1": a header-size byte, then optionally "hi-lo byte unpack", where a 16-bit image was stored as all
its low bytes, then all its high bytes).
"""

from __future__ import annotations

import os
import struct

import numpy as np

from .._errors import SlideReadError
from ._czi_directory import BYTES_PER_PIXEL, DirectoryEntry

__all__ = ["decode_subblock", "subblock_data"]

_SEGMENT, _HEAD, _ENTRY, _DIM = 32, struct.Struct("<iiq"), struct.Struct("<2siqiiBB4si"), 20
_DTYPES = {0: np.uint8, 1: np.uint16, 2: np.float32, 3: np.uint8, 4: np.uint16, 8: np.float32}
_SAMPLES = {0: 1, 1: 1, 2: 1, 3: 3, 4: 3, 8: 3}


def subblock_data(path: str, fd: int, entry: DirectoryEntry) -> bytes:
    """The stored (compressed) pixel bytes of a subblock (its header was checked when the file opened)."""
    head = os.pread(fd, _HEAD.size + _ENTRY.size, entry.position + _SEGMENT)
    meta, _, size = _HEAD.unpack_from(head)
    ndim = _ENTRY.unpack_from(head, _HEAD.size)[-1]
    start = entry.position + _SEGMENT + max(256, _HEAD.size + _ENTRY.size + ndim * _DIM) + meta
    data = os.pread(fd, size, start)
    if len(data) != size:
        raise SlideReadError(path, f"subblock at {entry.position} lies past the end of the file")
    return data


def _zstd1(data: bytes) -> tuple[bytes, bool]:
    """The zstd stream of a Zstd1 subblock and whether its 16-bit values were stored as low then high bytes."""
    header = data[0]
    hilo = header == 3 and data[1] == 1 and bool(data[2] & 1)
    return data[header:], hilo


def decode_subblock(entry: DirectoryEntry, data: bytes) -> np.ndarray:
    """The subblock's stored pixels as (stored height, stored width, samples)."""
    import imagecodecs

    width, height = entry.dims["X"][2], entry.dims["Y"][2]
    dtype, samples = _DTYPES[entry.pixel_type], _SAMPLES[entry.pixel_type]
    mode = entry.compression
    if mode == 0:
        pixels = np.frombuffer(data, dtype, width * height * samples).copy()
    elif mode in (1, 4):
        pixels = (imagecodecs.jpeg8_decode if mode == 1 else imagecodecs.jpegxr_decode)(data)
        if mode == 4 and samples == 3:
            pixels = pixels[..., ::-1]  # imagecodecs gives JPEG XR colour as R, G, B; a CZI stores B, G, R
    elif mode in (5, 6):
        stream, hilo = _zstd1(data) if mode == 6 else (data, False)
        raw = np.frombuffer(imagecodecs.zstd_decode(stream), np.uint8)
        if hilo:  # low bytes, then high bytes
            half = raw.size // 2
            raw = np.stack([raw[:half], raw[half:]], axis=-1).reshape(-1)
        pixels = raw.view(dtype)
    else:
        raise ValueError(f"CZI compression {mode} is not decoded here")
    if (
        pixels.size != width * height * samples
        or BYTES_PER_PIXEL[entry.pixel_type] != samples * np.dtype(dtype).itemsize
    ):
        raise ValueError(f"subblock decodes to {pixels.size} values for {width}x{height}x{samples}")
    return pixels.reshape(height, width, samples)
