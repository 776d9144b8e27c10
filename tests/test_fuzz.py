"""Hostile TIFFs: mutated small pyramids read through the reader in subprocesses.

Every mutated file must end in correct pixels or ``cannot read <file>: <reason>``:
no crash, no hang, no allocation proportional to what the file claims.  Each
child process reads a batch of files under a memory limit (``RLIMIT_AS``) and a
per-file watchdog, and prints one JSON line per file, so a crash or a hang names
its file (the rest of the batch continues in a fresh child, and a crash is
confirmed by rerunning that file alone).

"Correct pixels": a level the reader returns must equal the same level of the
unmutated file (required outright for mutations that leave the pixels intact),
or else what tifffile itself decodes from the mutated file.

Run as a script to keep the files and see every verdict, or to fuzz longer:
``python tests/test_fuzz.py [DIR [FILES_PER_MUTATION [SEED]]]``.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED = 20240808
FILES_PER_MUTATION = 18
BATCH = 40
FILE_TIMEOUT_S = 30  # per file in the child; a healthy one takes milliseconds
MEMORY_HEADROOM = 1536 << 20  # bytes of address space a child may add after warming up
MAX_PEAK_GROWTH_MB = 100
MAX_LEVEL_PIXELS = 1 << 24  # the child reads no level bigger than this (the sources are far smaller)
DAMAGED_DATA = "damaged entropy data, decoders differ"
FAILURES = ("wrong pixels", "unclean error", "memory", "crash", "hang", "accepted implausible size")


# -- sources: small pyramids of each kind the reader routes differently --


def _gradient(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    y, x = np.mgrid[0:height, 0:width]
    planes = [(x * (c + 1) + y * (3 - c)) % 251 for c in range(3)]
    return (np.stack(planes, axis=-1) + rng.integers(0, 4, (height, width, 3))).astype(np.uint8)


def _write_pyramid(path: Path, levels: int = 3, **kwargs) -> Path:
    import tifffile

    image = _gradient(600, 808)
    with tifffile.TiffWriter(path, bigtiff=kwargs.pop("bigtiff", False)) as tw:
        for level in range(levels):
            tw.write(
                image[:: 2**level, :: 2**level],
                photometric="rgb",
                subfiletype=1 if level else 0,
                resolution=(2e4, 2e4),
                resolutionunit="CENTIMETER",
                metadata=None,
                **kwargs,
            )
    return path


def _split_tables(stream: bytes) -> tuple[bytes, bytes]:
    """A JPEG stream as (JPEGTables, abbreviated tile), the way Aperio stores its tiles."""
    pos, tables, rest = 2, [], [stream[:2]]
    while True:
        marker, length = stream[pos + 1], int.from_bytes(stream[pos + 2 : pos + 4], "big")
        (tables if marker in (0xDB, 0xC4) else rest).append(stream[pos : pos + 2 + length])
        pos += 2 + length
        if marker == 0xDA:
            break
    return b"\xff\xd8" + b"".join(tables) + b"\xff\xd9", b"".join(rest) + stream[pos:]


def _write_tables_pyramid(path: Path, rgb: bool) -> Path:
    """JPEG tiles sharing a JPEGTables tag; ``rgb``: RGB-coded tiles and photometric RGB, like Aperio."""
    import imagecodecs
    import tifffile

    image = _gradient(600, 808)
    with tifffile.TiffWriter(path) as tw:
        for level in range(3):
            img = image[:: 2**level, :: 2**level]
            h, w = img.shape[:2]
            tiles = []
            for y in range(0, h, 256):
                for x in range(0, w, 256):
                    tile = np.zeros((256, 256, 3), np.uint8)
                    part = img[y : y + 256, x : x + 256]
                    tile[: part.shape[0], : part.shape[1]] = part
                    colour = {"colorspace": "RGB", "outcolorspace": "RGB"} if rgb else {}
                    tables, data = _split_tables(imagecodecs.jpeg8_encode(tile, level=85, optimize=False, **colour))
                    tiles.append(data)
            tw.write(
                iter(tiles),
                shape=(h, w, 3),
                dtype=np.uint8,
                tile=(256, 256),
                compression="jpeg",
                photometric="ycbcr",
                subfiletype=1 if level else 0,
                metadata=None,
                extratags=[(347, 7, len(tables), tables, True)],
            )
    if rgb:  # tifffile writes YCbCr for JPEG: set what the tiles hold
        _patch_all(path, 262, 2)
    return path


def _patch_all(path: Path, code: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    layout = read_layout(path)
    for ifd in layout.ifds:
        set_tag(data, layout, ifd.tags[code], value)
    path.write_bytes(bytes(data))


def make_sources(directory: Path) -> dict[str, Path]:
    from napari_wsi_io.synthetic import write_synthetic_slide
    from napari_wsi_io.synthetic.ome import write_ome_tiff
    from napari_wsi_io.synthetic.qptiff import write_qptiff

    directory.mkdir(parents=True, exist_ok=True)
    small = {"shape": (640, 896), "min_level_side": 160}
    sources = {
        "svs": write_synthetic_slide(directory / "src-svs.svs", aperio=True, **small),
        "jpeg": write_synthetic_slide(directory / "src-jpeg.tif", **small),
        "tables": _write_tables_pyramid(directory / "src-tables.tif", rgb=False),
        "rgb-tables": _write_tables_pyramid(directory / "src-rgb-tables.tif", rgb=True),
        "lzw": _write_pyramid(directory / "src-lzw.tif", tile=(128, 128), compression="lzw"),
        "raw": _write_pyramid(directory / "src-raw.tif", tile=(128, 128)),
        "deflate": _write_pyramid(directory / "src-deflate.tif", tile=(64, 64), compression="zlib", predictor=True),
        "bigtiff": _write_pyramid(directory / "src-bigtiff.tif", tile=(256, 256), compression="jpeg", bigtiff=True),
        "j2k": _write_pyramid(directory / "src-j2k.tif", levels=2, tile=(256, 256), compression="jpeg2000"),
        # Slides that store channels: a page per channel (and level); OME's levels in SubIFDs.
        "ome": write_ome_tiff(
            directory / "src-ome.ome.tif", (300, 400), (("a", (0, 0, 255)), ("b", None), ("c", None)), tile=128
        ),
        "qptiff": write_qptiff(
            directory / "src-qptiff.qptiff", (300, 400), (("DAPI", (0, 0, 255)), ("CD8", None)), tile=128
        ),
    }
    _patch_all(sources["j2k"], 259, 33005)  # Aperio's JPEG 2000 code, which cuCIM reads
    return sources


def level_pages(tif) -> list:
    """The pyramid levels of a source: all its tiled pages and their SubIFDs (associated images are striped),
    in file order (a slide with channels: every channel's levels)."""
    return sorted((page for page in _pages_and_subifds(tif) if page.is_tiled), key=lambda page: page.offset)


def _pages_and_subifds(tif, most: int = 64) -> list:
    """The pages of the IFD chain (up to ``most``) and of their SubIFDs."""
    import tifffile

    pages = []
    for page in tif.pages:
        if page is None or len(pages) > most:
            break
        pages.append(page)
        for offset in page.subifds or ():
            tif.filehandle.seek(offset)
            pages.append(tifffile.TiffPage(tif, (page.index, len(pages))))
    return pages


# -- where things are in a TIFF --


@dataclass
class Tag:
    entry: int  # file position of the IFD entry
    dtype: int
    count: int
    value: int  # file position of the value (inside the entry when it fits)


@dataclass
class Ifd:
    offset: int
    next_pointer: int  # file position of the pointer to the next IFD
    size: int
    tags: dict[int, Tag]
    dataoffsets: list[int]
    databytecounts: list[int]
    compression: int
    tiled: bool


@dataclass
class Layout:
    byteorder: str
    bigtiff: bool
    ifds: list[Ifd]
    size: int

    @property
    def offset_format(self) -> str:
        return self.byteorder + ("Q" if self.bigtiff else "I")


def read_layout(path: Path) -> Layout:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        big = tif.is_bigtiff
        head, entry, pointer = (8, 20, 8) if big else (2, 12, 4)
        ifds = []
        for page in tif.pages:
            n = len(page.tags)
            tags = {t.code: Tag(t.offset, int(t.dtype), t.count, t.valueoffset) for t in page.tags}
            ifds.append(
                Ifd(
                    page.offset,
                    page.offset + head + n * entry,
                    head + n * entry + pointer,
                    tags,
                    list(page.dataoffsets),
                    list(page.databytecounts),
                    int(page.compression),
                    page.is_tiled,
                )
            )
        return Layout(tif.byteorder, big, ifds, path.stat().st_size)


_ITEM = {1: "B", 3: "H", 4: "I", 16: "Q"}


def put_value(data: bytearray, layout: Layout, tag: Tag, value: int, index: int = 0) -> None:
    fmt = layout.byteorder + _ITEM.get(tag.dtype, "I")
    size = struct.calcsize(fmt)
    struct.pack_into(fmt, data, tag.value + index * size, min(value, (1 << (8 * size)) - 1))


def set_tag(data: bytearray, layout: Layout, tag: Tag, value: int, dtype: int | None = None) -> None:
    """Make a tag a single inline value (retyped to LONG when the value needs it)."""
    o = layout.byteorder
    dtype = dtype or (tag.dtype if tag.dtype in (3, 4, 16) else 4)
    if dtype == 3 and value > 0xFFFF:
        dtype = 4
    count_fmt = "Q" if layout.bigtiff else "I"
    struct.pack_into(o + "H", data, tag.entry + 2, dtype)
    struct.pack_into(o + count_fmt, data, tag.entry + 4, 1)
    value_pos = tag.entry + (12 if layout.bigtiff else 8)
    struct.pack_into(o + ("Q" if layout.bigtiff else "I"), data, value_pos, 0)
    struct.pack_into(o + _ITEM[dtype], data, value_pos, value)


def set_count(data: bytearray, layout: Layout, tag: Tag, count: int) -> None:
    struct.pack_into(layout.byteorder + ("Q" if layout.bigtiff else "I"), data, tag.entry + 4, count)


# -- mutations: each changes ``data`` in place and returns (description, pixels stay intact) --


def flip_bits(data: bytearray, rng, start: int, stop: int, flips: int) -> list[int]:
    positions = [int(p) for p in rng.integers(start, max(start + 1, stop), flips)]
    for p in positions:
        data[p] ^= 1 << int(rng.integers(0, 8))
    return positions


def _level_ifd(layout: Layout, rng) -> Ifd:
    tiled = [ifd for ifd in layout.ifds if ifd.tiled]
    return tiled[int(rng.integers(len(tiled)))]


def mutate_header(data, layout, rng):
    end = 16 if layout.bigtiff else 8
    return f"header bits at {flip_bits(data, rng, 0, end, int(rng.integers(1, 3)))}", False


def mutate_ifd(data, layout, rng):
    ifd = layout.ifds[int(rng.integers(len(layout.ifds)))]
    where = flip_bits(data, rng, ifd.offset, ifd.offset + ifd.size, int(rng.integers(1, 4)))
    return f"IFD at {ifd.offset}: bits at {where}", False


def mutate_tag_arrays(data, layout, rng):
    ifd = _level_ifd(layout, rng)
    arrays = [t for t in ifd.tags.values() if t.value != t.entry + (12 if layout.bigtiff else 8)]
    tag = arrays[int(rng.integers(len(arrays)))]
    size = tag.count * {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 16: 8}.get(tag.dtype, 4)
    where = flip_bits(data, rng, tag.value, tag.value + size, int(rng.integers(1, 3)))
    return f"tag array at {tag.value}: bits at {where}", False


def mutate_tiles(data, layout, rng):
    ifd = _level_ifd(layout, rng)
    picks = rng.integers(0, len(ifd.dataoffsets), int(rng.integers(1, 4)))
    spots = []
    for i in picks:
        start, count = ifd.dataoffsets[i], ifd.databytecounts[i]
        # Half the time aim at the codec header, where a flip changes how the rest is read.
        stop = start + min(count, 640) if rng.random() < 0.5 else start + count
        spots += flip_bits(data, rng, start, stop, int(rng.integers(1, 9)))
    return f"tile bits at {spots}", False


def mutate_associated(data, layout, rng):
    """Damage an associated image (label, macro, thumbnail): the levels stay intact."""
    others = [ifd for ifd in layout.ifds if not ifd.tiled]
    if not others:
        return mutate_tiles(data, layout, rng)
    ifd = others[int(rng.integers(len(others)))]
    if rng.random() < 0.5:
        start, count = ifd.dataoffsets[0], sum(ifd.databytecounts)
        where = flip_bits(data, rng, start, start + count, int(rng.integers(1, 6)))
        return f"associated image data bits at {where}", True
    for code, value in ((256, 1_000_000), (257, 1_000_000)):
        if code in ifd.tags:
            set_tag(data, layout, ifd.tags[code], value)
    return f"associated image at {ifd.offset} claims 10^6 x 10^6", True


def mutate_offsets_past_eof(data, layout, rng):
    ifd = _level_ifd(layout, rng)
    offsets, counts = ifd.tags[324 if ifd.tiled else 273], ifd.tags[325 if ifd.tiled else 279]
    i = int(rng.integers(len(ifd.dataoffsets)))
    kind = int(rng.integers(5))
    if kind == 0:
        put_value(data, layout, offsets, layout.size + int(rng.integers(0, 1 << 20)), i)
    elif kind == 1:
        put_value(data, layout, offsets, layout.size - int(rng.integers(1, 64)), i)
    elif kind == 2:
        put_value(data, layout, counts, 0x7FFFFFFF, i)
    elif kind == 3:
        struct.pack_into(layout.offset_format, data, ifd.next_pointer, layout.size + 1000)
    else:  # the tile offset array itself lies past the end
        struct.pack_into(layout.offset_format, data, offsets.entry + (12 if layout.bigtiff else 8), layout.size + 8)
    return f"offset past end of file (kind {kind}, tile {i}, IFD {ifd.offset})", False


def mutate_tile_size(data, layout, rng):
    ifd = _level_ifd(layout, rng)
    value = int(rng.choice([0, 1, 8, 15, 17, 240, 272, 4096, 65535, 1 << 20, 0xFFFFFFFF]))
    code = int(rng.choice([322, 323]))
    set_tag(data, layout, ifd.tags[code], value)
    if rng.random() < 0.3:
        set_tag(data, layout, ifd.tags[322 + (code == 322)], value)
    return f"tile size tag {code} = {value} (IFD {ifd.offset})", False


def mutate_dimensions(data, layout, rng):
    ifd = _level_ifd(layout, rng)
    kind = int(rng.integers(4))
    for code in (256, 257) if kind < 2 else ((256,) if kind == 2 else (257,)):
        set_tag(data, layout, ifd.tags[code], 1_000_000)
    if kind == 1:  # and tile counts to match: the offset arrays now run over other data
        tiles = -(-1_000_000 // int(data_value(data, layout, ifd.tags[322]))) * -(
            -1_000_000 // int(data_value(data, layout, ifd.tags[323]))
        )
        set_count(data, layout, ifd.tags[324], tiles)
        set_count(data, layout, ifd.tags[325], tiles)
    return f"claims 10^6 (kind {kind}) at IFD {ifd.offset}", False


def data_value(data: bytearray, layout: Layout, tag: Tag) -> int:
    return struct.unpack_from(layout.byteorder + _ITEM.get(tag.dtype, "I"), data, tag.value)[0]


def mutate_tile_count(data, layout, rng):
    ifd = _level_ifd(layout, rng)
    n = len(ifd.dataoffsets)
    count = int(rng.choice([0, 1, n - 1, n + 1, 2 * n, 1 << 30]))
    for code in (324, 325) if rng.random() < 0.5 else (int(rng.choice([324, 325])),):
        set_count(data, layout, ifd.tags[code], count)
    return f"tile count {count} instead of {n} (IFD {ifd.offset})", False


def mutate_loop(data, layout, rng):
    k = int(rng.integers(len(layout.ifds)))
    j = int(rng.integers(k + 1))
    struct.pack_into(layout.offset_format, data, layout.ifds[k].next_pointer, layout.ifds[j].offset)
    # A loop after the last level leaves every level intact.
    last_level = max(i for i, ifd in enumerate(layout.ifds) if ifd.tiled)
    return f"IFD {k} links back to IFD {j}", k >= last_level


def mutate_truncate(data, layout, rng, least: int = 8):
    cut = int(rng.integers(least, len(data)))
    del data[cut:]
    return f"truncated to {cut} bytes", False


def mutate_semantics(data, layout, rng):
    """Valid-looking but changed meaning: compression, colour, bits, predictor, planes."""
    ifd = _level_ifd(layout, rng)
    code, value = [
        (259, 1),
        (259, 5),
        (259, 7),
        (259, 8),
        (259, 33003),
        (259, 34712),
        (262, 1),
        (262, 3),
        (262, 6),
        (262, 5),
        (277, 1),
        (277, 4),
        (284, 2),
        (317, 2),
        (317, 3),
        (339, 3),
    ][int(rng.integers(16))]
    if code in ifd.tags:
        set_tag(data, layout, ifd.tags[code], value)
    else:  # retarget an unimportant tag (ResolutionUnit) to the missing code
        tag = ifd.tags[296]
        struct.pack_into(layout.byteorder + "H", data, tag.entry, code)
        set_tag(data, layout, tag, value, dtype=3)
    return f"tag {code} = {value} (IFD {ifd.offset})", False


def mutate_bits_per_sample(data, layout, rng):
    ifd = _level_ifd(layout, rng)
    tag = ifd.tags[258]
    value = int(rng.choice([1, 4, 12, 16, 32, 0]))
    for i in range(tag.count):
        put_value(data, layout, tag, value, i)
    return f"BitsPerSample {value} (IFD {ifd.offset})", False


def mutate_tag_types(data, layout, rng):
    ifd = layout.ifds[int(rng.integers(len(layout.ifds)))]
    tag = list(ifd.tags.values())[int(rng.integers(len(ifd.tags)))]
    if rng.random() < 0.5:
        struct.pack_into(layout.byteorder + "H", data, tag.entry + 2, int(rng.integers(0, 20)))
        what = "type"
    else:
        set_count(data, layout, tag, int(rng.choice([0, 2, 0xFFFF, 0x3FFFFFFF, 0xFFFFFFFF])))
        what = "count"
    return f"tag {tag.entry} {what} changed (IFD {ifd.offset})", False


MUTATIONS = {
    "header": mutate_header,
    "ifd": mutate_ifd,
    "tag arrays": mutate_tag_arrays,
    "tiles": mutate_tiles,
    "associated": mutate_associated,
    "offsets past eof": mutate_offsets_past_eof,
    "tile size": mutate_tile_size,
    "dimensions 10^6": mutate_dimensions,
    "tile count": mutate_tile_count,
    "ifd loop": mutate_loop,
    "truncated": mutate_truncate,
    "semantics": mutate_semantics,
    "bits per sample": mutate_bits_per_sample,
    "tag types": mutate_tag_types,
}


def make_fuzz_files(directory: Path, per_mutation: int = FILES_PER_MUTATION, seed: int = SEED) -> list[dict]:
    """Write the mutated files and the reference levels of their sources; return one job per file."""
    import tifffile

    sources = make_sources(directory / "sources")
    originals = {}
    for name, path in sources.items():
        with tifffile.TiffFile(path) as tif:
            arrays = [rgb_reference(page, tif.filehandle) for page in level_pages(tif)]
        ref = directory / "sources" / f"{name}.npz"
        np.savez(ref, *arrays)
        originals[name] = (path.read_bytes(), read_layout(path), ref)
    return mutate_sources(directory, sources, originals, MUTATIONS, per_mutation, seed)


def mutate_sources(
    directory: Path, sources: dict[str, Path], originals: dict, mutations: dict, per_mutation: int, seed: int
) -> list[dict]:
    """``per_mutation`` files per mutation, each from a source drawn at random; one job per file.

    ``originals``: each source's (bytes, layout the mutations read, reference levels' .npz).
    """
    rng = np.random.default_rng(seed)
    names = sorted(sources)
    jobs = []
    for kind, mutate in mutations.items():
        for i in range(per_mutation):
            source = names[int(rng.integers(len(names)))]
            original, layout, ref = originals[source]
            path = directory / f"{kind.replace(' ', '-').replace('^', '')}-{i:02d}-{source}{sources[source].suffix}"
            jobs.append(write_mutant(path, kind, mutate, original, layout, rng, sources[source], ref))
    return jobs


def write_mutant(path: Path, kind: str, mutate, original: bytes, layout, rng, source: Path, ref: Path) -> dict:
    """Write ``mutate``'s copy of ``original`` to ``path``; the job that reads and judges it."""
    data = bytearray(original)
    what, intact = mutate(data, layout, rng)
    path.write_bytes(bytes(data))
    return {"path": str(path), "kind": kind, "source": str(source), "what": what, "intact": intact, "ref": str(ref)}


# -- the child: read each file through the reader, judge the pixels --


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _reference_levels(path: str, offsets: list[int]) -> list:
    """tifffile's own decode of the pages the reader took as levels (None where it cannot)."""
    import tifffile

    refs = []
    with tifffile.TiffFile(path) as tif:
        pages = {}
        try:
            pages = {page.offset: page for page in _pages_and_subifds(tif)}
        except Exception:  # a damaged SubIFD: the pages read so far
            for page in tif.pages:
                if page is None or len(pages) > 64:
                    break
                pages[page.offset] = page
        for offset in offsets:
            try:
                refs.append(rgb_reference(pages[offset], tif.filehandle))
            except Exception as exc:  # tifffile refuses: the reader should not have returned pixels
                refs.append(f"{type(exc).__name__}: {exc}")
    return refs


def _ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Aperio 33003 tiles are full-range YCbCr JPEG 2000 (OpenSlide converts them so)."""
    y, cb, cr = (ycc[..., i].astype(float) for i in range(3))
    rgb = [y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), y + 1.772 * (cb - 128)]
    return np.clip(np.round(np.stack(rgb, axis=-1)), 0, 255).astype(np.uint8)


def _half_chroma(codestream: bytes) -> bool:
    """Aperio's 4:2:2 codestream (SIZ: 3 components, Cb at dx=2), which imagecodecs converts to RGB itself."""
    return codestream[:4] == b"\xff\x4f\xff\x51" and codestream[40:42] == b"\x00\x03" and codestream[46:47] == b"\x02"


def rgb_reference(page, filehandle) -> np.ndarray:
    """tifffile's decode of a page, with the Aperio 33003 tiles imagecodecs left in YCbCr converted to RGB."""
    decoded = page.asarray()
    if int(page.compression) != 33003 or page.samplesperpixel != 3 or not page.is_tiled:
        return decoded
    decoded = decoded.copy()
    th, tw = page.tilelength, page.tilewidth
    cols = -(-page.imagewidth // tw)
    for i, (offset, count) in enumerate(zip(page.dataoffsets, page.databytecounts)):
        filehandle.seek(offset)
        if not _half_chroma(filehandle.read(min(count, 64))):
            ty, tx = divmod(i, cols)
            tile = decoded[ty * th : (ty + 1) * th, tx * tw : (tx + 1) * tw]
            tile[...] = _ycbcr_to_rgb(tile)
    return decoded


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b).max()) if a.size else 0


