"""The Zarr v2 store of an export: arrays created by zarr, chunks written straight to their files.

zarr-python 3 sends every write through one asyncio event loop and copies each
chunk several times; on this project's 2-core machine that capped an export
at a third of the speed of encoding and writing the same chunks directly.  So
zarr creates the arrays and parses their metadata, and ``ChunkWriter`` encodes
whole chunks with the array's own codec and writes them under the Zarr v2
chunk keys.  The round-trip tests read every exported level back with zarr.
"""

from __future__ import annotations

import itertools
import os

import numpy as np

from ..backends import Slide
from ._codecs import Compression

__all__ = ["DEFAULT_CHUNK", "ZARR_FORMAT", "ChunkWriter", "create_arrays", "write_attributes"]

# 1024 px chunks: a quarter of the chunks to encode and write, and no copy of each out of its 1024 px
# block (level 2 of the synthetic sample in 1.0 s against 1.5 s with 512, one in-process run);
# bioformats2raw uses 1024 too.
DEFAULT_CHUNK = 1024

ZARR_FORMAT = 2
# NGFF 0.4 recommends nested chunk keys ("0/1/2"), which also keeps directories small.
_CHUNK_KEYS = {"name": "v2", "separator": "/"}


def _array_shape(slide: Slide, level: int) -> tuple[int, ...]:
    h, w = slide.level_shape(level)[:2]
    return (slide.samples, h, w) if slide.samples > 1 else (h, w)


def _chunks(slide: Slide, level: int, chunk: int, compression: Compression) -> tuple[int, ...]:
    h, w = slide.level_shape(level)[:2]
    plane = (min(chunk, h), min(chunk, w))
    if slide.samples == 1:
        return plane
    # One chunk per tile position holds all channels, so a viewer fetches one object per tile;
    # JPEG compresses 2D images, so there each chunk is one channel.
    return (1 if compression.planar_chunks else slide.samples, *plane)


def create_arrays(root: str | os.PathLike, slide: Slide, levels: list[int], chunk: int, compression: Compression):
    """Create the group and one empty array per exported level (named 0, 1, ...); return the arrays."""
    import zarr
    from zarr.storage import LocalStore

    group = zarr.open_group(LocalStore(os.fspath(root)), mode="w-", zarr_format=ZARR_FORMAT)
    codec = compression.codec(np.dtype(slide.dtype).itemsize)
    return [
        group.create_array(
            str(i),
            shape=_array_shape(slide, level),
            chunks=_chunks(slide, level, chunk, compression),
            dtype=slide.dtype,
            compressors=codec,
            fill_value=0,
            chunk_key_encoding=_CHUNK_KEYS,
        )
        for i, level in enumerate(levels)
    ]


def write_attributes(root: str | os.PathLike, attributes: dict) -> None:
    import zarr
    from zarr.storage import LocalStore

    zarr.open_group(LocalStore(os.fspath(root)), mode="r+", zarr_format=ZARR_FORMAT).attrs.update(attributes)


class ChunkWriter:
    """Writes whole chunks of one existing Zarr v2 array; safe to use from several threads."""

    def __init__(self, root: str, path: str) -> None:
        import zarr
        from zarr.storage import LocalStore

        meta = zarr.open_array(LocalStore(root), path=path, mode="r", zarr_format=ZARR_FORMAT).metadata
        if meta.filters or meta.order != "C":
            raise ValueError(f"{root}/{path}: only C-order arrays without filters are written directly")
        self.directory = os.path.join(root, path)
        self.shape, self.chunks = tuple(meta.shape), tuple(meta.chunks)
        self.dtype = np.dtype(meta.dtype.to_native_dtype())
        self.fill_value = meta.fill_value
        self.codec = meta.compressor
        self.separator = meta.dimension_separator
        self._made: set[str] = set()  # directories known to exist

    def _check_aligned(self, block: np.ndarray, offset: tuple[int, ...]) -> None:
        for o, n, c, size in zip(offset, block.shape, self.chunks, self.shape):
            if o % c or not (o + n == size or (o + n) % c == 0) or o + n > size:
                raise ValueError(f"block {block.shape} at {offset} is not aligned to chunks {self.chunks}")

    def _path(self, index: tuple[int, ...]) -> str:
        key = self.separator.join(map(str, index))
        return os.path.join(self.directory, *key.split("/"))

    def write(self, block: np.ndarray, offset: tuple[int, ...]) -> None:
        """Write ``block`` placed at ``offset``: it starts on chunk edges and ends on one or at the array's end."""
        self._check_aligned(block, offset)
        corners = itertools.product(*(range(o, o + n, c) for o, n, c in zip(offset, block.shape, self.chunks)))
        for corner in corners:
            part = block[tuple(slice(c - o, c - o + k) for c, o, k in zip(corner, offset, self.chunks))]
            if part.shape != self.chunks:  # an edge chunk: Zarr v2 stores it padded to the full chunk shape
                full = np.full(self.chunks, self.fill_value, self.dtype)
                full[tuple(slice(0, n) for n in part.shape)] = part
                part = full
            data = np.ascontiguousarray(part, dtype=self.dtype)  # for c, y, x this is the transposing copy
            encoded = self.codec.encode(data) if self.codec is not None else data
            path = self._path(tuple(c // k for c, k in zip(corner, self.chunks)))
            directory = os.path.dirname(path)
            if directory not in self._made:
                os.makedirs(directory, exist_ok=True)
                self._made.add(directory)
            with open(path, "wb") as f:
                f.write(encoded)
