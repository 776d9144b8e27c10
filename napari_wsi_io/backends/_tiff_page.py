"""A TIFF page about to be described as a level: where its problems are reported, and its pixel format.

The level validators (``_tiff_level``, ``_tile_index``, ``_ndpi``) take a ``LevelSource``
and raise through ``LevelSource.fail``, so every refusal names the file and the level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from .._errors import SlideReadError

__all__ = [
    "APERIO_J2K_YCBCR",
    "JPEG",
    "JPEG2000",
    "LevelSource",
    "PixelFormat",
    "enum_name",
    "level_label",
    "pixel_format",
]

# TIFF Compression values the readers treat specially.
JPEG = 7
JPEG2000 = frozenset({33003, 33004, 33005, 34712})
APERIO_J2K_YCBCR = 33003  # Aperio's JPEG 2000 with YCbCr components


def enum_name(value) -> str:
    """A tifffile enum's name ("JPEG"), or the number when tifffile knows no name for it."""
    return getattr(value, "name", str(value))


def level_label(level: int | str) -> str:
    """How messages name a level (its number) or an associated image (its name)."""
    return f"level {level}" if isinstance(level, int) else f"associated image {level!r}"


@dataclass(frozen=True)
class LevelSource:
    """The page a level is described from, and how to refuse it."""

    path: str
    level: int | str
    page: Any  # a tifffile TiffPage
    file_size: int
    #: The slide's bytes (``_source.ByteSource``), for the layouts that read more than the IFDs (NDPI).
    source: Any = None

    @property
    def label(self) -> str:
        return level_label(self.level)

    def fail(self, reason: str) -> NoReturn:
        raise SlideReadError(self.path, f"{self.label}: {reason}")


@dataclass(frozen=True, eq=False)
class PixelFormat:
    """What a pixel holds and how the tiles are compressed (part of a ``TiffLevel``, which compares by identity)."""

    samples: int
    dtype: np.dtype
    bits: int
    compression: int
    photometric: int


def _supported_dtype(dtype, samples: int) -> bool:
    """8- and 16-bit integers; one sample (a channel's image) may also be 32-bit or floating-point."""
    if dtype is None:
        return False
    dtype = np.dtype(dtype)
    if samples == 1 and (dtype.kind == "f" or (dtype.kind in "ui" and dtype.itemsize == 4)):
        return dtype.itemsize <= 8
    return dtype.itemsize <= 2 and dtype.kind in "ui"


def pixel_format(src: LevelSource) -> PixelFormat:
    """The page's pixel format, refused where the readers would return wrong or undecoded pixels."""
    page = src.page
    samples, compression, photometric = int(page.samplesperpixel), int(page.compression), int(page.photometric)
    if samples not in (1, 3):
        src.fail(f"{samples} samples per pixel are not supported (1 or 3)")
    if samples > 1 and int(page.planarconfig) != 1:
        src.fail("separate colour planes are not supported")
    if not _supported_dtype(page.dtype, samples):
        kind = {1: "integer", 2: "signed integer", 3: "floating-point"}.get(int(page.sampleformat), "unknown")
        src.fail(f"{page.bitspersample}-bit {kind} samples are not supported")
    import tifffile

    if compression not in tifffile.TIFF.DECOMPRESSORS:
        src.fail(f"unsupported compression {enum_name(page.compression)}")
    # What tifffile would hand back undecoded (palette indices, raw YCbCr) is refused.
    allowed = {1: (0, 1), 3: (2, 6) if compression == JPEG else (2,)}[samples]
    if photometric not in allowed:
        src.fail(f"photometric {enum_name(page.photometric)} with {samples} samples is not supported")
    return PixelFormat(samples, np.dtype(page.dtype), int(page.bitspersample), compression, photometric)
