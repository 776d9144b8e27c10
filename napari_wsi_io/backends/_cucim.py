"""cuCIM backend: the primary, fastest reader of JPEG/LZW/raw tiled RGB slides."""

from __future__ import annotations

import math
import os

import numpy as np

from .._errors import SlideReadError
from ._base import Slide
from ._tiff import TiffLayout

__all__ = ["CucimSlide", "cucim_version"]


def cucim_version() -> str | None:
    try:
        import cucim
    except Exception:  # missing wheel or broken CUDA libraries alike
        return None
    return getattr(cucim, "__version__", "unknown")


def _level0(v: int, downsample: float) -> int:
    # cuCIM maps a level-0 coordinate to floor(v0 / downsample) at the level,
    # so the smallest v0 that lands on v is ceil(v * downsample).
    v0 = math.ceil(v * downsample)
    while math.floor(v0 / downsample) < v:
        v0 += 1
    return v0


class CucimSlide(Slide):
    backend = "cucim"

    def __init__(self, path: str | os.PathLike, layout: TiffLayout | None = None) -> None:
        super().__init__(path, layout)
        problem = self.layout.cucim_problem()
        if problem:
            self.close()
            raise SlideReadError(self.path, f"cuCIM cannot read it safely: {problem}")
        from cucim import CuImage

        try:
            self._image = CuImage(self.path)
        except Exception as exc:
            self.close()
            raise SlideReadError(self.path, f"cuCIM: {exc}") from None
        dims = tuple(tuple(d) for d in self._image.resolutions["level_dimensions"])
        if dims != self.level_dimensions:
            self.close()
            raise SlideReadError(self.path, f"cuCIM sees levels {dims}, the TIFF has {self.level_dimensions}")
        self._downsamples = self._image.resolutions["level_downsamples"]

    def cucim_location(self, level: int, x: int, y: int) -> tuple[int, int]:
        """Level-0 location cuCIM maps back to (x, y) at ``level``."""
        ds = self._downsamples[level]
        return _level0(x, ds), _level0(y, ds)

    def read_cucim(self, level: int, x: int, y: int, width: int, height: int, num_workers: int = 0) -> np.ndarray:
        """Raw cuCIM read (no tile checks): the benchmarks' reference."""
        region = self._image.read_region(
            self.cucim_location(level, x, y), (width, height), level, num_workers=num_workers
        )
        return np.asarray(region)

    def _read_new(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        # cuCIM returns stale pixels for a corrupt JPEG tile: check the bytes first.
        self.tiles[level].check_region(y, x, height, width)
        try:
            return self.read_cucim(level, x, y, width, height)
        except Exception as exc:
            raise SlideReadError(self.path, f"level {level}: cuCIM: {exc}") from None

    def _read(self, level: int, x: int, y: int, out: np.ndarray) -> None:
        out[...] = self._read_new(level, x, y, out.shape[1], out.shape[0])
