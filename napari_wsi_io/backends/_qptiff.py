"""Akoya (PerkinElmer) QPTIFF, the PhenoImager and Vectra layout: one page per channel per level.

Every page's ImageDescription is a ``<PerkinElmer-QPI-ImageDescription>`` whose ``ImageType`` says what it
is: the ``FullResolution`` pages are the channels' level 0 (one page each, in channel order, with the
channel's ``Name``, ``Biomarker`` and ``Color``); a ``Thumbnail`` follows; the ``ReducedResolution``
pages are the coarser levels, one page per channel per level; then the ``Overview`` (the macro) and the
``Label``.  Here the pages are sorted by their own ImageType, not by tifffile's series, which end level 0
at the first page of another size: a channel page of the wrong size must be an error naming the channel,
never a channel silently left out.

A brightfield QPTIFF (one RGB page a level) is not a channel layout: ``read_layout`` returns None and it
opens as before, by the generic rules.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from .._errors import SlideReadError
from ._channels import Channel, ChannelLayout, channel_label, check_planes
from ._vendor import LevelPage, VendorLayout, parse_xml

__all__ = ["read_layout"]

_ASSOCIATED = {"Thumbnail": "thumbnail", "Overview": "macro", "Label": "label"}
_CHANNEL_FIELDS = ("Name", "Biomarker", "ExposureTime", "SignalUnits", "IsUnmixedComponent", "Color")


def _text(root: ET.Element, name: str) -> str | None:
    node = root.find(name)
    return node.text.strip() if node is not None and node.text and node.text.strip() else None


def _color(text: str | None) -> tuple[int, int, int] | None:
    """QPTIFF's ``r,g,b``."""
    try:
        rgb = tuple(int(v) for v in (text or "").split(","))
    except ValueError:
        return None
    return rgb if len(rgb) == 3 and all(0 <= v <= 255 for v in rgb) else None  # type: ignore[return-value]


def _described(path: str, pages: list) -> list[tuple[Any, ET.Element]]:
    """Each page and its QPI description; a page without one ends the list (none follows in a QPTIFF)."""
    out = []
    for i, page in enumerate(pages):
        text = page.description or ""
        if "PerkinElmer-QPI-ImageDescription" not in text[:512]:
            if i == 0:
                raise SlideReadError(path, "QPTIFF: the first page has no PerkinElmer-QPI-ImageDescription")
            break
        out.append((page, parse_xml(path, text, f"the QPTIFF XML of page {i}")))
    return out


def _channel(index: int, root: ET.Element) -> Channel:
    name, biomarker = _text(root, "Name"), _text(root, "Biomarker")
    props = {f"qptiff.{k}": v for k in _CHANNEL_FIELDS if (v := _text(root, k)) is not None}
    return Channel(index, biomarker or name or f"channel {index}", _color(_text(root, "Color")), props)


def read_layout(tif, pages: list) -> VendorLayout | None:
    """The channel layout of a QPTIFF; None for a brightfield one."""
    path = tif.filehandle.path
    described = _described(path, pages)
    full = [(p, x) for p, x in described if _text(x, "ImageType") == "FullResolution"]
    if not full:
        raise SlideReadError(path, "QPTIFF: no FullResolution image")
    if int(full[0][0].samplesperpixel) != 1:
        return None
    channels = [_channel(i, x) for i, (_, x) in enumerate(full)]
    _check_sizes(path, [p for p, _ in full], channels)
    reduced = [p for p, x in described if _text(x, "ImageType") == "ReducedResolution"]
    levels = [[p for p, _ in full], *_reduced_levels(reduced, len(channels))]
    planes = {(c.index, 0, 0): [LevelPage(level[c.index]) for level in levels] for c in channels}
    layout = ChannelLayout(channels, (1, 1), planes)
    check_planes(path, layout)
    associated = {}
    for page, xml in described:
        name = _ASSOCIATED.get(_text(xml, "ImageType") or "")
        if name and name not in associated:
            associated[name] = page
    page0, xml0 = full[0]
    mpp = None if "XResolution" in page0.tags else _mpp(xml0)  # the resolution tags say, where present
    return VendorLayout(layout.first, associated, _properties(xml0), mpp, channels=layout)


def _check_sizes(path: str, pages: list, channels: list[Channel]) -> None:
    w0, h0 = int(pages[0].imagewidth), int(pages[0].imagelength)
    for page, channel in zip(pages, channels):
        w, h = int(page.imagewidth), int(page.imagelength)
        if (w, h) != (w0, h0) or page.dtype != pages[0].dtype:
            raise SlideReadError(
                path,
                f"QPTIFF: {channel_label(channel)} is {w}x{h} px of {page.dtype} where "
                f"{channel_label(channels[0])} is {w0}x{h0} px of {pages[0].dtype}",
            )


def _reduced_levels(pages: list, channels: int) -> list[list]:
    """The ReducedResolution pages in groups of one page per channel, each group smaller than the last.

    A group that is short of a channel, or not uniform, ends the pyramid there: the levels above are complete.
    """
    levels: list[list] = []
    i = 0
    while i + channels <= len(pages):
        group = pages[i : i + channels]
        size = (int(group[0].imagewidth), int(group[0].imagelength))
        if any((int(p.imagewidth), int(p.imagelength)) != size or p.dtype != group[0].dtype for p in group):
            break
        if levels and not size[0] < int(levels[-1][0].imagewidth):
            break
        levels.append(group)
        i += channels
    return levels


def _properties(root: ET.Element) -> dict[str, str]:
    props = {}
    for node in root:
        if len(node) == 0 and node.text and node.text.strip() and node.tag not in ("Name", "Biomarker", "Color"):
            props[f"qptiff.{node.tag}"] = node.text.strip()[:256]
    return props


def _mpp(root: ET.Element) -> tuple[float, float] | None:
    """The pixel size the scan profile gives (``PixelSizeMicrons``), for a page without resolution tags."""
    for node in root.iter("PixelSizeMicrons"):
        try:
            value = float(node.text or "")
        except ValueError:
            continue
        if 0 < value < 1000:
            return (value, value)
    return None
