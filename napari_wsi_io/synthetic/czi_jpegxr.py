"""JPEG XR CZIs, as Zeiss's scanners (Axioscan) store them, made from a CZI that pylibCZIrw wrote.

pylibCZIrw's writer refuses CZI compression mode 4 ("JpgXr": "An unsupported compression mode was
specified"), so ``with_jpegxr_subblocks`` rebuilds a written file segment by segment: every raw subblock's
pixels encoded with imagecodecs, losslessly by default (level 1.0, checked by decoding them back) or lossy at a
lower ``quality`` as scanners store them, compression 4 in the
subblock's own entry and in the directory, every segment moved up and every file position (file header,
directory entries, the subblocks' own entries, attachment entries) pointed at its new place.  The other
segments keep their bytes, the DELETED ones (a directory that ``add_pyramid`` replaced) too, so the file's
layout stays the raw file's: what follows the metadata is still a DELETED segment (the CZI fuzz test flips
bits a little past a short metadata XML and expects the pixels intact).

libCZI (pylibCZIrw 6.1) decodes JPEG XR only where its pixel format is the subblock's pixel type: 8bppGray,
16bppGray, 24bppBGR for Bgr24 and 48bppRGB for Bgr48; any other is "unsupported pixel type" or "pixel type
mismatch".  Both colour formats hold R, G, B samples (libCZI swaps a 48bppRGB tile to B, G, R itself), so a
colour tile is encoded in R, G, B order.  imagecodecs writes 8-bit colour only as 24bppRGB, so the container's
pixel-format GUID is then changed to 24bppBGR (the two GUIDs differ in their last byte; the codestream holds no
channel order): libCZI decodes B, G, R, as stored.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["encode_jpegxr", "with_jpegxr_subblocks"]

_SEGMENT = struct.Struct("<16sqq")  # Id, AllocatedSize, UsedSize
_SUBBLOCK_HEAD = struct.Struct("<iiq")  # MetadataSize, AttachmentSize, DataSize
_ENTRY = struct.Struct("<2siqiiBB4si")  # "DV", PixelType, FilePosition, FilePart, Compression, PyramidType, ...
_DIM = struct.Struct("<4siifi")  # Dimension, Start, Size, StartCoordinate, StoredSize
_ENTRY_POSITION, _ENTRY_COMPRESSION = 6, 18  # offsets inside a DirectoryEntryDV
_HEADER_POSITIONS = (52, 60, 72)  # file header: subblock directory, metadata, attachment directory
_ATTACHMENT_ENTRY, _ATTACHMENT_POSITION = 128, 12  # an AttachmentEntryA1 and its FilePosition
_JPEGXR = 4
_BGR24, _BGR48 = 3, 4
#: CZI pixel type -> (dtype, samples) of the types libCZI decodes from JPEG XR.
_PIXELS = {0: (np.uint8, 1), 1: (np.uint16, 1), 3: (np.uint8, 3), 4: (np.uint16, 3)}
_JXR_PIXEL_FORMAT = 0xBC01  # the container's pixel-format GUID tag
_GUID_24BPP = bytes.fromhex("24c3dd6f034efe4bb1853d77768dc9")  # 24bppRGB ends in 0D, 24bppBGR in 0C


@dataclass
class _Segment:
    position: int  # in the source file
    kind: bytes
    allocated: int
    data: bytearray


def _segments(data: bytes) -> list[_Segment]:
    segments, position = [], 0
    while position + _SEGMENT.size <= len(data):
        kind, allocated, used = _SEGMENT.unpack_from(data, position)
        start = position + _SEGMENT.size
        segments.append(_Segment(position, kind.rstrip(b"\0"), allocated, bytearray(data[start : start + used])))
        position = start + allocated
    return segments


def _as_bgr_container(encoded: bytearray) -> None:
    """Change a 24bppRGB JPEG XR's pixel-format GUID (tag 0xBC01 of its IFD) to 24bppBGR in place."""
    (ifd,) = struct.unpack_from("<I", encoded, 4)
    (count,) = struct.unpack_from("<H", encoded, ifd)
    for i in range(count):
        tag, _, size, value = struct.unpack_from("<HHII", encoded, ifd + 2 + 12 * i)
        if tag == _JXR_PIXEL_FORMAT and size == 16 and encoded[value : value + 16] == _GUID_24BPP + b"\x0d":
            encoded[value + 15] = 0x0C
            return
    raise ValueError("the JPEG XR holds no 24bppRGB pixel format")


