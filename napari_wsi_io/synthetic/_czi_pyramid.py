"""Pyramid subblocks appended to a CZI that pylibCZIrw wrote (its writer has no zoom argument).

A pyramid subblock is an ordinary subblock whose stored X/Y size is smaller than its logical size
(zoom = stored / logical < 1), with no M index and a PyramidType other than 0 (libCZI's ``CziStructs.h``).
``add_pyramid`` reads level 0 of every plane back with pylibCZIrw, halves it with a box mean, writes each
level as tiles, then a new directory listing old and new subblocks, and points the file header at it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["add_pyramid", "downsample", "level_size"]

_SEGMENT = struct.Struct("<16sqq")
_ENTRY = struct.Struct("<2siqiiBB4si")
_DIM = struct.Struct("<4siifi")


def downsample(a: np.ndarray, f: int) -> np.ndarray:
    """f x f box mean rounded half up; edges padded by replication; (h, w) or (h, w, samples)."""
    h, w = a.shape[:2]
    ph, pw = -h % f, -w % f
    if ph or pw:
        a = np.pad(a, ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2), mode="edge")
    s = a.astype(np.uint32).reshape(a.shape[0] // f, f, a.shape[1] // f, f, *a.shape[2:]).sum(axis=(1, 3))
    return ((s + (f * f) // 2) // (f * f)).astype(a.dtype)


def level_size(width: int, height: int, level: int, factor: int = 2) -> tuple[int, int]:
    """(width, height) of pyramid level ``level``: ceil division at every step."""
    for _ in range(level):
        width, height = -(-width // factor), -(-height // factor)
    return width, height


@dataclass
class _Entry:
    pixel_type: int
    position: int
    compression: int
    pyramid_type: int
    dims: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # name -> (start, size, stored)

    def pack(self) -> bytes:
        head = _ENTRY.pack(
            b"DV", self.pixel_type, self.position, 0, self.compression, self.pyramid_type, 0, b"\0" * 4, len(self.dims)
        )
        return head + b"".join(_DIM.pack(k.encode(), s, n, 0.0, st) for k, (s, n, st) in self.dims.items())


def _directory(f) -> tuple[list[_Entry], int]:
    f.seek(32 + 52)
    (position,) = struct.unpack("<q", f.read(8))
    f.seek(position)
    _, _, used = _SEGMENT.unpack(f.read(32))
    buf = f.read(used)
    (count,) = struct.unpack_from("<i", buf, 0)
    offset, entries = 128, []
    for _ in range(count):
        _, pt, pos, _, comp, pyr, _, _, ndim = _ENTRY.unpack_from(buf, offset)
        offset += _ENTRY.size
        dims = {}
        for _ in range(ndim):
            name, start, size, _, stored = _DIM.unpack_from(buf, offset)
            dims[name.rstrip(b"\0").decode()] = (start, size, stored)
            offset += _DIM.size
        entries.append(_Entry(pt, pos, comp, pyr, dims))
    return entries, position


def _segment(seg_id: bytes, data: bytes) -> bytes:
    allocated = -(-len(data) // 32) * 32
    return _SEGMENT.pack(seg_id, allocated, len(data)) + data + b"\0" * (allocated - len(data))


def _subblock(entry: _Entry, pixels: bytes) -> bytes:
    fixed = struct.pack("<iiq", 0, 0, len(pixels)) + entry.pack()
    fixed += b"\0" * (max(256, len(fixed)) - len(fixed))
    return _segment(b"ZISRAWSUBBLOCK", fixed + pixels)


def _pyramid_tiles(doc, key: tuple, entries: list[_Entry], tile: int, factor: int, min_size: int):
    """(entry, bytes) of every pyramid tile of one plane."""
    x0, y0 = min(e.dims["X"][0] for e in entries), min(e.dims["Y"][0] for e in entries)
    w = max(e.dims["X"][0] + e.dims["X"][1] for e in entries) - x0
    h = max(e.dims["Y"][0] + e.dims["Y"][1] for e in entries) - y0
    coords = dict(key)
    image = doc.read(roi=(x0, y0, w, h), plane={k: v for k, v in coords.items() if k in "CZT"}, pixel_type=None)
    image = image[..., 0] if image.shape[-1] == 1 else image
    scale = 1
    while max(image.shape[:2]) > min_size:
        scale *= factor
        image = downsample(image, factor)
        for ty in range(0, image.shape[0], tile):
            for tx in range(0, image.shape[1], tile):
                part = np.ascontiguousarray(image[ty : ty + tile, tx : tx + tile])
                th, tw = part.shape[:2]
                dims = {"X": (x0 + tx * scale, tw * scale, tw), "Y": (y0 + ty * scale, th * scale, th)}
                dims.update({k: (v, 1, 1) for k, v in key})
                yield _Entry(entries[0].pixel_type, 0, 0, 2, dims), part.tobytes()


def add_pyramid(path: str | Path, *, factor: int = 2, tile: int = 1024, min_size: int | None = None) -> int:
    """Append pyramid levels (each ``factor`` x smaller, uncompressed) to every plane until a level fits
    ``min_size`` (default ``tile``); returns the number of subblocks added."""
    from pylibCZIrw import czi as pyczi

    min_size = tile if min_size is None else min_size
    with open(path, "rb") as f:
        entries, old = _directory(f)
    planes: dict[tuple, list[_Entry]] = {}
    for e in entries:
        if e.dims["X"][1] == e.dims["X"][2]:
            key = tuple(sorted((k, v[0]) for k, v in e.dims.items() if k not in ("X", "Y", "M")))
            planes.setdefault(key, []).append(e)
    with pyczi.open_czi(str(path)) as doc:
        new = [
            item for key, group in planes.items() for item in _pyramid_tiles(doc, key, group, tile, factor, min_size)
        ]
    with open(path, "r+b") as f:
        f.seek(0, 2)
        position = -(-f.tell() // 32) * 32
        for entry, pixels in new:
            entry.position = position
            f.seek(position)
            segment = _subblock(entry, pixels)
            f.write(segment)
            position += len(segment)
        listed = entries + [e for e, _ in new]
        f.seek(position)
        f.write(
            _segment(
                b"ZISRAWDIRECTORY", struct.pack("<i", len(listed)) + b"\0" * 124 + b"".join(e.pack() for e in listed)
            )
        )
        f.seek(old)
        f.write(b"DELETED".ljust(16, b"\0"))  # the old directory segment is unused now
        f.seek(32 + 52)
        f.write(struct.pack("<q", position))
    return len(new)
