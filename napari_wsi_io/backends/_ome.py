"""OME-TIFF with channels: the OME-XML names the channels, tifffile's OME series places every plane.

The first OME Image is the slide.  Its pages (tifffile's ``series[0].pages``, one per (t, c, z) plane in
the image's DimensionOrder) are the planes' level 0; the coarser levels are each plane's SubIFDs
(``series[0].levels``) or, for a pyramid stored in separate pages, the following Images of the same
planes at smaller sizes.  Channel names, colours (OME's signed RGBA integer), the pixel size and the Z
spacing come from the Pixels element.

An RGB image (3 samples per pixel) is not a channel layout: it opens as brightfield, as before
(``read_layout`` returns None and ``TiffLayout`` takes its generic rules).
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np

from .._errors import SlideReadError
from ._channels import Channel, ChannelLayout, PlaneKey, channel_label, check_planes
from ._vendor import LevelPage, VendorLayout, parse_xml

__all__ = ["read_layout"]

# OME length units -> micrometres.
_UM = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "Å": 1e-4, "pm": 1e-6, "mm": 1e3, "cm": 1e4, "m": 1e6}
_PLANE_AXES = "TCZ"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in node if _local(child.tag) == name]


def _length_um(pixels: ET.Element, name: str) -> float | None:
    try:
        value = float(pixels.attrib[f"PhysicalSize{name}"])
    except (KeyError, ValueError):
        return None
    factor = _UM.get(pixels.attrib.get(f"PhysicalSize{name}Unit", "µm"))
    return value * factor if factor and 0 < value * factor < 1e6 else None


def ome_color(value: str | None) -> tuple[int, int, int] | None:
    """OME's Color (a signed 32-bit RGBA integer) as (r, g, b); None for none, or opaque white/black."""
    try:
        rgba = int(value) & 0xFFFFFFFF
    except (TypeError, ValueError):
        return None
    rgb = ((rgba >> 24) & 255, (rgba >> 16) & 255, (rgba >> 8) & 255)
    return None if rgb in ((255, 255, 255), (0, 0, 0)) else rgb  # OME's default white says nothing


def _channels(pixels: ET.Element, count: int) -> list[Channel]:
    elements = _children(pixels, "Channel")
    channels = []
    for c in range(count):
        node = elements[c] if c < len(elements) else None
        attrib = dict(node.attrib) if node is not None else {}
        props = {f"ome.channel.{k}": v for k, v in attrib.items() if k not in ("ID", "Name", "Color")}
        name = attrib.get("Name") or attrib.get("Fluor") or f"channel {c}"
        channels.append(Channel(c, name, ome_color(attrib.get("Color")), props))
    return channels


def _first_pixels(root: ET.Element, path: str) -> ET.Element:
    for image in _children(root, "Image"):
        for pixels in _children(image, "Pixels"):
            return pixels
    raise SlideReadError(path, "the OME-XML has no Image with Pixels")


def _size(pixels: ET.Element, name: str, path: str) -> int:
    try:
        value = int(pixels.attrib.get(f"Size{name}", "1"))
    except ValueError:
        raise SlideReadError(path, f"the OME-XML's Size{name} is not a number") from None
    if not 1 <= value <= 1 << 16:
        raise SlideReadError(path, f"the OME-XML's Size{name} is {value}")
    return value


def _is_rgb(pixels: ET.Element, page) -> bool:
    samples = {c.attrib.get("SamplesPerPixel") for c in _children(pixels, "Channel")}
    return int(page.samplesperpixel) > 1 or "3" in samples


def read_layout(tif, pages: list) -> VendorLayout | None:
    """The channel layout of an OME-TIFF; None for an RGB one (a brightfield slide)."""
    path = tif.filehandle.path
    root = parse_xml(path, tif.ome_metadata or pages[0].description or "", "the OME-XML")
    pixels = _first_pixels(root, path)
    if _is_rgb(pixels, pages[0]):
        return None
    sizes = {name: _size(pixels, name, path) for name in _PLANE_AXES}
    channels = _channels(pixels, sizes["C"])
    series = _ome_series(tif, sizes, path)
    planes, missing = _planes(series, channels, path)
    present = [ch for ch in channels if ch.index not in missing]
    layout = ChannelLayout(
        present,
        (sizes["T"], sizes["Z"]),
        planes,
        z_spacing=_length_um(pixels, "Z") if sizes["Z"] > 1 else None,
        missing=[
            f"{channel_label(channels[c])} is named in the OME-XML but the file stores no image for it" for c in missing
        ],
    )
    check_planes(path, layout)
    mpp = _length_um(pixels, "X"), _length_um(pixels, "Y")
    props = {f"ome.{k}": v for k, v in pixels.attrib.items() if k != "ID"}
    return VendorLayout(
        layout.first,
        _associated(tif, series),
        props,
        mpp if None not in mpp else None,
        channels=layout,
    )


