"""Zeiss CZI, read with Zeiss's own libCZI (pylibCZIrw): brightfield (BGR24/BGR48) and fluorescence.

The structure is read and checked first (``_czi_directory``: no damaged number reaches libCZI), the
metadata XML gives the channels' names, display colours and the pixel size (``_czi_metadata``).  Then libCZI
composes every read: ``read(roi, plane, zoom)`` draws a region at a zoom from the subblocks that fit best,
the pyramid subblocks where the scanner wrote them, else the full-resolution ones scaled down.  So the levels
are the stored pyramid's zooms, and where there is none (or below its coarsest) halvings down to 1024 px,
which libCZI computes when a view asks for them: a gigapixel CZI opens at once.

Level 0 is the full-resolution bounding box of every scene (the tissue sections an Axioscan finds), with
the glass between them as background (white for brightfield, black for fluorescence), as ZEN shows the slide;
``properties["zeiss.scenes"]`` gives each scene's box in level-0 pixels.  A brightfield slide is one RGB plane (libCZI
hands back B, G, R: reversed here); a fluorescence slide is a ``ChannelLayout`` of grey planes read as
``PlaneSlide``s.  libCZI's reads are thread-safe and release the GIL (two threads read twice as fast).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._errors import SlideReadError
from ._base import Slide
from ._channels import ChannelLayout, PlaneKey, plane_label
from ._czi_directory import DirectoryEntry, check_subblocks, read_directory, read_metadata
from ._czi_metadata import CziMetadata, parse_metadata
from ._tile_index import TileGrid

__all__ = ["CziLayout", "CziSlide", "CziTiles"]

_TILE = 512  # the grid the display pyramid chunks a level by (libCZI composes any region)
_COMPUTED_DOWN_TO = 1024  # computed levels halve until the long side fits
_DTYPES = {0: ("u1", 1), 1: ("u2", 1), 2: ("f4", 1), 3: ("u1", 3), 4: ("u2", 3), 8: ("f4", 3)}


@dataclass(frozen=True, eq=False, repr=False)
class CziTiles(TileGrid):
    """One level of one plane, read region by region through libCZI at the level's zoom."""

    compression: ClassVar[None] = None
    jpeg: ClassVar[None] = None
    tiled: ClassVar[bool] = True

    samples: int
    dtype: np.dtype
    layout: CziLayout
    plane: PlaneKey
    factor: int

    def check_region(self, y: int, x: int, h: int, w: int) -> None:
        """The subblocks were checked when the file opened; libCZI decodes them."""

    def decode(self, ty: int, tx: int) -> np.ndarray:
        y, x = ty * self.tile_height, tx * self.tile_width
        h, w = min(self.tile_height, self.height - y), min(self.tile_width, self.width - x)
        return self.read_into(np.empty((h, w, self.samples), self.dtype), y, x)

    def read_into(self, out: np.ndarray, y: int, x: int) -> np.ndarray:
        out[...] = self.layout.read(self, x, y, out.shape[1], out.shape[0])
        return out


_MAX_SIDE = 1 << 20  # px: a 1 Mpx-wide scan
_MIN_COVER = 0.01  # of the box a scene's subblocks cover: less, and a subblock's position is damaged


def _scenes_box(path: str, entries: list[DirectoryEntry]) -> tuple[int, int, int, int, dict]:
    """(x, y, width, height, {scene: (x, y, width, height)}) of the full-resolution subblocks: the box of every
    scene together, as ZEN shows a slide (the glass between them is background), each box checked to be plausible.
    """
    full = [e for e in entries if e.zoom == 1]
    plane = (full[0].index("C"), full[0].index("T"), full[0].index("Z"))
    by_scene: dict = {}
    for e in full:
        by_scene.setdefault(e.index("S") if "S" in e.dims else None, []).append(e)
    boxes = {scene: _box(path, blocks, plane) for scene, blocks in sorted(by_scene.items(), key=lambda kv: kv[0] or 0)}
    x0, y0, width, height = _box(path, full, plane)
    return x0, y0, width, height, boxes


def _box(path: str, blocks: list[DirectoryEntry], plane: tuple) -> tuple[int, int, int, int]:
    """(x, y, width, height) around ``blocks``; an error where one plane of them covers too little of it."""
    x0 = min(e.dims["X"][0] for e in blocks)
    y0 = min(e.dims["Y"][0] for e in blocks)
    x1 = max(e.dims["X"][0] + e.dims["X"][1] for e in blocks)
    y1 = max(e.dims["Y"][0] + e.dims["Y"][1] for e in blocks)
    width, height = x1 - x0, y1 - y0
    cover = sum(e.dims["X"][1] * e.dims["Y"][1] for e in blocks if (e.index("C"), e.index("T"), e.index("Z")) == plane)
    if max(width, height) > _MAX_SIDE or cover < _MIN_COVER * width * height:
        raise SlideReadError(
            path, f"damaged CZI: subblocks {width}x{height} px apart (a subblock's position is damaged)"
        )
    return x0, y0, width, height


def _factors(entries: list[DirectoryEntry], width: int, height: int) -> list[int]:
    """Level 0, the stored pyramid's downsamples, then halvings until the long side fits 1024 px."""
    factors = sorted({1} | {round(1 / e.zoom) for e in entries if e.zoom < 1 and round(1 / e.zoom) > 1})
    while max(width, height) / factors[-1] > _COMPUTED_DOWN_TO:
        factors.append(factors[-1] * 2)
    return factors


