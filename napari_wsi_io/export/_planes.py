"""What an exported array holds before y and x: RGB's ``c``, or a slide's channels and planes (``t, c, z``).

A slide that stores channels is exported through ``backends.PlanesAsSamples``: a read of a region returns
every plane (t, c, z in NGFF's order, flattened) as samples of one pixel, so the engine writes it like an
RGB block, and ``_tasks`` unfolds the samples into the array's leading axes.  ``lead_axes`` says what
those axes are.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backends import PlanesAsSamples, Slide, planes_as_samples

__all__ = ["LeadAxis", "export_view", "lead_axes"]


@dataclass(frozen=True)
class LeadAxis:
    """One array axis before y and x."""

    name: str  # "t", "c" or "z"
    size: int
    type: str  # NGFF's axis type: "time", "channel", "space"
    scale: float = 1.0  # micrometres between z planes; 1 for t and c
    unit: str | None = None


def export_view(slide: Slide) -> Slide:
    """What the export writes of ``slide``: every plane where it stores channels, else the slide itself."""
    return planes_as_samples(slide)


def lead_axes(slide: Slide) -> list[LeadAxis]:
    """The axes before y and x: ``c`` of RGB, a channel slide's ``t, c, z`` (T and Z where above 1), or none."""
    if not isinstance(slide, PlanesAsSamples):
        return [LeadAxis("c", slide.samples, "channel")] if slide.samples > 1 else []
    t_count, z_count = slide.channels.sizes
    axes = [LeadAxis("t", t_count, "time")] if t_count > 1 else []
    axes.append(LeadAxis("c", len(slide.channels.channels), "channel"))
    if z_count > 1:
        spacing = slide.channels.z_spacing
        axes.append(LeadAxis("z", z_count, "space", spacing or 1.0, "micrometer" if spacing else None))
    return axes