def error_verdict(exc: Exception, path: str) -> dict:
    """The verdict on a read that raised: only ``cannot read <path>: <reason>`` is a clean error."""
    from napari_wsi_io import SlideReadError

    if isinstance(exc, SlideReadError):
        if str(exc).startswith(f"cannot read {path}: ") and exc.reason:
            return {"verdict": "clean error", "detail": exc.reason}
        return {"verdict": "unclean error", "detail": f"badly formed message: {exc}"}
    if isinstance(exc, MemoryError):
        return {"verdict": "memory", "detail": f"MemoryError {exc}"}
    return {"verdict": "unclean error", "detail": f"{type(exc).__name__}: {exc}"}


def judge(job: dict) -> dict:
    import warnings

    if job["path"].endswith(".czi"):  # tests/test_fuzz_czi.py's files, judged by its rules
        from test_fuzz_czi import judge_czi

        return judge_czi(job)

    from napari_wsi_io import open_slide
    from napari_wsi_io._reader import associated_layers, read_slide

    path = job["path"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layers = read_slide(path) + associated_layers(path)  # metadata, associated images, lazy levels
        del layers
        with open_slide(path) as slide:
            backend = slide.backend
            levels, offsets, ycbcr_levels = [], [], []
            # A slide with channels: every plane's levels, in file order (as ``level_pages``).
            planes = list(slide.channels.planes) if slide.channels else [None]
            for key in planes:
                plane = slide if key is None else slide.plane(key)
                pages = slide.layout.level_pages if key is None else [p.page for p in slide.channels.planes[key]]
                for level in range(plane.level_count):
                    w, h = plane.level_dimensions[level]
                    if w * h > MAX_LEVEL_PIXELS:
                        return {"verdict": "accepted implausible size", "detail": f"level {level} is {w}x{h}"}
                    levels.append(plane.read_level(level, 0, 0, w, h))
                    offsets.append(pages[level].offset)
                    tiles = plane.tiles[level]
                    ycbcr_levels.append(tiles.compression == 33003 and tiles.samples == 3)
            order = np.argsort(offsets, kind="stable")
            levels, offsets = [levels[i] for i in order], [offsets[i] for i in order]
            ycbcr_levels = [ycbcr_levels[i] for i in order]
    except Exception as exc:
        return error_verdict(exc, path)
    originals = list(np.load(job["ref"]).values())
    # YCbCr (Aperio 33003) levels: decoders' conversions round differently, by 1.
    intact = all(
        level < len(originals)
        and a.shape == originals[level].shape
        and (np.array_equal(a, originals[level]) or (ycbcr and _max_diff(a, originals[level]) <= 1))
        for level, (a, ycbcr) in enumerate(zip(levels, ycbcr_levels))
    )
    if intact:
        return {"verdict": "ok (intact)", "backend": backend}
    if job["intact"]:
        return {"verdict": "wrong pixels", "backend": backend, "detail": "pixels differ from the unmutated file"}
    for level, ((got, ref), ycbcr) in enumerate(zip(zip(levels, _reference_levels(path, offsets)), ycbcr_levels)):
        if isinstance(ref, str):
            return {"verdict": "wrong pixels", "backend": backend, "detail": f"level {level}: tifffile: {ref}"}
        ref = ref.reshape(got.shape) if ref.size == got.size else ref
        if ycbcr and ref.shape == got.shape and _max_diff(got, ref) <= 1:
            continue
        if ref.shape != got.shape or not np.array_equal(got, ref):
            diff = "shape" if ref.shape != got.shape else f"{np.count_nonzero(got != ref)} values"
            return {
                "verdict": "wrong pixels",
                "backend": backend,
                "detail": f"level {level} differs from tifffile ({diff})",
            }
    return {"verdict": "ok (as tifffile decodes)", "backend": backend}


def child(job_file: str) -> None:
    import ctypes
    import faulthandler
    import resource

    libc = ctypes.CDLL(None)

    jobs = json.loads(Path(job_file).read_text())
    # Warm up on an unmutated source (imports, cuCIM and codec threads), then cap the address space.
    judge({"path": jobs[0]["source"], "ref": jobs[0]["ref"], "intact": True})
    limit = _vm_size() + MEMORY_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for i, job in enumerate(jobs):
        print("\n" + json.dumps({"start": i}), flush=True)
        faulthandler.dump_traceback_later(FILE_TIMEOUT_S, exit=True)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = judge(job)
        faulthandler.cancel_dump_traceback_later()
        libc.fflush(None)  # cuCIM's messages about this file come before its verdict
        result["peak_rss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024
        print("\n" + json.dumps({"done": i, **result}), flush=True)


# -- the parent: batches, crash and hang attribution, counts --


def _run_batch(jobs: list[dict], workdir: Path) -> tuple[dict[int, dict], int | None, str]:
    """Results by index, the index the child died on (None when it finished), and why."""
    job_file = workdir / f"batch-{time.monotonic_ns()}.json"
    job_file.write_text(json.dumps(jobs))
    env = dict(os.environ, PYTHONFAULTHANDLER="0")
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(job_file)],
            capture_output=True,
            text=True,
            timeout=60 + FILE_TIMEOUT_S * len(jobs),
            env=env,
        )
        stdout, rc, stderr = proc.stdout, proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:
        stdout, rc, stderr = (exc.stdout or b"").decode(errors="replace"), None, "batch timeout"
    results, current, messages = {}, None, []
    for line in stdout.splitlines():
        if not line.startswith('{"'):
            messages.append(line)  # cuCIM prints libjpeg's complaints to stdout
            continue
        record = json.loads(line)
        if "start" in record:
            current, messages = record["start"], []
        else:
            results[record.pop("done")] = record
            record["decoder_messages"] = [m for m in messages if m.strip()]
    if rc == 0 and len(results) == len(jobs):
        return results, None, ""
    if current is None or current in results:
        raise RuntimeError(f"fuzz child failed before its first file (rc {rc}):\n{stderr[-3000:]}")
    if rc is None or "Timeout" in stderr:
        why = "hang"
    elif rc < 0 or rc in (134, 139):
        why = "crash"
    else:
        why = "crash" if "Fatal Python error" in stderr else "unclean exit"
    return results, current, f"{why} (rc {rc}): {stderr.strip().splitlines()[-1:] if stderr.strip() else ''}"


