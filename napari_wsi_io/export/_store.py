"""The Zarr store of an export: arrays created by zarr, chunks and shards written straight to their files.

zarr-python 3 sends every write through one asyncio event loop and copies each
chunk several times; on this project's 2-core machine that capped an export
at a third of the speed of encoding and writing the same chunks directly.  So
zarr creates the arrays and parses their metadata, and ``ArrayWriter`` encodes
whole chunks with the array's own codecs and writes them under the array's
chunk keys: one file per chunk (Zarr v2, or Zarr v3 without sharding), or one
file per shard (Zarr v3 ``sharding_indexed``: the encoded inner chunks one
after the other, then the index of (offset, nbytes) pairs and its crc32c).
The round-trip tests read every exported level back with zarr and ome-zarr-py.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import numpy as np

from ..backends import PlanesAsSamples, Slide
from ._codecs import Compression
from ._planes import lead_axes

__all__ = [
    "DEFAULT_CHUNK",
    "DEFAULT_FORMAT",
    "DEFAULT_SHARD",
    "FORMATS",
    "ZARR_FORMAT",
    "ArrayWriter",
    "Layout",
    "ShardFile",
    "create_arrays",
    "write_attributes",
]

# 1024 px chunks: a quarter of the chunks to encode and write, and no copy of each out of its 1024 px
# block (level 2 of the synthetic sample in 1.0 s against 1.5 s with 512, one in-process run);
# bioformats2raw uses 1024 too.
DEFAULT_CHUNK = 1024
# 4096 px shards (4 x 4 chunks of 1024 px): 16 chunks per file, and still a dozen shards (tasks) on a
# 150 MP level, so two workers stay busy to the end; 8192 px would leave 4 shards of unequal size.
DEFAULT_SHARD = 4096

FORMATS = ("0.5", "0.4")  # NGFF versions: 0.5 is Zarr v3, 0.4 is Zarr v2
DEFAULT_FORMAT = "0.5"
ZARR_FORMAT = {"0.5": 3, "0.4": 2}
# NGFF 0.4 recommends nested chunk keys ("0/1/2"), which also keeps directories small.
_V2_CHUNK_KEYS = {"name": "v2", "separator": "/"}
_NO_CHUNK = 2**64 - 1  # the sharding index's mark of an absent inner chunk


@dataclass(frozen=True)
class Layout:
    """How an export is stored: NGFF version, chunk side and shard side in pixels (None: no sharding)."""

    ngff: str = DEFAULT_FORMAT
    chunk: int = DEFAULT_CHUNK
    shard: int | None = DEFAULT_SHARD

    @classmethod
    def of(cls, ngff: str, chunk: int, shard: int | str | None = "auto") -> Layout:
        ngff = str(ngff).strip()
        if ngff not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {ngff!r}")
        if not 16 <= int(chunk) <= 16384:
            raise ValueError(f"chunk must be between 16 and 16384 pixels, not {chunk}")
        chunk = int(chunk)
        if isinstance(shard, str):
            shard = shard.strip().lower()
            if shard == "auto":  # the default: shards where the format has them
                shard = DEFAULT_SHARD if ngff == "0.5" else None
            else:
                shard = None if shard in ("none", "0", "") else _int(shard, "shard")
        if shard in (None, 0):
            return cls(ngff, chunk, None)
        if ngff == "0.4":
            raise ValueError("sharding needs Zarr v3: use --format 0.5, or --shard none with --format 0.4")
        shard = int(shard)
        if shard < chunk or shard % chunk:
            raise ValueError(f"shard must be a multiple of the chunk ({chunk} px), not {shard}")
        return cls(ngff, chunk, shard)

    @property
    def zarr_format(self) -> int:
        return ZARR_FORMAT[self.ngff]

    def __str__(self) -> str:
        sharding = f", {self.shard} px shards" if self.shard else ""
        return f"NGFF {self.ngff} (Zarr v{self.zarr_format}), {self.chunk} px chunks{sharding}"


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{what} must be a number of pixels or 'none', not {value!r}") from None


def _array_shape(slide: Slide, level: int) -> tuple[int, ...]:
    h, w = slide.level_shape(level)[:2]
    return (*(axis.size for axis in lead_axes(slide)), h, w)


def _chunks(slide: Slide, level: int, chunk: int, compression: Compression) -> tuple[int, ...]:
    h, w = slide.level_shape(level)[:2]
    plane = (min(chunk, h), min(chunk, w))
    lead = lead_axes(slide)
    if not lead:
        return plane
    # RGB: one chunk per tile position holds all three, so a viewer fetches one object per tile; JPEG
    # compresses 2D images, so there each chunk is one channel.  A slide's channels and planes: one chunk
    # each, as a viewer shows (and reads) each channel on its own.
    whole = len(lead) == 1 and lead[0].name == "c" and not isinstance(slide, PlanesAsSamples)
    return (*(axis.size if whole and not compression.planar_chunks else 1 for axis in lead), *plane)


def _shards(slide: Slide, level: int, chunks: tuple[int, ...], shard: int) -> tuple[int, ...]:
    """Shard shape: ``shard`` px per side, all channels, never larger than the level rounded up to chunks."""
    h, w = slide.level_shape(level)[:2]
    plane = tuple(min(shard, -(-n // c) * c) for n, c in zip((h, w), chunks[-2:]))
    return (*(axis.size for axis in lead_axes(slide)), *plane)


def create_arrays(root: str | os.PathLike, slide: Slide, levels: list[int], layout: Layout, compression: Compression):
    """Create the group and one empty array per exported level (named 0, 1, ...); return the arrays."""
    import zarr
    from zarr.storage import LocalStore

    group = zarr.open_group(LocalStore(os.fspath(root)), mode="w-", zarr_format=layout.zarr_format)
    itemsize = np.dtype(slide.dtype).itemsize
    arrays = []
    for i, level in enumerate(levels):
        chunks = _chunks(slide, level, layout.chunk, compression)
        options: dict = {"chunks": chunks, "fill_value": 0}
        if layout.zarr_format == 2:
            options.update(compressors=compression.codec(itemsize), chunk_key_encoding=_V2_CHUNK_KEYS)
        else:
            serializer, compressors = compression.codecs_v3(itemsize)
            options.update(compressors=compressors, serializer=serializer)
            options["dimension_names"] = [*(axis.name for axis in lead_axes(slide)), "y", "x"]
            if layout.shard:
                options["shards"] = _shards(slide, level, chunks, layout.shard)
        arrays.append(group.create_array(str(i), shape=_array_shape(slide, level), dtype=slide.dtype, **options))
    return arrays


def write_attributes(root: str | os.PathLike, attributes: dict, zarr_format: int) -> None:
    import zarr
    from zarr.storage import LocalStore

    zarr.open_group(LocalStore(os.fspath(root)), mode="r+", zarr_format=zarr_format).attrs.update(attributes)


class ArrayWriter:
    """Writes whole chunks (or whole shards) of one existing Zarr array; safe to use from several threads."""

    def __init__(self, root: str, path: str) -> None:
        import zarr
        from zarr.storage import LocalStore

        array = zarr.open_array(LocalStore(root), path=path, mode="r")
        meta = array.metadata
        self.directory = os.path.join(root, path)
        self.shape = tuple(meta.shape)
        self.dtype = np.dtype(meta.dtype.to_native_dtype())
        self.fill_value = meta.fill_value
        self._made: set[str] = set()  # directories known to exist
        if meta.zarr_format == 2:
            if meta.filters or meta.order != "C":
                raise ValueError(f"{root}/{path}: only C-order arrays without filters are written directly")
            self.chunks, self.shard = tuple(meta.chunks), None
            codec = meta.compressor
            self._encode = codec.encode if codec is not None else bytes
            separator = meta.dimension_separator
            self._key = lambda index: separator.join(map(str, index))
        else:
            from ._codecs import v3_chunk_encoder

            self.shard = tuple(array.shards) if array.shards else None
            self.chunks = tuple(array.chunks)  # the inner chunks of a sharded array
            codecs = meta.codecs
            if self.shard:
                codecs = _sharding_codecs(meta.codecs, f"{root}/{path}")
            self._encode = v3_chunk_encoder(codecs, self.dtype, f"{root}/{path}")
            encoding = meta.chunk_key_encoding
            self._key = lambda index: encoding.encode_chunk_key(index)

    def check_aligned(self, block_shape: tuple[int, ...], offset: tuple[int, ...], grid: tuple[int, ...]) -> None:
        for o, n, c, size in zip(offset, block_shape, grid, self.shape):
            if o % c or not (o + n == size or (o + n) % c == 0) or o + n > size:
                raise ValueError(f"block {block_shape} at {offset} is not aligned to {grid}")

    def path(self, index: tuple[int, ...]) -> str:
        """File of the chunk (or, when sharded, the shard) at this grid index; its directory exists."""
        path = os.path.join(self.directory, *self._key(index).split("/"))
        directory = os.path.dirname(path)
        if directory not in self._made:
            os.makedirs(directory, exist_ok=True)
            self._made.add(directory)
        return path

    def encoded_chunks(self, block: np.ndarray, offset: tuple[int, ...]):
        """(chunk grid index, encoded bytes) of each chunk of a chunk-aligned block."""
        corners = itertools.product(*(range(o, o + n, c) for o, n, c in zip(offset, block.shape, self.chunks)))
        for corner in corners:
            part = block[tuple(slice(c - o, c - o + k) for c, o, k in zip(corner, offset, self.chunks))]
            if part.shape != self.chunks:  # an edge chunk: Zarr stores it padded to the full chunk shape
                full = np.full(self.chunks, self.fill_value, self.dtype)
                full[tuple(slice(0, n) for n in part.shape)] = part
                part = full
            data = np.ascontiguousarray(part, dtype=self.dtype)  # for c, y, x this is the transposing copy
            yield tuple(c // k for c, k in zip(corner, self.chunks)), self._encode(data)

    def write(self, block: np.ndarray, offset: tuple[int, ...]) -> None:
        """Write ``block`` placed at ``offset`` into one file per chunk (unsharded arrays only)."""
        if self.shard:
            raise ValueError("a sharded array is written one whole shard at a time: use ShardFile")
        self.check_aligned(block.shape, offset, self.chunks)
        for index, encoded in self.encoded_chunks(block, offset):
            with open(self.path(index), "wb") as f:
                f.write(encoded)


def _sharding_codecs(codecs, name: str):
    """The inner codecs of a sharded array, once checked that ``ShardFile`` writes its layout."""
    from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec
    from zarr.codecs.sharding import ShardingCodecIndexLocation

    (sharding,) = codecs if len(codecs) == 1 else (None,)
    if not isinstance(sharding, ShardingCodec):
        raise ValueError(f"{name}: only arrays whose only codec is sharding_indexed are written by shard")
    index = sharding.index_codecs
    if (
        sharding.index_location != ShardingCodecIndexLocation.end
        or len(index) != 2
        or not isinstance(index[0], BytesCodec)
        or not isinstance(index[1], Crc32cCodec)
    ):
        raise ValueError(f"{name}: only shard indexes at the end, in bytes + crc32c, are written directly")
    return sharding.codecs


class ShardFile:
    """One shard being written: encoded inner chunks appended as they come, the index last.

    Only the encoded chunks pass through memory, one block at a time; the index
    (``chunks per shard x 2`` little-endian uint64: offset and length, 2**64-1
    for a chunk outside the array) and its crc32c are appended by ``close``.
    """

    def __init__(self, writer: ArrayWriter, index: tuple[int, ...]) -> None:
        self.writer = writer
        self.origin = tuple(i * s for i, s in zip(index, writer.shard))
        per_shard = tuple(s // c for s, c in zip(writer.shard, writer.chunks))
        self.index = np.full((*per_shard, 2), _NO_CHUNK, dtype="<u8")
        self.file = open(writer.path(index), "wb")  # noqa: SIM115 -- closed by close()
        self.offset = 0

    def add(self, block: np.ndarray, offset: tuple[int, ...]) -> None:
        """Append the chunks of a chunk-aligned block inside this shard."""
        w = self.writer
        w.check_aligned(block.shape, offset, w.chunks)
        inner_origin = tuple(o // c for o, c in zip(self.origin, w.chunks))
        for index, encoded in w.encoded_chunks(block, offset):
            local = tuple(i - o for i, o in zip(index, inner_origin))
            self.file.write(encoded)
            self.index[local] = (self.offset, len(encoded))
            self.offset += len(encoded)

    def close(self) -> None:
        import google_crc32c

        index = self.index.tobytes()
        crc = np.uint32(google_crc32c.value(index)).astype("<u4").tobytes()
        self.file.write(index + crc)
        self.file.close()

    def abort(self) -> None:
        self.file.close()
