"""What an exported array holds before y and x: RGB's ``c``, or a slide's channels and planes (``t, c, z``).

A slide that stores channels is exported through ``ChannelPlanes``: a read of a region returns every plane
(t, c, z in NGFF's order, flattened) as samples of one pixel, so the engine writes it like an RGB block,
and ``_tasks`` unfolds the samples into the array's leading axes.  ``lead_axes`` says what those are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends import Slide
from ..backends._channels import PlaneKey

__all__ = ["ChannelPlanes", "LeadAxis", "export_view", "lead_axes"]


@dataclass(frozen=True)
class LeadAxis:
    """One array axis before y and x."""

    name: str  # "t", "c" or "z"
    size: int
    type: str  # NGFF's axis type: "time", "channel", "space"
    scale: float = 1.0  # micrometres between z planes; 1 for t and c
    unit: str | None = None


class ChannelPlanes:
    """A slide that stores channels, read as one image whose samples are its planes (t, c, z order)."""

    def __init__(self, slide: Slide) -> None:
        layout = slide.channels
        self.parent, self.layout = slide, layout
        t_count, z_count = layout.sizes
        self.keys: list[PlaneKey] = [
            (ch.index, t, z) for t in range(t_count) for ch in layout.channels for z in range(z_count)
        ]
        self.planes = [slide.plane(key) for key in self.keys]
        self.path, self.backend, self.vendor, self.mpp = slide.path, slide.backend, slide.vendor, slide.mpp
        self.dtype, self.samples = slide.dtype, len(self.keys)
        self.level_count, self.level_dimensions = slide.level_count, slide.level_dimensions
        self.dimensions, self.tiles = slide.dimensions, slide.tiles

    def level_shape(self, level: int) -> tuple[int, ...]:
        w, h = self.level_dimensions[level]
        return (h, w, self.samples)

    def read_level(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        """(height, width, planes) of a region: every plane of every channel."""
        out = np.empty((height, width, self.samples), self.dtype)
        for i, plane in enumerate(self.planes):
            out[..., i] = plane.read_level(level, x, y, width, height)
        return out

    def source_bytes(self, levels: list[int]) -> int | None:
        tiles = [plane.tiles[level] for plane in self.planes for level in levels]
        return int(sum(int(t.bytecounts.sum()) for t in tiles)) if all(t.has_raw_tiles for t in tiles) else None

    def close(self) -> None:
        self.parent.close()

    def __enter__(self) -> ChannelPlanes:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def export_view(slide: Slide) -> Slide | ChannelPlanes:
    """What the export writes of ``slide``: its planes where it stores channels, else the slide itself."""
    return ChannelPlanes(slide) if getattr(slide, "channels", None) is not None else slide


def lead_axes(slide: Slide | ChannelPlanes) -> list[LeadAxis]:
    """The axes before y and x: ``c`` of RGB, a channel slide's ``t, c, z`` (T and Z where above 1), or none."""
    if not isinstance(slide, ChannelPlanes):
        return [LeadAxis("c", slide.samples, "channel")] if slide.samples > 1 else []
    t_count, z_count = slide.layout.sizes
    axes = [LeadAxis("t", t_count, "time")] if t_count > 1 else []
    axes.append(LeadAxis("c", len(slide.layout.channels), "channel"))
    if z_count > 1:
        spacing = slide.layout.z_spacing
        axes.append(LeadAxis("z", z_count, "space", spacing or 1.0, "micrometer" if spacing else None))
    return axes
