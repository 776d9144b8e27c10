"""Fallback backend: tifffile for the structure, imagecodecs for the tiles.

Chosen over tiffslide by measurement (``benchmarks/fallback_choice.py``):
it decodes each tile straight from ``os.pread`` bytes without a lock or a zarr
layer in between, handles every compression tifffile knows (deflate with
predictors, 16-bit, strips), and raises on a corrupt tile.
"""

from __future__ import annotations

from ._base import Slide

__all__ = ["TifffileSlide"]


class TifffileSlide(Slide):
    backend = "tifffile"
