"""A whole slide (TIFF-based, an OpenSlide format, a DICOM folder, a Zeiss CZI; a TIFF-based one at an
``https://``, ``s3://``, ... URL too) as one lazy multiscale layer, grey or RGB; a slide that stores channels
(OME-TIFF, QPTIFF, CZI) as a layer per channel (``_channel_layers``).

Nothing here needs Qt or a viewer (scripts read slides through it too); napari's reader command wraps it.
"""

from __future__ import annotations

import os
import time
import urllib.parse
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ._channel_layers import channel_layers, contrast_limits, sample_pixels
from ._errors import SlideFetchError, SlideReadError
from .backends import (
    Slide,
    colour_metadata,
    dicom_file,
    is_czi_file,
    is_tiff_file,
    is_url,
    open_slide,
    openslide_format,
)
from .pyramid import display_pyramid

__all__ = ["associated_layers", "napari_get_reader", "read_slide", "slide_layers"]

TIFF_SUFFIXES = (".tif", ".tiff", ".svs", ".ndpi", ".scn", ".bif", ".qptiff")
OTHER_SUFFIXES = (".czi",)  # Zeiss, read with libCZI
# Formats OpenSlide reads and tifffile does not (napari.yaml lists the same patterns).
OPENSLIDE_SUFFIXES = (".mrxs", ".vms", ".vmu", ".svslide", ".dcm")
SUFFIXES = TIFF_SUFFIXES + OPENSLIDE_SUFFIXES + OTHER_SUFFIXES
_ASSOCIATED_MAX_PIXELS = 1 << 24
LayerData = tuple


def napari_get_reader(path: str | list[str]) -> Callable[[str | list[str]], list[LayerData]] | None:
    """Return ``read_slide`` for a single whole slide (file, or DICOM folder); None, quietly, otherwise."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    path = os.fspath(path)
    if is_url(path):  # a slide suffix on the URL's path (a query may follow): TIFF-based slides only
        return read_slide if urllib.parse.urlsplit(path).path.lower().endswith(SUFFIXES) else None
    if os.path.isdir(path):
        return read_slide if dicom_file(path) else None
    if path.lower().endswith(".dcm"):  # DICOM of other modalities belongs to other readers
        return read_slide if openslide_format(path) == "dicom" else None
    # A bad file with a slide suffix is still ours, so that the user gets a
    # precise error instead of "no reader found".
    if path.lower().endswith(SUFFIXES) or (os.path.isfile(path) and (is_tiff_file(path) or is_czi_file(path))):
        return read_slide
    return None


def read_slide(path: str | list[str]) -> list[LayerData]:
    """Each slide's layers (``slide_layers``)."""
    paths = [path] if isinstance(path, (str, os.PathLike)) else path
    return [layer for p in paths for layer in slide_layers(p)]


_notified: set[str] = set()
_fetch_notified: dict[str, float] = {}
_FETCH_QUIET = 10.0  # seconds: a dropped connection fails many chunks at once, and may drop again later


def _notify(exc: SlideReadError) -> None:
    """Show a damaged tile once in napari; panning over it again stays quiet.  A failed remote fetch is
    shown again when it happens again after a quiet while."""
    if isinstance(exc, SlideFetchError):
        now = time.monotonic()
        if now - _fetch_notified.get(str(exc), -_FETCH_QUIET) < _FETCH_QUIET:
            return
        _fetch_notified[str(exc)] = now
    elif str(exc) in _notified:
        return
    _notified.add(str(exc))
    from napari.utils.notifications import show_error

    show_error(str(exc))


def level_table(slide: Slide) -> list[dict]:
    return [
        {"level": i, "width": w, "height": h, "downsample": round(d, 4), "tile_width": tw, "tile_height": th}
        for i, ((w, h), d, (tw, th)) in enumerate(
            zip(slide.level_dimensions, slide.level_downsamples, slide.level_tile_sizes)
        )
    ]


def _units(mpp) -> tuple[str, str]:
    return ("micrometer", "micrometer") if mpp else ("pixel", "pixel")


def slide_layers(path: str | os.PathLike, backend: str | None = None) -> list[LayerData]:
    """The slide as one multiscale image layer, or one per channel (its associated images: ``associated_layers``)."""
    slide = open_slide(path, backend)
    mpp = slide.mpp
    scale = (mpp[1], mpp[0]) if mpp else (1.0, 1.0)
    units = _units(mpp)
    metadata = {
        "path": slide.path,
        "backend": slide.backend,
        "fallback_reason": slide.fallback_reason,
        "vendor": slide.vendor,
        "mpp": mpp,
        "levels": level_table(slide),
        "associated_images": list(slide.associated_images),
        "properties": slide.properties,
        **colour_metadata(slide),  # "colour": "srgb" or "raw", and the embedded ICC profile
    }
    if slide.channels is not None:
        return channel_layers(slide, _notify, metadata)
    if slide.dtype == np.uint8 or (slide.dtype == np.uint16 and slide.backend != "czi"):
        limits = (0, 255) if slide.dtype.itemsize == 1 else (0, 65535)
    else:  # 32-bit, floating-point, a CZI's 16-bit colour: the dtype's range says nothing about the data
        limits = contrast_limits(sample_pixels(slide))
    kwargs = {
        "name": Path(slide.path).stem,
        "multiscale": True,
        "rgb": slide.samples == 3,
        "scale": scale,
        "units": units,
        "contrast_limits": limits,
        # napari's dask cache is not bounded by our cache's size; ours already keeps chunks.
        "cache": False,
        "metadata": metadata,
    }
    return [(display_pyramid(slide, on_error=_notify), kwargs, "image")]


def associated_layers(
    path: str | os.PathLike, names: list[str] | None = None, backend: str | None = None
) -> list[LayerData]:
    """The slide's label, macro and thumbnail images (or those in ``names``) as image layers.

    They sit side by side over the slide's top-left corner, a quarter of its height: inside the
    slide's extent, so "reset view" still frames the tissue.  Each has its place whichever are
    opened; a damaged or huge one is left out with a warning.
    """
    with open_slide(path, backend) as slide:
        mpp = slide.mpp
        scale = mpp[1] if mpp else 1.0
        units = _units(mpp)
        stem = Path(slide.path).stem
        height = slide.dimensions[1] * scale / 4
        layers, offset = [], 0.0
        for name in slide.associated_images:
            page = slide.layout.associated_pages[name]
            s = height / page.imagelength
            left, offset = offset, offset + page.imagewidth * s
            if names is not None and name not in names:
                continue
            if page.imagelength * page.imagewidth > _ASSOCIATED_MAX_PIXELS:
                warnings.warn(f"cannot read {slide.path}: associated image {name!r} is too large to show", stacklevel=2)
                continue
            try:
                image = slide.read_associated(name)
            except SlideReadError as exc:
                warnings.warn(str(exc), stacklevel=2)
                continue
            kwargs = {
                "name": f"{stem} {name}",
                "rgb": image.ndim == 3 and image.shape[-1] in (3, 4),
                "scale": (s, s),
                "translate": (0.0, left),
                "units": units,
                "metadata": {"path": slide.path, "associated_image": name},
            }
            layers.append((image, kwargs, "image"))
        return layers
