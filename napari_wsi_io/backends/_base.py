"""A slide: OpenSlide-style metadata from the TIFF layout, pixels from a backend."""

from __future__ import annotations

import os
from functools import cached_property

import numpy as np

from ._channels import ChannelLayout, PlaneKey
from ._colour import reopen
from ._source import ByteSource
from ._tiff_layout import TiffLayout
from ._tile_reader import TileReader

__all__ = ["Slide"]


class Slide:
    """Base class of all backends.  ``_read`` reads through the level's tiles unless a subclass overrides it.

    ``read_level`` takes level coordinates; ``read_region`` takes level-0
    coordinates like OpenSlide and cuCIM.  Reads are thread-safe.
    """

    backend = "base"
    #: Refuse JPEG tiles TurboJPEG cannot decode (cuCIM decodes with it).
    _turbojpeg = False
    #: What reads return, "raw" or "srgb"; the embedded ICC profile; the transform to sRGB (``_colour.use_colour``).
    colour, icc_profile, colour_transform = "raw", None, None

    def __init__(self, path: str | os.PathLike | ByteSource, layout: TiffLayout | None = None) -> None:
        """``path``: a local file, or a byte source (a remote slide: ``_source.open_source``) given to the layout."""
        self.layout = layout or TiffLayout(path)
        #: Where the bytes come from (the layout owns it); a remote slide's pickles as its URL and ETag.
        self.source: ByteSource | None = getattr(self.layout, "source", None)
        #: What messages and layers show: the path, or the URL without credentials or query.
        self.path = self.source.name if self.source is not None else os.fspath(path)
        #: Each level's tiles (a ``TileReader``; ``has_raw_tiles`` says whether their bytes are at hand).
        self.tiles: list[TileReader] = self.layout.tiles(turbojpeg=self._turbojpeg)
        #: Why the preferred backend was not used, when it was not.
        self.fallback_reason: str | None = None
        self._closed = False

    @property
    def is_remote(self) -> bool:
        return self.source is not None and self.source.local_path is None

    @property
    def token(self) -> str:
        """Changes when the file does: its path or URL, with its modification time or ETag, and its size."""
        if self.source is not None:
            return self.source.token
        stat = os.stat(self.path)
        return f"{self.path}|{stat.st_mtime_ns}|{stat.st_size}"

    @property
    def file_size(self) -> int:
        return self.source.size if self.source is not None else os.path.getsize(self.path)

    # -- pickling: a slide reopens itself by path (a remote one by URL, checking its ETag) in another process --
    def __reduce__(self):
        return (type(self), (self.source if self.is_remote else self.path,))

    def __reduce_ex__(self, protocol):  # any backend's ``__reduce__``, reopened in the same colour
        return (reopen, (self.__reduce__(), self.colour))

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.layout.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    # -- metadata --
    @cached_property
    def level_count(self) -> int:
        return len(self.tiles)

    @cached_property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """(width, height) of each level."""
        return tuple((t.width, t.height) for t in self.tiles)

    @property
    def dimensions(self) -> tuple[int, int]:
        return self.level_dimensions[0]

    @cached_property
    def level_downsamples(self) -> tuple[float, ...]:
        w0, h0 = self.dimensions
        return tuple((w0 / w + h0 / h) / 2 for w, h in self.level_dimensions)

    @cached_property
    def level_tile_sizes(self) -> tuple[tuple[int, int], ...]:
        """(width, height) of the tiles (or strips) of each level."""
        return tuple((t.tile_width, t.tile_height) for t in self.tiles)

    @property
    def mpp(self) -> tuple[float, float] | None:
        """Microns per pixel (x, y) at level 0, or None when unknown."""
        return self.layout.mpp

    @property
    def vendor(self) -> str:
        return self.layout.vendor

    @property
    def properties(self) -> dict[str, str]:
        return self.layout.properties

    @property
    def associated_images(self) -> tuple[str, ...]:
        return tuple(self.layout.associated_pages)

    @property
    def channels(self) -> ChannelLayout | None:
        """The channels and their (t, z) planes of a slide that stores channels (``plane`` reads one); else None."""
        return getattr(self.layout, "channels", None)  # OpenSlide's layouts have none

    def plane(self, key: PlaneKey) -> Slide:
        """One plane, (channel, t, z), of a slide that stores channels, as a slide of its own (``_plane``)."""
        from ._plane import PlaneSlide

        return PlaneSlide(self, key)

    @property
    def samples(self) -> int:
        return self.tiles[0].samples

    @property
    def dtype(self) -> np.dtype:
        return self.tiles[0].dtype

    def level_shape(self, level: int) -> tuple[int, ...]:
        """Array shape of a level: (height, width[, samples])."""
        w, h = self.level_dimensions[level]
        return (h, w, self.samples) if self.samples > 1 else (h, w)

    def read_associated(self, name: str) -> np.ndarray:
        """An associated image (label, macro, thumbnail), decoded with the same checks as a level."""
        tiles = self.layout.associated_tiles(name)
        out = np.empty((tiles.height, tiles.width, tiles.samples), tiles.dtype)
        tiles.read_into(out, 0, 0)
        return out if tiles.samples > 1 else out[..., 0]

    # -- pixels --
    def read_level(
        self, level: int, x: int, y: int, width: int, height: int, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Pixels of a region given in level coordinates, which must lie inside the level."""
        if not 0 <= level < self.level_count:
            raise ValueError(f"level {level} out of range 0..{self.level_count - 1}")
        w, h = self.level_dimensions[level]
        if width < 1 or height < 1 or x < 0 or y < 0 or x + width > w or y + height > h:
            raise ValueError(f"region ({x}, {y}, {width}x{height}) is outside level {level} ({w}x{h})")
        shape = (height, width, self.samples)
        if out is None:
            out = self._read_new(level, x, y, width, height)
        else:
            self._read(level, x, y, out.reshape(shape))
        if self.colour_transform is not None:  # every read of the slide's pixels passes here
            out = self.colour_transform(out)
        return out if self.samples > 1 or out.ndim == 2 else out[..., 0]

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """OpenSlide-style read: ``location`` in level-0 pixels, ``size`` at ``level``.

        Parts outside the level are zero.
        """
        ds = self.level_downsamples[level]
        x, y = round(location[0] / ds), round(location[1] / ds)
        w, h = size
        lw, lh = self.level_dimensions[level]
        out = np.zeros((h, w, self.samples), self.dtype)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, lw), min(y + h, lh)
        if x1 > x0 and y1 > y0:
            self.read_level(level, x0, y0, x1 - x0, y1 - y0, out[y0 - y : y1 - y, x0 - x : x1 - x])
        return out if self.samples > 1 else out[..., 0]

    def _read(self, level: int, x: int, y: int, out: np.ndarray) -> None:
        """Fill ``out`` from the level's tiles; a backend whose library reads regions itself overrides this."""
        self.tiles[level].read_into(out, y, x)

    def _read_new(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        """Read into a new array; backends that allocate their own output override this to skip a copy."""
        out = np.empty((height, width, self.samples), self.dtype)
        self._read(level, x, y, out)
        return out