class CziLayout:
    """What a CZI holds (scene, planes, levels, metadata), checked, and libCZI reading it."""

    uses_subifds = False
    vendor = "zeiss"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise SlideReadError(self.path, "no such file")
        fd = os.open(self.path, os.O_RDONLY)
        try:
            #: Every subblock's directory entry, checked (the benchmark's decode limit reads them one by one).
            self.entries: list[DirectoryEntry] = read_directory(self.path, fd)
            entries = self.entries
            self.meta: CziMetadata = parse_metadata(self.path, read_metadata(self.path, fd), entries)
            check_subblocks(self.path, fd, entries, self._entry_label)
        finally:
            os.close(fd)
        self._doc = _open_libczi(self.path)
        self._lock = threading.Lock()  # closing while a worker reads is not safe; reads are
        self._readers, self._closed = 0, False
        self.x0, self.y0, width, height, self.scenes = _scenes_box(self.path, entries)
        self.factors = _factors([e for e in entries if _plane_of(e, self.meta) == self.first_plane], width, height)
        self.size = (width, height)
        self.mpp, self.properties = self.meta.mpp, {**self.meta.properties, "napari_wsi_io.vendor": self.vendor}
        if len(self.scenes) > 1:
            self.properties["zeiss.scenes"] = "; ".join(
                f"{scene}: {x - self.x0},{y - self.y0},{w}x{h}" for scene, (x, y, w, h) in self.scenes.items()
            )
        self.associated_pages: dict[str, Any] = {}
        self.plane_levels = {key: self._plane_tiles(key) for key in self.meta.plane_keys}
        self.levels = self.level_pages = self.plane_levels[self.first_plane]
        self.channels: ChannelLayout | None = self.meta.channel_layout

    @property
    def first_plane(self) -> PlaneKey:
        return self.meta.plane_keys[0]

    def _entry_label(self, entry: DirectoryEntry) -> str:
        key = _plane_of(entry, self.meta)
        return plane_label(self.meta.channel_layout, key) if self.meta.channel_layout else "the image"

    def _plane_tiles(self, key: PlaneKey) -> list[CziTiles]:
        dtype, samples = _DTYPES[self.meta.pixel_type]
        width, height = self.size
        levels = []
        for level, f in enumerate(self.factors):
            w, h = -(-width // f), -(-height // f)
            rows, cols = -(-h // _TILE), -(-w // _TILE)
            levels.append(
                CziTiles(level, w, h, _TILE, _TILE, rows, cols, samples, np.dtype(dtype), self, key, f)  # type: ignore[arg-type]
            )
        return levels

    def cucim_problem(self) -> str:
        return "CZI is not TIFF; libCZI reads it"

    def tiles(self, turbojpeg: bool = False) -> list[CziTiles]:
        return self.levels

    def plane_tiles(self, key: PlaneKey) -> list[CziTiles]:
        return self.plane_levels[key]

    def read(self, tiles: CziTiles, x: int, y: int, width: int, height: int) -> np.ndarray:
        """Pixels (height, width, samples) of a region of ``tiles``' level, in level coordinates."""
        f = tiles.factor
        roi = (self.x0 + x * f, self.y0 + y * f, width * f, height * f)
        with self._lock:
            if self._closed:
                raise SlideReadError(self.path, "the slide is closed")
            self._readers += 1
        try:
            pixels = self._doc.read(
                roi=roi,
                plane=self.meta.plane_coords(tiles.plane),
                scene=None,  # every scene, composed in place
                zoom=1.0 / f if f > 1 else None,
                background_pixel=(1.0, 1.0, 1.0) if tiles.samples == 3 else (0.0, 0.0, 0.0),
            )
        except Exception as exc:  # libCZI raises RuntimeError and others for damaged subblocks
            # (a channel's plane, a ``PlaneSlide``, puts the channel's name in front)
            raise SlideReadError(self.path, f"level {tiles.level}, region {roi}: libCZI: {exc}") from None
        finally:
            with self._lock:
                self._readers -= 1
        return _fitted(pixels, height, width, tiles.samples)

    def associated_tiles(self, name: str):
        raise KeyError(name)

    def close(self) -> None:
        with self._lock:
            if self._closed or self._readers:
                self._closed = True
                return  # a reader in flight: libCZI's document is freed with the object
            self._closed = True
        self._doc.close()


def _plane_of(entry: DirectoryEntry, meta: CziMetadata) -> PlaneKey:
    return meta.plane_key(entry.index("C"), entry.index("T"), entry.index("Z"))


def _fitted(pixels: np.ndarray, height: int, width: int, samples: int) -> np.ndarray:
    """libCZI's (h, w, samples) bitmap in R, G, B order, cropped or padded to the asked size."""
    if samples == 3:
        pixels = pixels[..., ::-1]
    out = pixels[:height, :width]
    if out.shape[:2] != (height, width):
        padded = np.zeros((height, width, pixels.shape[-1]), pixels.dtype)
        padded[: out.shape[0], : out.shape[1]] = out
        out = padded
    return out


def _open_libczi(path: str):
    try:
        from pylibCZIrw import czi as pyczi
    except ImportError:
        raise SlideReadError(path, "CZI files need pylibCZIrw: pip install 'napari-wsi-io[czi]'") from None
    try:
        return pyczi.CziReader(path)
    except Exception as exc:  # libCZI raises RuntimeError and others for damaged files
        raise SlideReadError(path, f"damaged CZI (libCZI: {exc})") from None


class CziSlide(Slide):
    """A Zeiss CZI slide (``backend = "czi"``)."""

    backend = "czi"

    def __init__(self, path: str | os.PathLike, layout: CziLayout | None = None) -> None:
        super().__init__(path, layout or CziLayout(path))