def run_fuzz(jobs: list[dict], workdir: Path, batch: int = BATCH) -> list[dict]:
    """Verdict of every job, in order."""
    verdicts: dict[int, dict] = {}
    pending = list(range(len(jobs)))
    while pending:
        chunk = pending[:batch]
        results, died_on, why = _run_batch([jobs[i] for i in chunk], workdir)
        for k, result in results.items():
            verdicts[chunk[k]] = result
        if died_on is None:
            pending = pending[len(chunk) :]
            continue
        culprit = chunk[died_on]
        if len(chunk) > 1 and why.startswith("crash"):  # confirm alone: a crash may come late from earlier damage
            alone, alone_died, alone_why = _run_batch([jobs[culprit]], workdir)
            if alone_died is None:
                verdicts[culprit] = dict(alone[0])
                verdicts[culprit]["note"] = f"crashed only in a batch: {why}"
                if "verdict" in verdicts[culprit] and verdicts[culprit]["verdict"].startswith("ok"):
                    verdicts[culprit]["verdict"] = "crash"
            else:
                verdicts[culprit] = {"verdict": alone_why.split(" ")[0], "detail": alone_why}
        else:
            verdict = why.split(" ")[0]
            verdicts[culprit] = {"verdict": verdict if verdict in FAILURES else "crash", "detail": why}
        pending = [i for i in pending if i not in verdicts]
    results = [dict(jobs[i], **verdicts[i]) for i in range(len(jobs))]
    for r in results:
        # libjpeg decodes entropy data that a damaged (but well-formed) Huffman table garbles
        # with only a warning; which garbage comes out then differs between libjpeg-turbo
        # builds (cuCIM's and imagecodecs'), and only a full decode could tell.
        if (
            r["verdict"] == "wrong pixels"
            and "differs from tifffile" in r.get("detail", "")
            and any("Corrupt JPEG data" in m for m in r.get("decoder_messages", []))
        ):
            r["verdict"] = DAMAGED_DATA
    return results


