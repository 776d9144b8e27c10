"""A Zeiss CZI's structure, read and checked in Python before libCZI sees the file.

A CZI (ZISRAW) is a chain of segments: the file header (where the subblock directory and the metadata lie),
the subblocks (each an image tile of one plane, at full resolution or, with a zoom below 1, a pyramid tile),
the metadata XML and the directory.  libCZI trusts these numbers; a damaged file could make it read past the
end, allocate what a flipped bit claims, or crash.  So every directory entry and every subblock header is
checked here (positions inside the file, sizes that fit the pixels, known pixel types), and a damaged one is
a ``SlideReadError`` naming the file and, where the entry says, the channel.

The layout follows libCZI's ``CziStructs.h``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

from .._errors import SlideReadError

__all__ = ["BYTES_PER_PIXEL", "DirectoryEntry", "check_subblocks", "is_czi_file", "read_directory", "read_metadata"]

_MAGIC = b"ZISRAWFILE"
_SEGMENT = struct.Struct("<16sqq")  # Id, AllocatedSize, UsedSize
_ENTRY = struct.Struct("<2siqiiBB4si")  # "DV", PixelType, FilePosition, FilePart, Compression, PyramidType, ...
_DIM = struct.Struct("<4siifi")  # Dimension, Start, Size, StartCoordinate, StoredSize
_SUBBLOCK_HEAD = struct.Struct("<iiq")  # MetadataSize, AttachmentSize, DataSize
#: Gray8, Gray16, Gray32Float, Bgr24, Bgr48, Bgr96Float: bytes per pixel.
BYTES_PER_PIXEL = {0: 1, 1: 2, 2: 4, 3: 3, 4: 6, 8: 12}
_MAX_ENTRIES = 1 << 22
_MAX_DIMS = 16
_MAX_SIDE = 1 << 20  # a subblock's logical side: a whole 1 Mpx-wide scan as one subblock at most
_MAX_STORED_SIDE = 1 << 16


def is_czi_file(path: str | os.PathLike) -> bool:
    """True when the file starts with a ZISRAW file header."""
    try:
        with open(path, "rb") as f:
            return f.read(16).rstrip(b"\0") == _MAGIC
    except OSError:
        return False


@dataclass(frozen=True)
class DirectoryEntry:
    """One subblock as the directory lists it."""

    pixel_type: int
    position: int
    compression: int
    pyramid_type: int
    #: Dimension -> (start, size, stored size).
    dims: dict[str, tuple[int, int, int]]

    def index(self, name: str) -> int:
        return self.dims.get(name, (0, 1, 1))[0]

    @property
    def zoom(self) -> float:
        """Stored over logical width: 1 for a full-resolution subblock, below 1 for a pyramid one."""
        _, size, stored = self.dims["X"]
        return stored / size


def _fail(path: str, reason: str) -> None:
    raise SlideReadError(path, f"damaged CZI: {reason}")


def _segment(fd: int, position: int, file_size: int, expected: bytes, path: str) -> int:
    """The used size of the segment at ``position``, checked to be ``expected`` and inside the file."""
    if not 0 <= position <= file_size - _SEGMENT.size:
        _fail(path, f"a {expected.decode()} segment at {position} lies past the end of the file (truncated?)")
    seg_id, _, used = _SEGMENT.unpack(os.pread(fd, _SEGMENT.size, position))
    if seg_id.rstrip(b"\0") != expected:
        _fail(path, f"no {expected.decode()} segment at {position}")
    if not 0 <= used <= file_size - position - _SEGMENT.size:
        _fail(path, f"the {expected.decode()} segment at {position} runs past the end of the file (truncated?)")
    return used


def _parse_entry(buf: bytes, offset: int, path: str) -> tuple[DirectoryEntry, int]:
    if offset + _ENTRY.size > len(buf):
        _fail(path, "the subblock directory ends inside an entry")
    schema, pixel_type, position, _, compression, pyramid, _, _, ndim = _ENTRY.unpack_from(buf, offset)
    if schema != b"DV" or not 1 <= ndim <= _MAX_DIMS or pixel_type not in BYTES_PER_PIXEL:
        _fail(path, f"directory entry at {offset} is not a valid subblock entry")
    offset += _ENTRY.size
    if offset + ndim * _DIM.size > len(buf):
        _fail(path, "the subblock directory ends inside an entry")
    dims = {}
    for _ in range(ndim):
        name, start, size, _, stored = _DIM.unpack_from(buf, offset)
        dims[name.rstrip(b"\0").decode("ascii", "replace")] = (start, size, stored)
        offset += _DIM.size
    for axis in ("X", "Y"):
        start, size, stored = dims.get(axis, (0, 0, 0))
        if not (0 < size <= _MAX_SIDE and 0 < stored <= min(size, _MAX_STORED_SIDE) and abs(start) < 1 << 30):
            _fail(path, f"subblock at {position}: {axis} size {size} (stored {stored}) at {start} is implausible")
    return DirectoryEntry(pixel_type, position, compression, pyramid, dims), offset


def _check_subblock(fd: int, entry: DirectoryEntry, file_size: int, path: str, where: str) -> None:
    """The subblock's own header agrees with its entry, and its pixels lie inside the file."""
    used = _segment(fd, entry.position, file_size, b"ZISRAWSUBBLOCK", path)
    head = os.pread(fd, _SUBBLOCK_HEAD.size + _ENTRY.size, entry.position + _SEGMENT.size)
    meta, attachments, data = _SUBBLOCK_HEAD.unpack_from(head)
    ndim = _ENTRY.unpack_from(head, _SUBBLOCK_HEAD.size)[-1]
    if not 1 <= ndim <= _MAX_DIMS or min(meta, attachments, data) < 0:
        raise SlideReadError(path, f"{where}: damaged subblock header")
    header = max(256, _SUBBLOCK_HEAD.size + _ENTRY.size + ndim * _DIM.size)
    if header + meta + data + attachments > used:
        raise SlideReadError(path, f"{where}: the subblock's data run past its segment (truncated file?)")
    stored = entry.dims["X"][2] * entry.dims["Y"][2] * BYTES_PER_PIXEL[entry.pixel_type]
    if entry.compression == 0 and data < stored:
        raise SlideReadError(path, f"{where}: the uncompressed subblock holds {data} bytes for {stored}")
    if data > 4 * stored + (1 << 20):
        raise SlideReadError(path, f"{where}: a subblock claims {data} bytes, more than any codec needs")


