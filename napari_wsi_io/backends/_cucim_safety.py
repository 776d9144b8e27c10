"""Why cuCIM must not read a TIFF, judged from the layout alone (no pixels, cuCIM not needed).

``TiffLayout`` asks once; ``open_slide`` sends the file to cuCIM only when the answer is None.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._tiff_level import TiffLevel
from ._tiff_page import enum_name

__all__ = ["find_cucim_problem"]

# Compressions cuCIM 26.10 decodes correctly and safely (checked per kind in the tests
# and in tests/test_fuzz.py).  Deflate is left out: it logs libtiff errors, crashes with
# a predictor, and is reported to segfault on small tiles.  LZW is left out: cuCIM
# decodes a corrupt LZW tile to wrong pixels without an error, and only decoding
# it can tell.
_CUCIM_COMPRESSIONS = {1: "none", 7: "JPEG", 33003: "Aperio JPEG 2000", 33005: "Aperio JPEG 2000"}
# The types libtiff (inside cuCIM) accepts for the tags the pixels depend on; it
# ignores a tag of another type where tifffile reads it, and then the two disagree.
_TAG_TYPES = {
    256: {3, 4},  # ImageWidth
    257: {3, 4},  # ImageLength
    258: {3},  # BitsPerSample
    259: {3},  # Compression
    262: {3},  # PhotometricInterpretation
    277: {3},  # SamplesPerPixel
    284: {3},  # PlanarConfiguration
    317: {3},  # Predictor
    322: {3, 4},  # TileWidth
    323: {3, 4},  # TileLength
    324: {3, 4, 16},  # TileOffsets
    325: {3, 4, 16},  # TileByteCounts
    338: {3},  # ExtraSamples
    339: {3},  # SampleFormat
    347: {7},  # JPEGTables
    530: {3},  # YCbCrSubSampling
}
_CUCIM_VENDORS = {"aperio", "generic-tiff", "philips"}


def find_cucim_problem(
    vendor: str, uses_subifds: bool, full_resolution_ifds: int, level_pages: Sequence, levels: Sequence[TiffLevel]
) -> str | None:
    """Why cuCIM must not read the file, or None when it can do so safely and correctly."""
    if uses_subifds:
        return "pyramid levels are stored in SubIFDs, which cuCIM does not read"
    if vendor == "hamamatsu":  # checked with cuCIM 26.10: "Cannot find a plugin" (as .tif: refused too)
        return "cuCIM has no NDPI reader (its levels are JPEG strips read here by restart interval)"
    if vendor not in _CUCIM_VENDORS:
        return f"{vendor} files are not handled by cuCIM"
    if vendor != "aperio" and full_resolution_ifds > 1:
        return f"{full_resolution_ifds} IFDs have SubfileType 0 (cuCIM opens only one full-resolution image)"
    for page, level in zip(level_pages, levels):
        if problem := _level_problem(page, level):
            return problem
    return None


def _level_problem(page, level: TiffLevel) -> str | None:
    if not level.tiled:
        return "striped, not tiled (cuCIM's slow path returns RGBA)"
    if level.bits != 8 or level.dtype != np.uint8:
        return f"{level.bits} bits per sample (cuCIM reads 8)"
    if level.samples != 3:
        return "not 3-sample RGB/YCbCr"
    if level.compression not in _CUCIM_COMPRESSIONS:
        return f"{enum_name(page.compression)} compression is not safe in cuCIM"
    if int(page.predictor) != 1:
        return "a TIFF predictor (crashes cuCIM)"
    odd = [tag.name for tag in page.tags if tag.code in _TAG_TYPES and int(tag.dtype) not in _TAG_TYPES[tag.code]]
    if odd:
        return f"tag {odd[0]} has an unusual type (cuCIM's libtiff would ignore it)"
    # The TIFF standard asks for multiples of 16; cuCIM's tile cache assumes them.
    if level.tile_width % 16 or level.tile_height % 16:
        return f"tile size {level.tile_width}x{level.tile_height} is not a multiple of 16"
    return None
