"""Slides that store channels (fluorescence, multiplexed): what a format module says about its channels.

A format module (``_ome``, ``_qptiff``) returns a ``VendorLayout`` whose ``channels`` is a ``ChannelLayout``:
the channels the file names, and for every channel and every (t, z) plane the pages of its levels.
``TiffLayout`` describes every plane's levels (``plane_levels``), so a damaged channel page fails when the
file opens, with the channel's name in the message; ``Slide.plane`` reads one plane as a slide of its own.

The first plane's levels are the slide's levels, so everything that reads "the slide" (benchmarks, export,
the level table) reads channel 0 at t = z = 0 unless it asks for the channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._errors import SlideReadError
from ._tiff_level import TiffLevel, describe_level
from ._vendor import LevelPage

if TYPE_CHECKING:
    from ._source import ByteSource

__all__ = [
    "FLUORESCENCE_PALETTE",
    "Channel",
    "ChannelLayout",
    "PlaneKey",
    "channel_label",
    "check_planes",
    "describe_planes",
]

#: (channel, t, z): one plane of one channel.
PlaneKey = tuple[int, int, int]

#: Colours for channels whose file gives none: DAPI blue first, then the usual fluorophore order.
FLUORESCENCE_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 255),
    (0, 255, 0),
    (255, 0, 0),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 0),
    (255, 128, 0),
    (255, 255, 255),
)


@dataclass(frozen=True)
class Channel:
    """One channel as the file names it."""

    #: The channel's number in the file (0 ..).
    index: int
    name: str
    #: (r, g, b) 0-255 from the file, or None where it gives none (``display_color`` picks one).
    color: tuple[int, int, int] | None = None
    #: What else the file says about it (QPTIFF's biomarker and filter name, OME's fluor, ...).
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def display_color(self) -> tuple[int, int, int]:
        """The file's colour, or the fluorescence palette's for this channel's position."""
        return self.color or FLUORESCENCE_PALETTE[self.index % len(FLUORESCENCE_PALETTE)]


def channel_label(channel: Channel) -> str:
    """How messages name a channel: its position and its name."""
    return f"channel {channel.index} ({channel.name!r})"


@dataclass
class ChannelLayout:
    """The channels of a slide and the level pages of each of their planes."""

    channels: list[Channel]
    #: (t, z) plane counts: T and Z become slider axes where they are above 1.
    sizes: tuple[int, int]
    #: (channel, t, z) -> the plane's level pages, level 0 first; every plane has the same level sizes.
    planes: dict[PlaneKey, list[LevelPage]]
    #: Microns between focal planes, where the file says.
    z_spacing: float | None = None
    #: Channels the metadata names but the file stores no pixels for, as messages (shown, never dropped silently).
    missing: list[str] = field(default_factory=list)

    @property
    def first(self) -> list[LevelPage]:
        return self.planes[(0, 0, 0)]


def check_planes(path: str, layout: ChannelLayout) -> None:
    """Every channel has every (t, z) plane and the first plane's level count; else a clear error."""
    t_count, z_count = layout.sizes
    if not layout.channels:
        raise SlideReadError(path, "no channel holds image data")
    for channel in layout.channels:
        for t in range(t_count):
            for z in range(z_count):
                pages = layout.planes.get((channel.index, t, z))
                if not pages:
                    raise SlideReadError(path, f"{channel_label(channel)} has no image for t={t}, z={z}")
    levels = min(len(p) for p in layout.planes.values())
    for pages in layout.planes.values():
        del pages[levels:]  # a level some plane lacks is left out for all: the channels stay aligned


def plane_label(layout: ChannelLayout, key: PlaneKey) -> str:
    """How messages name a plane: its channel, and t and z where the slide has several."""
    channel = next((ch for ch in layout.channels if ch.index == key[0]), None)
    t_count, z_count = layout.sizes
    where = (f", t={key[1]}" if t_count > 1 else "") + (f", z={key[2]}" if z_count > 1 else "")
    return (channel_label(channel) if channel else f"channel {key[0]}") + where


def describe_planes(source: ByteSource, layout: ChannelLayout) -> dict[PlaneKey, list[TiffLevel]]:
    """Every plane's levels, checked (``describe_level``) and alike: a plane that differs fails, named."""
    path = source.name
    described: dict[PlaneKey, list[TiffLevel]] = {}
    first = None
    for key, pages in layout.planes.items():
        label = plane_label(layout, key)
        try:
            levels = [describe_level(source, p.page, i, p.size, p.fill) for i, p in enumerate(pages)]
        except SlideReadError as exc:
            raise SlideReadError(path, f"{label}: {exc.reason}") from None
        if levels[0].samples != 1:
            raise SlideReadError(path, f"{label}: {levels[0].samples} samples per pixel in a channel's image")
        shapes = [(lv.width, lv.height, lv.samples, lv.dtype) for lv in levels]
        if first is None:
            first = shapes
        elif shapes != first:
            level = next(i for i, (a, b) in enumerate(zip(shapes, first)) if a != b)
            (w, h, _, dtype), (w0, h0, _, dtype0) = shapes[level], first[level]
            raise SlideReadError(
                path,
                f"{label}: level {level} is {w}x{h} px of {dtype} where the first channel's is {w0}x{h0} px of {dtype0}",
            )
        described[key] = levels
    return described