def summarize(results: list[dict], files: str = "TIFFs") -> str:
    counts = Counter(r["verdict"] for r in results)
    lines = [f"fuzzed {len(results)} mutated {files}:"]
    groups = {
        "ok (correct pixels)": counts["ok (intact)"] + counts["ok (as tifffile decodes)"],
        "clean error": counts["clean error"],
        DAMAGED_DATA: counts[DAMAGED_DATA],
        "crash": counts["crash"],
        "hang": counts["hang"],
        "other failure": sum(counts[v] for v in FAILURES if v not in ("crash", "hang")),
    }
    lines.append("  " + " / ".join(f"{k}: {v}" for k, v in groups.items()))
    lines.append("  " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    backends = Counter(r.get("backend") for r in results if r["verdict"].startswith("ok"))
    lines.append("  correct pixels by backend: " + ", ".join(f"{k}: {v}" for k, v in sorted(backends.items())))
    by_kind: dict[str, Counter] = {}
    for r in results:
        by_kind.setdefault(r["kind"], Counter())[r["verdict"].split(" ")[0]] += 1
    for kind, c in by_kind.items():
        lines.append(f"  {kind:>18}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    peak = max(r.get("peak_rss_growth_mb", 0) for r in results)
    lines.append(f"  largest peak-memory growth while reading one file: {peak} MB")
    for r in results:
        if r["verdict"] in FAILURES or r["verdict"] == DAMAGED_DATA:
            tag = "FAIL " if r["verdict"] in FAILURES else "note: "
            lines.append(f"  {tag}{r['verdict']}: {Path(r['path']).name} [{r['what']}]: {r.get('detail', '')}")
    return "\n".join(lines)


def check_results(results: list[dict], capsys, files: str = "TIFFs") -> tuple[Counter, str]:
    """Print the counts, fail on any failure or a large memory peak; the verdicts counted, and the report."""
    report = summarize(results, files)
    with capsys.disabled():  # the counts belong in every test log, not only a failing one
        print("\n" + report)
    failures = [r for r in results if r["verdict"] in FAILURES]
    assert not failures, report
    # The sources' levels are a few MB: reading one file must not raise the peak by much more.
    assert all(r.get("peak_rss_growth_mb", 0) < MAX_PEAK_GROWTH_MB for r in results), report
    return Counter(r["verdict"] for r in results), report


def test_fuzzed_tiffs_give_correct_pixels_or_a_clean_error(tmp_path, capsys):
    jobs = make_fuzz_files(tmp_path)
    assert len(jobs) >= 200
    verdicts, _ = check_results(run_fuzz(jobs, tmp_path), capsys)
    # The fuzzer must exercise both outcomes, or it tests nothing.
    assert verdicts["clean error"] >= 50 and verdicts["ok (intact)"] + verdicts["ok (as tifffile decodes)"] >= 20


def script(argv: list[str], make_files, out: str, per_mutation: int, seed: int, files: str = "TIFFs") -> None:
    """As a script, ``[DIR [FILES_PER_MUTATION [SEED]]]``: the files are kept, every verdict saved as JSON."""
    directory = Path(argv[0] if argv else out).resolve()
    per, seed = (int(a) for a in (argv[1:3] + [per_mutation, seed][len(argv[1:3]) :]))
    start = time.perf_counter()
    results = run_fuzz(make_files(directory, per, seed), directory)
    print(summarize(results, files))
    (directory / "results.json").write_text(json.dumps(results, indent=1))
    print(f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
    else:
        script(sys.argv[1:], make_fuzz_files, "fuzz-out", FILES_PER_MUTATION, SEED)