def read_directory(path: str, fd: int) -> list[DirectoryEntry]:
    """Every subblock's directory entry, checked (``check_subblocks`` checks the subblocks themselves)."""
    file_size = os.fstat(fd).st_size
    _segment(fd, 0, file_size, _MAGIC, path)
    (directory,) = struct.unpack("<q", os.pread(fd, 8, _SEGMENT.size + 52))
    used = _segment(fd, directory, file_size, b"ZISRAWDIRECTORY", path)
    buf = os.pread(fd, used, directory + _SEGMENT.size)
    if len(buf) < 128:
        _fail(path, "the subblock directory is empty")
    (count,) = struct.unpack_from("<i", buf, 0)
    if not 0 < count <= _MAX_ENTRIES:
        _fail(path, f"the subblock directory lists {count} subblocks")
    entries, offset = [], 128
    for _ in range(count):
        entry, offset = _parse_entry(buf, offset, path)
        entries.append(entry)
    return entries


def check_subblocks(path: str, fd: int, entries: list[DirectoryEntry], label: Callable[[DirectoryEntry], str]) -> None:
    """Each subblock's header agrees with its entry and its pixels lie in the file; ``label(entry)`` names
    the entry's plane in an error ("channel 2 ('TRITC')")."""
    file_size = os.fstat(fd).st_size
    for entry in entries:
        x, y = entry.dims["X"][0], entry.dims["Y"][0]
        _check_subblock(fd, entry, file_size, path, f"{label(entry)}, subblock at ({x}, {y})")


def read_metadata(path: str, fd: int) -> str:
    """The metadata XML (the MetadataPosition of the file header); empty where the file has none."""
    file_size = os.fstat(fd).st_size
    (position,) = struct.unpack("<q", os.pread(fd, 8, _SEGMENT.size + 60))
    if position == 0:
        return ""
    used = _segment(fd, position, file_size, b"ZISRAWMETADATA", path)
    xml_size, _ = struct.unpack("<ii", os.pread(fd, 8, position + _SEGMENT.size))
    if not 0 <= xml_size <= used - 256:
        _fail(path, "the metadata segment's XML runs past the segment")
    # Damaged text only costs names and colours (``_czi_metadata`` falls back to the palette).
    return os.pread(fd, xml_size, position + _SEGMENT.size + 256).decode("utf-8", "replace")
