"""Tissue-like JPEG-tiled pyramidal TIFFs written in seconds, and the sample slide in the user cache.

The tiles come from ``_tiles`` (a pool of pre-encoded tiles under a smooth
tissue mask); with ``aperio=True`` the file also carries the Aperio SVS pages
from ``aperio``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ._pyramid import level_shapes
from ._tiles import POOL_SIDE, level_tiles
from ._tissue import tissue_field, tissue_thumbnail
from .aperio import aperio_description, jpeg_svs_label_macro, write_aperio_label_macro, write_aperio_thumbnail

__all__ = [
    "GIGAPIXEL_SHAPE",
    "SMALL_SHAPE",
    "sample_slide_path",
    "write_synthetic_slide",
]

GIGAPIXEL_SHAPE = (40000, 60000)  # (height, width): 2.4 gigapixels
SMALL_SHAPE = (3000, 4000)


@contextmanager
def replaced_when_written(path: Path) -> Iterator[Path]:
    """A temporary name next to ``path`` to write to, moved onto ``path`` once the block completes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")  # two processes may generate at once
    yield tmp
    os.replace(tmp, path)


def write_synthetic_slide(
    path: str | os.PathLike,
    shape: tuple[int, int] = SMALL_SHAPE,
    *,
    tile: int = 256,
    mpp: float = 0.25,
    aperio: bool = False,
    quality: int = 80,
    min_level_side: int = 512,
    seed: int = 0,
) -> Path:
    """Write a tissue-like JPEG-tiled pyramidal TIFF and return its path.

    ``shape`` is (height, width) of level 0.  Each further level halves it
    until its short side would drop under ``min_level_side``.  With
    ``aperio=True`` the file is laid out like an Aperio SVS (MPP in the
    ImageDescription, thumbnail, label and macro images); otherwise it is a
    generic tiled TIFF whose resolution tags carry ``mpp``.
    """
    import tifffile

    if tile % 16 or POOL_SIDE % tile:
        raise ValueError(f"tile must be a multiple of 16 dividing {POOL_SIDE}, not {tile}")
    path = Path(path)
    field = tissue_field(seed)
    # JPEG tiles of 256 px average ~20 kB; switch to BigTIFF well before 4 GB.
    bigtiff = shape[0] * shape[1] * 3 // 8 > 3 * 2**30
    with replaced_when_written(path) as tmp, tifffile.TiffWriter(tmp, bigtiff=bigtiff) as tw:
        for level, lshape in enumerate(level_shapes(*shape, min_level_side)):
            tw.write(
                level_tiles(lshape, level, tile, field, quality, seed),
                shape=(*lshape, 3),
                **_level_options(level, lshape, shape[1] / lshape[1], tile=tile, mpp=mpp, aperio=aperio),
            )
            if aperio and level == 0:
                thumb = tissue_thumbnail(field, (192, 256)).astype(np.uint8)
                write_aperio_thumbnail(tw, thumb, aperio_description(shape, tile, mpp, extra=" -> 256x192"))
        if aperio:
            write_aperio_label_macro(tw, *jpeg_svs_label_macro(seed))
    return path


def _level_options(
    level: int, shape: tuple[int, int], scale: float, *, tile: int, mpp: float, aperio: bool
) -> dict[str, Any]:
    """tifffile's options for one JPEG-tiled level ``scale`` times smaller than level 0."""
    px_per_cm = 1e4 / mpp / scale
    return {
        "dtype": np.uint8,
        "tile": (tile, tile),
        "compression": "jpeg",
        "photometric": "rgb",
        # Aperio marks no level as reduced-resolution (tifffile and tiffslide rely on it).
        "subfiletype": 1 if level and not aperio else 0,
        "resolution": (px_per_cm, px_per_cm),
        "resolutionunit": "CENTIMETER",
        "description": aperio_description(shape, tile, mpp) if aperio else None,
        "metadata": None,
    }


def _cache_dir() -> Path:
    """Where the sample slides live (``NAPARI_WSI_IO_CACHE`` or the user cache directory)."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("NAPARI_WSI_IO_CACHE", user_cache_dir("napari-wsi-io")))


def sample_slide_path(small: bool = False) -> Path:
    """The sample slide in the user cache directory, generated on first use."""
    shape = SMALL_SHAPE if small else GIGAPIXEL_SHAPE
    name = f"synthetic-{shape[1]}x{shape[0]}-v1.svs"
    path = _cache_dir() / name
    if not path.exists():
        write_synthetic_slide(path, shape, aperio=True)
    return path
