"""OpenSlide and tiffslide behind the same interface, for side-by-side comparison."""

from __future__ import annotations

import os

import numpy as np

from .._errors import SlideReadError
from ._base import Slide
from ._tiff import TiffLayout

__all__ = ["OpenSlideSlide", "TiffslideSlide"]


class _LibrarySlide(Slide):
    """A slide whose pixels come from an OpenSlide-compatible library."""

    def __init__(self, path: str | os.PathLike, layout: TiffLayout | None = None) -> None:
        super().__init__(path, layout)
        try:
            self._lib = self._open()
        except Exception as exc:
            self.close()
            raise SlideReadError(self.path, f"{self.backend}: {exc}") from None
        dims = tuple(tuple(d) for d in self._lib.level_dimensions)
        if dims != self.level_dimensions:
            self.close()
            raise SlideReadError(self.path, f"{self.backend} sees levels {dims}, the TIFF has {self.level_dimensions}")

    def _read(self, level: int, x: int, y: int, out: np.ndarray) -> None:
        ds = self._lib.level_downsamples[level]
        try:
            rgba = self._lib.read_region((round(x * ds), round(y * ds)), level, out.shape[1::-1])
        except Exception as exc:  # OpenSlideError, tifffile errors, ...
            raise SlideReadError(self.path, f"level {level}: {self.backend}: {exc}") from None
        out[...] = np.asarray(rgba)[..., : out.shape[2]]


class OpenSlideSlide(_LibrarySlide):
    backend = "openslide"

    def _open(self):
        import openslide

        return openslide.OpenSlide(self.path)


class TiffslideSlide(_LibrarySlide):
    backend = "tiffslide"

    def _open(self):
        import tiffslide

        return tiffslide.TiffSlide(self.path)
