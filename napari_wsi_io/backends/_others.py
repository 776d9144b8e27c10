"""OpenSlide and tiffslide behind the same interface, for side-by-side comparison."""

from __future__ import annotations

import os

import numpy as np

from .._errors import SlideReadError
from ._base import Slide
from ._tiff_layout import TiffLayout

__all__ = ["OpenSlideSlide", "TiffslideSlide"]


class _LibrarySlide(Slide):
    """A slide whose pixels come from an OpenSlide-compatible library."""

    def __init__(self, path: str | os.PathLike, layout: TiffLayout | None = None) -> None:
        super().__init__(path, layout)
        if self.is_remote:
            self.close()
            raise SlideReadError(self.path, f"{self.backend} reads local files only")
        try:
            self._lib = self._open()
        except Exception as exc:
            self.close()
            raise SlideReadError(self.path, f"{self.backend}: {exc}") from None
        dims = tuple(tuple(d) for d in self._lib.level_dimensions)
        # OpenSlide draws a Leica SCN's main image inside the whole collection; the levels here
        # are that image, OpenSlide's bounds rectangle: read there.
        self._origin = (0, 0)
        if self.vendor == "leica" and self._lib.properties.get("openslide.vendor") == "leica":
            props = self._lib.properties
            self._origin = (int(props.get("openslide.bounds-x", 0)), int(props.get("openslide.bounds-y", 0)))
            dims = tuple(
                (
                    round(int(props.get("openslide.bounds-width", w)) / d),
                    round(int(props.get("openslide.bounds-height", h)) / d),
                )
                for (w, h), d in zip(dims, self._lib.level_downsamples)
            )
        if dims != self.level_dimensions:
            self.close()
            raise SlideReadError(self.path, f"{self.backend} sees levels {dims}, the TIFF has {self.level_dimensions}")

    def _read(self, level: int, x: int, y: int, out: np.ndarray) -> None:
        ds = self._lib.level_downsamples[level]
        try:
            location = (self._origin[0] + round(x * ds), self._origin[1] + round(y * ds))
            rgba = self._lib.read_region(location, level, out.shape[1::-1])
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
