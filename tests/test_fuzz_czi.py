"""Hostile CZIs: mutated small Zeiss files read through the reader in subprocesses (``test_fuzz``'s harness).

Every mutated file must end in pixels or ``cannot read <file>: <reason>``: no crash, no hang, no allocation
proportional to what the file claims.  Where a mutation leaves the pixels intact (the metadata's text, an
unused byte), the pixels must equal the unmutated file's.  libCZI is the only decoder of a CZI, so damaged
pixel data that still decodes is judged as libCZI decodes it.

Run as a script to keep the files: ``python tests/test_fuzz_czi.py [DIR [FILES_PER_MUTATION [SEED]]]``.
"""

from __future__ import annotations

import struct
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from test_fuzz import (
    MAX_LEVEL_PIXELS,
    check_results,
    error_verdict,
    flip_bits,
    mutate_sources,
    mutate_truncate,
    run_fuzz,
    script,
)

SEED = 20261206
FILES_PER_MUTATION = 12
_ENTRY, _DIM = struct.Struct("<2siqiiBB4si"), struct.Struct("<4siifi")


def make_sources(directory: Path) -> dict[str, Path]:
    from napari_wsi_io.synthetic.czi import write_czi_brightfield, write_czi_fluorescence
    from napari_wsi_io.synthetic.czi_jpegxr import with_jpegxr_subblocks

    directory.mkdir(parents=True, exist_ok=True)
    zstd = "zstd1:ExplicitLevel=1;PreProcess=HiLoByteUnpack"
    sources = {
        "bgr24": write_czi_brightfield(
            directory / "src-bgr24.czi", 700, 500, tile=256, origin=(-300, 40), pyramid=True
        ),
        "fluo": write_czi_fluorescence(
            directory / "src-fluo.czi", 600, 400, channels=["DAPI", "CD8"], z_count=2, tile=256, pyramid=True
        ),
        "fluo-zstd": write_czi_fluorescence(directory / "src-fluo-zstd.czi", 500, 300, tile=256, compression=zstd),
    }
    for kind in ("bgr24", "fluo"):  # libCZI's JPEG XR decoder meets the damaged subblocks too
        sources[f"{kind}-jxr"] = with_jpegxr_subblocks(sources[kind], directory / f"src-{kind}-jxr.czi")
    return sources


# -- where things are in a CZI --


def _layout(data: bytes) -> dict:
    """The directory's position and size, the subblocks' positions, the metadata segment."""
    (directory,) = struct.unpack_from("<q", data, 32 + 52)
    (metadata,) = struct.unpack_from("<q", data, 32 + 60)
    (used,) = struct.unpack_from("<q", data, directory + 24)
    (count,) = struct.unpack_from("<i", data, directory + 32)
    entries, offset = [], directory + 32 + 128
    for _ in range(count):
        position, ndim = struct.unpack_from("<q", data, offset + 6)[0], _ENTRY.unpack_from(data, offset)[-1]
        entries.append((offset, position, ndim))
        offset += _ENTRY.size + ndim * _DIM.size
    return {"directory": (directory, used), "metadata": metadata, "entries": entries}


def mutate_header(data, layout, rng):
    return f"file header bits at {flip_bits(data, rng, 0, 100, int(rng.integers(1, 3)))}", False


def mutate_directory(data, layout, rng):
    start, used = layout["directory"]
    return f"directory bits at {flip_bits(data, rng, start, start + 32 + used, int(rng.integers(1, 4)))}", False


def mutate_entry_fields(data, layout, rng):
    offset, _, ndim = layout["entries"][int(rng.integers(len(layout["entries"])))]
    field = int(rng.integers(6))
    value = int(rng.choice([0, -1, 1, 7, 1 << 20, (1 << 31) - 1, -(1 << 31)]))
    if field == 0:  # pixel type
        struct.pack_into("<i", data, offset + 2, value)
    elif field == 1:  # file position
        struct.pack_into("<q", data, offset + 6, value * 977)
    elif field == 2:  # dimension count
        struct.pack_into("<i", data, offset + 28, value)
    else:  # a dimension's start, size or stored size
        dim = offset + _ENTRY.size + int(rng.integers(ndim)) * _DIM.size
        struct.pack_into("<i", data, dim + (4, 8, 16)[field - 3], value)
    return f"directory entry at {offset}: field {field} = {value}", False


