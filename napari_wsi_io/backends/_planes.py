"""A slide that stores channels, read as one image whose samples are all its planes.

What the benchmarks and the export need: a region of a level with every channel (a 6-channel 16-bit pixel
is 12 bytes), read by the same code that reads an RGB one.  ``PlanesAsSamples`` is a ``Slide`` whose
sample ``i`` is plane ``keys[i]`` ((channel, t, z), in NGFF's order: t, then c, then z); its levels are
``StackedTiles``, which read or decode the same tile of every plane in turn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._base import Slide
from ._channels import ChannelLayout, PlaneKey

__all__ = ["PlanesAsSamples", "StackedTiles", "planes_as_samples"]


@dataclass(frozen=True, eq=False, repr=False)
class StackedTiles:
    """The same level of every plane, tile by tile: a tile has one sample per plane."""

    parts: tuple  # each plane's ``TileReader`` of this level

    def __getattr__(self, name: str):  # the grid, the codec and the labels are the first plane's
        if name == "parts":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.parts[0], name)

    @property
    def samples(self) -> int:
        return len(self.parts)

    @property
    def has_raw_tiles(self) -> bool:
        return all(p.has_raw_tiles for p in self.parts)

    @property
    def bytecounts(self) -> np.ndarray:
        return np.concatenate([p.bytecounts for p in self.parts])

    def check_region(self, y: int, x: int, h: int, w: int) -> None:
        for part in self.parts:
            part.check_region(y, x, h, w)

    def decode(self, ty: int, tx: int) -> np.ndarray:
        """The tile of every plane as (height, width, planes): what decoding the level's own tiles costs."""
        return np.concatenate([part.decode(ty, tx) for part in self.parts], axis=-1)

    def read_into(self, out: np.ndarray, y: int, x: int) -> np.ndarray:
        for i, part in enumerate(self.parts):
            part.read_into(out[..., i : i + 1], y, x)
        return out


class PlanesAsSamples(Slide):
    """Every plane of ``parent`` (a slide that stores channels) as the samples of one image."""

    def __init__(self, parent: Slide) -> None:  # noqa: D107 - no file of its own to open
        layout: ChannelLayout = parent.channels
        t_count, z_count = layout.sizes
        self.parent, self.path, self.layout, self.source = parent, parent.path, parent.layout, parent.source
        self._closed = False
        self.backend, self.fallback_reason = parent.backend, parent.fallback_reason
        #: The plane of each sample: t, then channel, then z (NGFF's axis order).
        self.keys: list[PlaneKey] = [
            (ch.index, t, z) for t in range(t_count) for ch in layout.channels for z in range(z_count)
        ]
        self.planes = [parent.plane(key) for key in self.keys]
        self.tiles = [StackedTiles(tuple(p.tiles[level] for p in self.planes)) for level in range(parent.level_count)]

    def __reduce__(self):
        return (_reopened, (self.parent.__reduce__(),))

    def __repr__(self) -> str:
        return f"PlanesAsSamples({self.path!r}, {len(self.keys)} planes)"

    def close(self) -> None:
        self.parent.close()

    @property
    def channels(self) -> ChannelLayout:
        return self.parent.channels

    def _read(self, level: int, x: int, y: int, out: np.ndarray) -> None:
        for i, plane in enumerate(self.planes):
            plane._read(level, x, y, out[..., i : i + 1])


def planes_as_samples(slide: Slide) -> Slide:
    """``slide``'s planes as samples where it stores channels; the slide itself otherwise."""
    return PlanesAsSamples(slide) if slide.channels is not None else slide


def _reopened(parent: tuple) -> Slide:
    """Every plane of the parent slide reopened as its ``__reduce__`` says (by path, or URL)."""
    make, args = parent[:2]
    return planes_as_samples(make(*args))