def _ome_series(tif, sizes: dict[str, int], path: str) -> list:
    """tifffile's OME series, level 0 first; the OME-XML's planes must be the series' planes."""
    try:
        series = list(tif.series)
    except Exception as exc:  # tifffile raises many types for damaged metadata
        raise SlideReadError(path, f"the OME-XML cannot be read ({exc})") from None
    named = sizes["T"] * sizes["C"] * sizes["Z"]
    if not series or series[0].kind != "ome":
        planes = f"{named} plane" + ("s" if named != 1 else "")
        raise SlideReadError(path, f"the OME-XML names {planes} but does not map them to the file's images (TiffData)")
    first = series[0]
    if getattr(first, "multifile", False):
        raise SlideReadError(path, "the images lie in several files (multi-file OME-TIFF is not supported)")
    return series


def _plane_keys(series, path: str) -> list[PlaneKey]:
    """The (channel, t, z) of each page of the series, in its storage order."""
    axes, shape = series.get_axes(False), series.get_shape(False)
    lead = [(a, n) for a, n in zip(axes, shape) if a not in "YXS"]
    for axis, n in lead:
        if axis not in _PLANE_AXES and n > 1:
            raise SlideReadError(path, f"OME axis {axis!r} ({n} planes) is not supported (only T, C and Z)")
    dims = [n for _, n in lead]
    names = [a for a, _ in lead]
    keys = []
    for flat in range(int(np.prod(dims)) if dims else 1):
        where = dict(zip(names, np.unravel_index(flat, dims))) if dims else {}
        keys.append((int(where.get("C", 0)), int(where.get("T", 0)), int(where.get("Z", 0))))
    return keys


def _as_page(item: Any, path: str, label: str):
    """A tifffile page of a plane (a TiffFrame loaded as a page: the level checks read its tags)."""
    if item is None:
        return None
    try:
        return item.aspage() if hasattr(item, "aspage") else item
    except Exception as exc:  # a damaged IFD
        raise SlideReadError(path, f"{label}: damaged IFD ({exc})") from None


def _level_series(series: list) -> list:
    """Level 0's series, then its coarser levels: SubIFDs, or the following OME Images of the same planes."""
    first = series[0]
    if len(first.levels) > 1:
        return list(first.levels)
    levels = [first]
    lead = first.get_shape(False)[:-3]
    for other in series[1:]:
        shape = other.get_shape(False)
        last = levels[-1].get_shape(False)
        if other.kind != "ome" or shape[:-3] != lead or other.dtype != first.dtype:
            break
        if not (shape[-2] < last[-2] and shape[-3] <= last[-3]):
            break
        levels.append(other)
    return levels


def _planes(series: list, channels: list[Channel], path: str) -> tuple[dict[PlaneKey, list[LevelPage]], set[int]]:
    """Each plane's level pages; the channels with no stored plane at all (reported, not dropped silently)."""
    planes: dict[PlaneKey, list[LevelPage]] = {}
    absent: dict[int, list[PlaneKey]] = {}
    for level, level_series in enumerate(_level_series(series)):
        keys = _plane_keys(level_series, path)
        items = list(level_series.pages)
        if len(items) != len(keys):
            raise SlideReadError(path, f"level {level} stores {len(items)} planes where the OME-XML names {len(keys)}")
        for key, item in zip(keys, items):
            if key[0] >= len(channels):
                raise SlideReadError(path, f"the file stores channel {key[0]}, which the OME-XML does not name")
            label = f"{channel_label(channels[key[0]])}, t={key[1]}, z={key[2]}, level {level}"
            page = _as_page(item, path, label)
            if page is None:
                if level == 0:
                    absent.setdefault(key[0], []).append(key)
                continue
            if level == 0 or key in planes and len(planes[key]) == level:
                planes.setdefault(key, []).append(LevelPage(page))
    missing = {c for c, keys in absent.items() if not any(k[0] == c for k in planes)}
    for c, keys in absent.items():
        if c not in missing:  # some planes of the channel stored, some not
            t, z = keys[0][1:]
            raise SlideReadError(path, f"{channel_label(channels[c])} has no image for t={t}, z={z}")
    return planes, missing


def _associated(tif, series: list) -> dict[str, Any]:
    """Single-page Images named label, macro or thumbnail (as Bio-Formats converts them)."""
    found = {}
    for other in series[1:]:
        name = (other.name or "").lower()
        for kind in ("label", "macro", "thumbnail"):
            if kind in name and kind not in found and len(other.pages) == 1 and other.pages[0] is not None:
                with contextlib.suppress(Exception):  # a damaged associated image is left out; the slide is fine
                    found[kind] = other.pages[0].aspage() if hasattr(other.pages[0], "aspage") else other.pages[0]
    return found
