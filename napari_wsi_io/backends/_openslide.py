"""Formats only OpenSlide reads (MIRAX, Hamamatsu VMS/VMU, DICOM, Sakura, ...): its levels as ours.

``OpenSlideLayout`` stands in for ``TiffLayout`` (``_tiff_layout``) where there is no TIFF to probe:
the levels, metadata and associated images come from OpenSlide, and every read
goes through ``OpenSlide.read_region``.  It is chosen after cuCIM and tifffile.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._errors import SlideReadError
from ._base import Slide
from ._tile_index import TileGrid

__all__ = ["OpenSlideFileSlide", "OpenSlideLayout", "OpenSlideTiles", "dicom_file", "openslide_format"]


def openslide_format(path: str | os.PathLike) -> str | None:
    """OpenSlide's name for the file's format (e.g. "mirax"), or None when it can't open it or isn't installed."""
    try:
        import openslide

        return openslide.OpenSlide.detect_format(os.fspath(path))
    except Exception:  # not installed, or a file it cannot even look at
        return None


_DICOM_FILES_TRIED = 16  # a folder of another modality's many .dcm files is not read through


def dicom_file(folder: str | os.PathLike) -> str | None:
    """A DICOM file of a whole-slide series in ``folder`` (OpenSlide finds the rest), or None."""
    try:
        with os.scandir(folder) as entries:
            candidates = sorted(e.path for e in entries if e.name.lower().endswith(".dcm") and e.is_file())
    except OSError:  # unreadable: not ours to open
        return None
    return next((c for c in candidates[:_DICOM_FILES_TRIED] if openslide_format(c) == "dicom"), None)


@dataclass(frozen=True, eq=False, repr=False)
class OpenSlideTiles(TileGrid):
    """One OpenSlide level (or associated image), read region by region through ``OpenSlide.read_region``.

    Its tiles are OpenSlide's to decode and check: ``has_raw_tiles`` is False.
    """

    samples: ClassVar[int] = 3
    dtype: ClassVar[np.dtype] = np.dtype(np.uint8)
    compression: ClassVar[None] = None
    jpeg: ClassVar[None] = None
    tiled: ClassVar[bool] = True

    layout: OpenSlideLayout

    @classmethod
    def of(
        cls, layout: OpenSlideLayout, level: int | str, width: int, height: int, tile: tuple[int, int]
    ) -> OpenSlideTiles:
        """The level ``level`` (or associated image) of ``width`` x ``height`` px in ``tile`` (width, height) tiles."""
        tw, th = tile
        rows, cols = -(-height // th), -(-width // tw)
        return cls(
            level=level, width=width, height=height, tile_width=tw, tile_height=th, rows=rows, cols=cols, layout=layout
        )

    def check_region(self, y: int, x: int, h: int, w: int) -> None:
        """OpenSlide checks its own tiles."""

    def decode(self, ty: int, tx: int) -> np.ndarray:
        y, x = ty * self.tile_height, tx * self.tile_width
        h, w = min(self.tile_height, self.height - y), min(self.tile_width, self.width - x)
        return self.read_into(np.empty((h, w, 3), np.uint8), y, x)

    def read_into(self, out: np.ndarray, y: int, x: int) -> np.ndarray:
        out[...] = self.layout.read(self.level, x, y, out.shape[1], out.shape[0])
        return out


class _Associated:
    """An associated image's size, as a TIFF page would give it."""

    def __init__(self, width: int, height: int) -> None:
        self.imagewidth, self.imagelength, self.shape = width, height, (height, width, 3)


