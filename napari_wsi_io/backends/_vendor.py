"""What a vendor layout module returns: the scanned image's levels, its associated images, its metadata.

Each vendor (``_ndpi``, ``_scn``, ``_bif``, ``_philips``) has a small module with
``read_layout(tif, pages) -> VendorLayout`` that follows the format's own rules
(OpenSlide's format pages and tifffile's series), never "IFD 0 is level 0".
Slides with channels (``_ome``, ``_qptiff``) also list every channel's planes (``_channels``).
Generic TIFF, Aperio and RGB OME-TIFF use the rules in ``_tiff_layout``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._errors import SlideReadError

if TYPE_CHECKING:
    from ._channels import ChannelLayout

__all__ = ["EmbeddedJpeg", "LevelPage", "VendorLayout", "parse_xml"]


def parse_xml(path: str, text: str | bytes, what: str) -> ET.Element:
    """The vendor XML of ``path``; a clear error naming ``what`` ("Leica XML", ...) when it is damaged."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return ET.fromstring(text.strip("\x00 \r\n"))
    except (UnicodeDecodeError, ET.ParseError) as exc:
        raise SlideReadError(path, f"{what} is damaged ({exc})") from None


@dataclass(frozen=True)
class LevelPage:
    """The TIFF page of one pyramid level, and the level's real size (smaller than the page's where tiles pad it).

    ``_tiff_level.describe_level`` checks it and turns it into a ``TiffLevel``.
    """

    page: Any
    width: int | None = None
    height: int | None = None
    #: The value of tiles the format may leave unstored (bytecount 0, Philips); None: a missing tile is damage.
    fill: int | None = None
    #: For a level stitched from overlapping tiles (Ventana): (rows, cols), the TIFF row of each
    #: level row and the TIFF column of each level column; width and height are the stitched size.
    remap: tuple[Any, Any] | None = None

    @property
    def size(self) -> tuple[int, int] | None:
        return None if self.width is None else (self.width, self.height)


@dataclass(frozen=True)
class EmbeddedJpeg:
    """An associated image stored outside any IFD as one JPEG stream (Philips: base64 in the XML).

    It offers the few page attributes the reader looks at; ``TiffLayout.associated_tiles``
    reads it through the same JPEG check as a tile.
    """

    data: bytes
    imagewidth: int
    imagelength: int
    samplesperpixel: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.imagelength, self.imagewidth, self.samplesperpixel)


@dataclass
class VendorLayout:
    """The scanned image as a vendor lays it out."""

    #: Level 0 first: the scanned image only, never label, macro or thumbnail.
    levels: list[LevelPage]
    #: Label, macro, thumbnail, ...: name -> TIFF page (or ``EmbeddedJpeg``).
    associated: dict[str, Any] = field(default_factory=dict)
    #: Vendor metadata with OpenSlide's prefixes ("hamamatsu.", "leica.", "ventana.", "philips.").
    properties: dict[str, str] = field(default_factory=dict)
    #: Microns per pixel (x, y) at level 0, or None to take the resolution tags.
    mpp: tuple[float, float] | None = None
    #: A slide that stores channels (``_ome``, ``_qptiff``): each plane's level pages; ``levels`` is the first.
    channels: ChannelLayout | None = None