def mutate_subblock_header(data, layout, rng):
    _, position, _ = layout["entries"][int(rng.integers(len(layout["entries"])))]
    return f"subblock header bits at {flip_bits(data, rng, position, position + 300, int(rng.integers(1, 4)))}", False


def mutate_subblock_data(data, layout, rng):
    _, position, ndim = layout["entries"][int(rng.integers(len(layout["entries"])))]
    meta, _, size = struct.unpack_from("<iiq", data, position + 32)
    start = position + 32 + max(256, 16 + _ENTRY.size + ndim * _DIM.size) + meta
    return f"subblock data bits at {flip_bits(data, rng, start, start + min(size, 4096), 4)}", False


def mutate_metadata(data, layout, rng):
    start = layout["metadata"]
    return f"metadata XML bits at {flip_bits(data, rng, start + 288, start + 1500, int(rng.integers(1, 6)))}", True


MUTATIONS = {
    "header": mutate_header,
    "directory": mutate_directory,
    "entry fields": mutate_entry_fields,
    "subblock header": mutate_subblock_header,
    "subblock data": mutate_subblock_data,
    "metadata": mutate_metadata,
    "truncated": partial(mutate_truncate, least=16),
}


def read_planes(path: str) -> tuple[list[np.ndarray], str]:
    """Every plane's levels as the reader reads them, and the backend."""
    from napari_wsi_io import open_slide

    with open_slide(path) as slide:
        keys = list(slide.layout.plane_levels) if slide.channels else [None]
        levels = []
        for key in keys:
            plane = slide if key is None else slide.plane(key)
            for level in range(plane.level_count):
                w, h = plane.level_dimensions[level]
                if w * h > MAX_LEVEL_PIXELS:
                    raise OverflowError(f"level {level} is {w}x{h}")
                levels.append(plane.read_level(level, 0, 0, w, h))
        return levels, slide.backend


def judge_czi(job: dict) -> dict:
    """The child's verdict on one CZI (called by ``test_fuzz.judge`` for .czi files)."""
    import warnings

    from napari_wsi_io._reader import read_slide

    path = job["path"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            del read_slide(path)[:]  # metadata, contrast from the coarsest level, lazy levels
        levels, backend = read_planes(path)
    except OverflowError as exc:
        return {"verdict": "accepted implausible size", "detail": str(exc)}
    except Exception as exc:
        return error_verdict(exc, path)
    originals = list(np.load(job["ref"]).values())
    same = len(levels) == len(originals) and all(np.array_equal(a, b) for a, b in zip(levels, originals))
    if same:
        return {"verdict": "ok (intact)", "backend": backend}
    if job["intact"]:
        return {"verdict": "wrong pixels", "backend": backend, "detail": "pixels differ from the unmutated file"}
    return {"verdict": "ok (as libCZI decodes)", "backend": backend}


def make_fuzz_files(directory: Path, per_mutation: int = FILES_PER_MUTATION, seed: int = SEED) -> list[dict]:
    sources = make_sources(directory / "sources")
    originals = {}
    for name, path in sources.items():
        ref = directory / "sources" / f"{name}.npz"
        np.savez(ref, *read_planes(str(path))[0])
        data = path.read_bytes()
        originals[name] = (data, _layout(data), ref)
    return mutate_sources(directory, sources, originals, MUTATIONS, per_mutation, seed)


def test_fuzzed_czis_give_pixels_or_a_clean_error(tmp_path, capsys):
    pytest.importorskip("pylibCZIrw")
    jobs = make_fuzz_files(tmp_path)
    verdicts, report = check_results(run_fuzz(jobs, tmp_path), capsys, "CZIs")
    assert verdicts["clean error"] >= 20 and verdicts["ok (intact)"] >= 5, report


if __name__ == "__main__":
    script(sys.argv[1:], make_fuzz_files, "fuzz-czi-out", FILES_PER_MUTATION, SEED, "CZIs")