class OpenSlideLayout:
    """Levels, metadata and associated images of a slide OpenSlide opens."""

    uses_subifds = False

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise SlideReadError(self.path, "no such file")
        fmt = openslide_format(self.path)
        if fmt is None:
            raise SlideReadError(self.path, "not a slide format napari-wsi-io or OpenSlide can read")
        import openslide

        try:
            self._osr = openslide.OpenSlide(self.path)
        except Exception as exc:  # OpenSlideError, OpenSlideUnsupportedFormatError
            raise SlideReadError(self.path, f"OpenSlide ({fmt}): {exc}") from None
        # OpenSlide handles are thread-safe; closing one that is being read is not.
        self._readers, self._closed, self._idle = 0, False, threading.Condition()
        props = dict(self._osr.properties)
        self.vendor = props.get("openslide.vendor", fmt)
        try:  # unscanned areas are transparent: show them as OpenSlide's viewers do, over the slide's background
            colour = bytes.fromhex(props.get("openslide.background-color", "FFFFFF"))
        except ValueError:
            colour = b"\xff\xff\xff"
        self.background = np.frombuffer(colour if len(colour) == 3 else b"\xff\xff\xff", np.uint8).astype(np.float32)
        self.properties = {**props, "napari_wsi_io.vendor": self.vendor}
        try:
            mpp = (float(props["openslide.mpp-x"]), float(props["openslide.mpp-y"]))
        except (KeyError, ValueError):
            mpp = None
        self.mpp = mpp if mpp and all(0 < m < 1000 for m in mpp) else None
        self.levels = []
        for i, (w, h) in enumerate(self._osr.level_dimensions):
            tile = (
                int(props.get(f"openslide.level[{i}].tile-width", 256)),
                int(props.get(f"openslide.level[{i}].tile-height", 256)),
            )
            self.levels.append(OpenSlideTiles.of(self, i, w, h, tile))
        self.associated_pages = {}
        for name in self._osr.associated_images:
            w, h = self._osr.associated_images[name].size
            self.associated_pages[name] = _Associated(w, h)
        self.level_pages = self.levels

    def cucim_problem(self) -> str:
        return f"{self.vendor} files are not TIFF; OpenSlide reads them"

    def icc_profile(self) -> bytes | None:
        """The ICC profile OpenSlide reads for the main image (DICOM: the optical path's), as stored; or None."""
        try:  # OpenSlide >= 4 tags every region with it, byte for byte
            return self._osr.read_region((0, 0), 0, (1, 1)).info.get("icc_profile")
        except Exception:  # OpenSlideError: the reads will say what is wrong
            return None

    def tiles(self, turbojpeg: bool = False) -> list[OpenSlideTiles]:
        return self.levels

    def associated_tiles(self, name: str) -> OpenSlideTiles:
        page = self.associated_pages[name]
        return OpenSlideTiles.of(self, name, page.imagewidth, page.imagelength, (page.imagewidth, page.imagelength))

    def read(self, level: int | str, x: int, y: int, width: int, height: int) -> np.ndarray:
        """RGB pixels of a region in level coordinates (or a whole associated image)."""
        where = f"level {level}" if isinstance(level, int) else f"associated image {level!r}"
        with self._idle:
            if self._closed:
                raise SlideReadError(self.path, f"{where}: the slide is closed")
            self._readers += 1
        try:
            if isinstance(level, str):
                rgba = self._osr.associated_images[level]
            else:
                ds = self._osr.level_downsamples[level]
                rgba = self._osr.read_region((round(x * ds), round(y * ds)), level, (width, height))
            rgba = np.asarray(rgba.convert("RGBA"))
        except Exception as exc:  # OpenSlideError for a damaged tile
            raise SlideReadError(self.path, f"{where}: OpenSlide: {exc}") from None
        finally:
            with self._idle:
                self._readers -= 1
                self._idle.notify_all()
        alpha = rgba[..., 3:]
        if alpha.min() == 255:
            return rgba[..., :3]
        mixed = rgba[..., :3] * (alpha / 255.0) + self.background * (1 - alpha / 255.0)
        return np.round(mixed).astype(np.uint8)

    def close(self) -> None:
        with self._idle:
            if self._closed:
                return
            self._closed = True
            self._idle.wait_for(lambda: self._readers == 0)
        self._osr.close()


class OpenSlideFileSlide(Slide):
    """A slide in a format only OpenSlide reads."""

    backend = "openslide"

    def __init__(self, path: str | os.PathLike, layout: OpenSlideLayout | None = None) -> None:
        super().__init__(path, layout or OpenSlideLayout(path))
