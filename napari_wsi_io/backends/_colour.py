"""Which colours a slide's reads return: the file's pixels ("raw") or their sRGB rendering ("srgb").

Scanners (Aperio GT450, Philips, Hamamatsu, DICOM) embed an ICC profile; the colours are the scanner's
only after it is applied.  The profile is looked for where OpenSlide looks (TIFF tag 34675 of level 0,
the DICOM optical path through OpenSlide) and in Philips' XML (DICOM_ICCPROFILE, base64).
``open_slide`` reads in sRGB wherever there is a profile, unless ``colour="raw"`` or
``NAPARI_WSI_IO_COLOUR=raw``; ``bench`` and ``convert`` ask for raw unless told otherwise.  A profile
that is damaged or not for RGB pixels gives the raw pixels and a one-time warning naming the file.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import os
import threading
import warnings
from typing import TYPE_CHECKING

import numpy as np

from ._lcms import SrgbTransform

if TYPE_CHECKING:
    from ._base import Slide

__all__ = [
    "COLOURS",
    "COLOUR_ENV_VAR",
    "colour_attributes",
    "colour_metadata",
    "embedded_profile",
    "resolve_colour",
    "use_colour",
]

COLOUR_ENV_VAR = "NAPARI_WSI_IO_COLOUR"
COLOURS = ("srgb", "raw")
_ICC_TAG = 34675
_PHILIPS_ICC = "philips.DICOM_ICCPROFILE"
_warned: set[str] = set()
_warned_lock = threading.Lock()


def resolve_colour(colour: str | None) -> str:
    """``colour``, else ``$NAPARI_WSI_IO_COLOUR``, else "srgb"; checked and lower-cased."""
    value = (colour or os.environ.get(COLOUR_ENV_VAR) or "srgb").strip().lower()
    if value not in COLOURS:
        raise ValueError(f"unknown colour {value!r}; choose from {', '.join(COLOURS)}")
    return value


def embedded_profile(slide: Slide) -> bytes | None:
    """The ICC profile the slide's file embeds for its main image, or None.  Reads no pixels."""
    layout = slide.layout
    if hasattr(layout, "icc_profile"):  # a format OpenSlide reads (DICOM): its profile
        return layout.icc_profile()
    tags = getattr(layout.level_pages[0], "tags", None)
    try:
        tag = tags.get(_ICC_TAG) if tags is not None else None
        value = tag.value if tag is not None else None
    except Exception:  # tifffile parses tags lazily and raises many types for a damaged one
        return b""  # present but unreadable: reported as damaged
    if value is not None:
        return bytes(value)
    text = slide.properties.get(_PHILIPS_ICC)
    if text:
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            return b""
    return None


@functools.lru_cache(maxsize=8)
def _transform(icc: bytes) -> SrgbTransform:
    """One transform per profile, shared by the slides that embed it (built in about a millisecond)."""
    return SrgbTransform(icc)


def use_colour(slide: Slide, colour: str | None = None) -> Slide:
    """Set what the slide's reads return (``resolve_colour``) and return it.

    ``slide.icc_profile`` is the embedded profile whichever is chosen; ``slide.colour`` is "srgb" only where
    the profile is applied.  Only 8-bit RGB pixels are transformed.
    """
    wanted = resolve_colour(colour)
    icc = embedded_profile(slide)
    slide.icc_profile = icc or None
    slide.colour, slide.colour_transform = "raw", None
    if wanted == "raw" or icc is None:
        return slide
    try:
        if not icc:
            raise ValueError("an ICC profile that cannot be read")
        if slide.samples != 3 or slide.dtype != np.uint8:
            raise ValueError(f"{slide.samples}-sample {slide.dtype} pixels; only 8-bit RGB is rendered to sRGB")
        transform = _transform(icc)
    except ValueError as exc:
        _warn_once(slide.path, str(exc))
        return slide
    slide.colour, slide.colour_transform = "srgb", transform
    return slide


def _warn_once(path: str, reason: str) -> None:
    with _warned_lock:
        if path in _warned:
            return
        _warned.add(path)
    warnings.warn(f"{path}: {reason}; showing the raw pixels, without colour management", RuntimeWarning, stacklevel=4)


def colour_metadata(slide: Slide) -> dict:
    """What a layer's metadata says about colour: which pixels it shows ("srgb" or "raw"), and the profile."""
    return {
        "colour": slide.colour,
        "icc_profile": slide.icc_profile,
        "icc_profile_description": _description(slide.icc_profile) if slide.icc_profile else None,
    }


def colour_attributes(slide: Slide) -> dict:
    """``colour_metadata`` as JSON for a store's attributes: the profile in base64."""
    meta = colour_metadata(slide)
    icc = meta.pop("icc_profile")
    return {**meta, "icc_profile": base64.b64encode(icc).decode("ascii") if icc else None}


def _description(icc: bytes) -> str | None:
    from PIL import ImageCms

    try:
        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip() or None
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def reopen(reduced: tuple, colour: str) -> Slide:
    """Unpickle a slide: reopen it by path as ``Slide.__reduce__`` says, in the colour it was read in."""
    make, args = reduced[:2]
    return use_colour(make(*args), colour)