def encode_jpegxr(pixels: np.ndarray, pixel_type: int, quality: float = 1.0) -> bytes:
    """A subblock's stored pixels ((h, w) grey or (h, w, 3) B, G, R) as JPEG XR in the pixel format libCZI wants
    for ``pixel_type``; lossless at ``quality`` 1.0 (raises where imagecodecs does not decode it back exactly),
    lossy below, as scanners store it."""
    import imagecodecs

    colour = pixel_type in (_BGR24, _BGR48)
    encoded = bytearray(imagecodecs.jpegxr_encode(pixels[..., ::-1] if colour else pixels, level=quality))
    if pixel_type == _BGR24:
        _as_bgr_container(encoded)
    decoded = imagecodecs.jpegxr_decode(bytes(encoded))
    if colour:
        decoded = decoded[..., ::-1]  # imagecodecs decodes both colour formats to R, G, B
    if quality >= 1.0 and not np.array_equal(decoded, pixels):
        raise ValueError(f"JPEG XR of a {pixels.shape} {pixels.dtype} subblock is not lossless")
    return bytes(encoded)


def _encode_subblock(data: bytearray, where: int, quality: float) -> bytearray:
    """The subblock segment's data with its raw pixels replaced by JPEG XR and its compression set to 4."""
    meta, attachments, size = _SUBBLOCK_HEAD.unpack_from(data)
    _, pixel_type, _, _, compression, _, _, _, ndim = _ENTRY.unpack_from(data, _SUBBLOCK_HEAD.size)
    if compression != 0 or pixel_type not in _PIXELS:
        raise ValueError(f"subblock at {where}: compression {compression}, pixel type {pixel_type}: not raw")
    dims = {}
    for i in range(ndim):
        name, _, _, _, stored = _DIM.unpack_from(data, _SUBBLOCK_HEAD.size + _ENTRY.size + i * _DIM.size)
        dims[name.rstrip(b"\0")] = stored
    dtype, samples = _PIXELS[pixel_type]
    shape = (dims[b"Y"], dims[b"X"]) + ((samples,) if samples > 1 else ())
    start = max(256, _SUBBLOCK_HEAD.size + _ENTRY.size + ndim * _DIM.size) + meta
    pixels = np.frombuffer(data, dtype, int(np.prod(shape)), start).reshape(shape)
    encoded = encode_jpegxr(pixels, pixel_type, quality)
    out = data[:start] + encoded + data[start + size : start + size + attachments]
    struct.pack_into("<q", out, 8, len(encoded))
    out[_SUBBLOCK_HEAD.size + _ENTRY_COMPRESSION] = _JPEGXR
    return out


def _move(data: bytearray, offset: int, moved: dict[int, int]) -> None:
    """Point the int64 file position at ``offset`` (0: none) at where its segment lies now."""
    (old,) = struct.unpack_from("<q", data, offset)
    if old:
        struct.pack_into("<q", data, offset, moved[old])


def _fix_positions(segment: _Segment, moved: dict[int, int]) -> None:
    data = segment.data
    if segment.kind == b"ZISRAWFILE":
        for offset in _HEADER_POSITIONS:
            _move(data, offset, moved)
    elif segment.kind == b"ZISRAWSUBBLOCK":
        _move(data, _SUBBLOCK_HEAD.size + _ENTRY_POSITION, moved)
    elif segment.kind == b"ZISRAWDIRECTORY":
        (count,) = struct.unpack_from("<i", data, 0)
        offset = 128
        for _ in range(count):
            _move(data, offset + _ENTRY_POSITION, moved)
            data[offset + _ENTRY_COMPRESSION] = _JPEGXR  # every subblock was raw and is JPEG XR now
            offset += _ENTRY.size + _ENTRY.unpack_from(data, offset)[-1] * _DIM.size
    elif segment.kind == b"ZISRAWATTDIR":
        (count,) = struct.unpack_from("<i", data, 0)
        for i in range(count):
            _move(data, 256 + i * _ATTACHMENT_ENTRY + _ATTACHMENT_POSITION, moved)
    elif segment.kind == b"ZISRAWATTACH":
        _move(data, 16 + _ATTACHMENT_POSITION, moved)


def with_jpegxr_subblocks(src: str | os.PathLike, dst: str | os.PathLike, quality: float = 1.0) -> Path:
    """Write ``src`` (a CZI with raw subblocks, as pylibCZIrw writes it) to ``dst`` with every subblock
    JPEG XR-compressed (CZI compression 4) as a Zeiss scanner stores it: losslessly at ``quality`` 1.0."""
    segments = _segments(Path(src).read_bytes())
    moved, position = {}, 0
    for segment in segments:
        if segment.kind == b"ZISRAWSUBBLOCK":
            segment.data = _encode_subblock(segment.data, segment.position, quality)
            segment.allocated = -(-len(segment.data) // 32) * 32
        moved[segment.position] = position
        position += _SEGMENT.size + segment.allocated
    with open(dst, "wb") as f:
        for segment in segments:
            _fix_positions(segment, moved)
            pad = segment.allocated - len(segment.data)
            f.write(_SEGMENT.pack(segment.kind, segment.allocated, len(segment.data)) + segment.data + b"\0" * pad)
    return Path(dst)
