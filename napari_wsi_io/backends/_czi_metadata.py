"""What a CZI's directory and metadata XML say: its planes, pixel type, channels, colours and pixel size.

The planes are what the subblocks hold (every channel needs every t and z plane; a channel the metadata names
but no subblock holds is reported missing).  Names are the metadata's ``Channel/@Name``, colours the display
settings' ``#AARRGGBB`` (else the fluorescence palette), and the scaling's ``Distance`` values are metres.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .._errors import SlideReadError
from ._channels import Channel, ChannelLayout, PlaneKey, channel_label
from ._czi_directory import DirectoryEntry

__all__ = ["CziMetadata", "parse_metadata"]

_RGB_TYPES = {3, 4, 8}  # Bgr24, Bgr48, Bgr96Float
_PIXEL_TYPE_NAMES = {0: "Gray8", 1: "Gray16", 2: "Gray32Float", 3: "Bgr24", 4: "Bgr48", 8: "Bgr96Float"}
_MAX_INDEX = 1 << 12  # channels, time points or focal planes
_PLANE_DIMS = {"X", "Y", "C", "Z", "T", "S", "M", "B"}  # B is deprecated, always 0


@dataclass
class CziMetadata:
    """The planes and metadata of a CZI (``plane_keys`` use the file's C and T, Z counted from 0)."""

    pixel_type: int
    plane_keys: list[PlaneKey]
    #: The first C, T and Z index the subblocks use (CZI indices need not start at 0).
    starts: tuple[int, int, int]
    channel_layout: ChannelLayout | None
    mpp: tuple[float, float] | None
    properties: dict[str, str] = field(default_factory=dict)

    def plane_key(self, c: int, t: int, z: int) -> PlaneKey:
        return (c, t - self.starts[1], z - self.starts[2])

    def plane_coords(self, key: PlaneKey) -> dict[str, int]:
        c, t, z = key
        return {"C": c, "T": t + self.starts[1], "Z": z + self.starts[2]}


def _xml(path: str, text: str) -> ET.Element | None:
    try:
        return ET.fromstring(text) if text.strip() else None
    except ET.ParseError:
        return None  # names and colours then come from the palette; the pixels do not need them


def _um(root: ET.Element | None, axis: str) -> float | None:
    if root is None:
        return None
    for node in root.iterfind("./Metadata/Scaling/Items/Distance"):
        if node.get("Id") == axis:
            try:
                value = float(node.findtext("Value") or "") * 1e6
            except ValueError:
                return None
            return value if 0 < value < 1e6 else None
    return None


def _color(text: str | None) -> tuple[int, int, int] | None:
    """``#AARRGGBB`` or ``#RRGGBB``."""
    digits = (text or "").strip().lstrip("#")
    try:
        value = int(digits, 16)
    except ValueError:
        return None
    if len(digits) not in (6, 8):
        return None
    return ((value >> 16) & 255, (value >> 8) & 255, value & 255)


def _channels(root: ET.Element | None, stored: list[int]) -> tuple[list[Channel], list[str]]:
    """The stored channels, named and coloured by the metadata; messages for channels named but not stored."""
    named = root.findall("./Metadata/Information/Image/Dimensions/Channels/Channel") if root is not None else []
    shown = root.findall("./Metadata/DisplaySetting/Channels/Channel") if root is not None else []
    channels, missing = [], []
    for c in sorted(set(stored) | set(range(len(named)))):
        node = named[c] if c < len(named) else None
        name = (node.get("Name") if node is not None else None) or f"channel {c}"
        # The display setting's colour; Zeiss files may also keep one with the channel's own description.
        color = _color(shown[c].findtext("Color")) if c < len(shown) else None
        color = color or (_color(node.findtext("Color")) if node is not None else None)
        props = {"czi.channel.Id": node.get("Id", "")} if node is not None else {}
        channel = Channel(c, name, color, props)
        if c in stored:
            channels.append(channel)
        else:
            missing.append(f"{channel_label(channel)} is named in the CZI metadata but no subblock holds it")
    return channels, missing


def _indices(entries: list[DirectoryEntry], path: str) -> tuple[list[int], range, range]:
    """The C indices, and the T and Z ranges, of the full-resolution subblocks."""
    full = [e for e in entries if e.zoom == 1]
    for e in full:
        for name, (_, size, _) in e.dims.items():
            if name not in _PLANE_DIMS and size > 1:
                raise SlideReadError(path, f"CZI dimension {name!r} is not supported (only C, Z, T and scenes)")
    cs = sorted({e.index("C") for e in full})
    ts, zs = ({e.index(d) for e in full} for d in ("T", "Z"))
    for name, values in (("C", cs), ("T", ts), ("Z", zs)):
        if min(values) < 0 or max(values) - min(values) >= _MAX_INDEX:
            raise SlideReadError(path, f"damaged CZI: subblock {name} indices {min(values)}..{max(values)}")
    return cs, range(min(ts), max(ts) + 1), range(min(zs), max(zs) + 1)


def _pixel_type(entries: list[DirectoryEntry], path: str, label) -> int:
    types = {}
    for e in entries:
        types.setdefault(e.index("C"), e.pixel_type)
        if types[e.index("C")] != e.pixel_type:
            raise SlideReadError(path, f"{label(e.index('C'))}: subblocks of several pixel types")
    first = next(iter(types.values()))
    for c, t in types.items():
        if t != first:
            names = _PIXEL_TYPE_NAMES[t], _PIXEL_TYPE_NAMES[first]
            raise SlideReadError(path, f"{label(c)} is {names[0]} where the first channel is {names[1]}")
    return first


def parse_metadata(path: str, text: str, entries: list[DirectoryEntry]) -> CziMetadata:
    """The planes (every channel must hold every t and z plane), channels and pixel size of a CZI."""
    root = _xml(path, text)
    cs, ts, zs = _indices(entries, path)
    channels, missing = _channels(root, cs)
    by_index = {ch.index: ch for ch in channels}
    pixel_type = _pixel_type(entries, path, lambda c: channel_label(by_index[c]) if c in by_index else f"channel {c}")
    held = {(e.index("C"), e.index("T"), e.index("Z")) for e in entries if e.zoom == 1}
    keys = []
    for c in cs:
        for t in ts:
            for z in zs:
                if (c, t, z) not in held:
                    where = f"t={t - ts.start}, z={z - zs.start}"
                    raise SlideReadError(path, f"{channel_label(by_index[c])} has no subblock for {where}")
                keys.append((c, t - ts.start, z - zs.start))
    layout = None
    if pixel_type in _RGB_TYPES:
        if len(cs) > 1 or len(ts) > 1 or len(zs) > 1:
            raise SlideReadError(path, "a colour (BGR) CZI with several channels or planes is not supported")
    else:
        z_spacing = _um(root, "Z") if len(zs) > 1 else None
        layout = ChannelLayout(channels, (len(ts), len(zs)), {}, z_spacing=z_spacing, missing=missing)
    mpp = _um(root, "X"), _um(root, "Y")
    props = {"czi.pixel_type": _PIXEL_TYPE_NAMES[pixel_type], "czi.subblocks": str(len(entries))}
    if root is None and text.strip():
        props["czi.metadata"] = "damaged XML (names and colours from the palette)"
    return CziMetadata(pixel_type, keys, (cs[0], ts.start, zs.start), layout, mpp if None not in mpp else None, props)
