"""One plane (a channel at one t and z) of a slide that stores channels, read as a slide of its own.

A ``PlaneSlide`` has the levels, tiles and metadata of a ``Slide`` (one sample per pixel), so the
display pyramid, its cache, prefetch and coarse stand-ins work on it unchanged: each channel layer is a
display pyramid over its own plane and decodes only that channel's tiles.  It reads through the parent
slide's byte source (a TIFF) or its libCZI document (a CZI), which the parent keeps open.
"""

from __future__ import annotations

import numpy as np

from .._errors import SlideReadError
from ._base import Slide
from ._channels import Channel, PlaneKey, plane_label

__all__ = ["PlaneSlide"]


class PlaneSlide(Slide):
    """Plane ``key`` = (channel, t, z) of ``parent``: its channel's levels, decoded from its own pages."""

    backend = "tifffile"

    def __init__(self, parent: Slide, key: PlaneKey) -> None:  # noqa: D107 - no file of its own to open
        if parent.layout.channels is None or key not in parent.layout.plane_levels:
            raise KeyError(f"{parent.path} has no plane {key}")
        self.parent, self.key = parent, key
        self.path, self.layout, self.source = parent.path, parent.layout, parent.source
        self.tiles = parent.layout.plane_tiles(key)
        self._closed = False
        if parent.backend == "czi":  # libCZI reads every plane; a TIFF's planes are read here, by tifffile
            self.backend, self.fallback_reason = parent.backend, None
        else:
            self.fallback_reason = "the channels' planes are read by tifffile and imagecodecs"

    def __reduce__(self):
        return (_reopened_plane, (self.parent.__reduce__(), self.key))

    def close(self) -> None:
        """Nothing to close: the parent slide owns the file."""

    def __repr__(self) -> str:
        return f"PlaneSlide({self.path!r}, {self.key})"

    @property
    def channel(self) -> Channel:
        return next(ch for ch in self.layout.channels.channels if ch.index == self.key[0])

    @property
    def label(self) -> str:
        """How messages name the plane: its channel, and t and z where the slide has several."""
        return plane_label(self.layout.channels, self.key)

    def _read(self, level: int, x: int, y: int, out: np.ndarray) -> None:
        try:
            super()._read(level, x, y, out)
        except SlideReadError as exc:  # a damaged tile: say which channel it belongs to
            raise SlideReadError(self.path, f"{self.label}: {exc.reason}") from None


def _reopened_plane(parent: tuple, key: PlaneKey) -> PlaneSlide:
    """The plane ``key`` of the parent slide reopened as its ``__reduce__`` says (by path, or URL)."""
    make, args = parent[:2]
    return make(*args).plane(key)
