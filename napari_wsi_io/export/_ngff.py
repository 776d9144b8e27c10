"""The NGFF metadata of an exported slide: axes, multiscales datasets and omero channels.

NGFF 0.5 (Zarr v3) keeps them under ``ome`` in the group's ``zarr.json`` with one
``version`` for the whole block; NGFF 0.4 (Zarr v2) puts them at the top of
``.zattrs`` with a ``version`` in each multiscale.

Axes are ``c, y, x`` for RGB slides, ``y, x`` for grayscale ones and ``[t,] c, [z,] y, x``
for a slide that stores channels (``_planes``), whose ``omero`` names and colours
each channel and gives it the window the viewer's contrast limits use.  NGFF 0.4
requires a channel axis to come before the space axes (ome-zarr-py's reader
rejects ``y, x, c`` with "'space' axes must come after 'channel'"), so the
interleaved RGB of the slide is stored as three planes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backends import PlanesAsSamples, Slide, colour_attributes
from ._codecs import Compression
from ._planes import lead_axes

__all__ = ["NGFF_VERSION", "image_attributes", "level_scale"]

NGFF_VERSION = "0.5"  # the default
_RGB = (("red", "FF0000"), ("green", "00FF00"), ("blue", "0000FF"))


def level_scale(slide: Slide, level: int) -> tuple[float, float]:
    """(y, x) pixel size of a level: micrometre when the slide's mpp is known, else level-0 pixels.

    Each axis uses its own downsample (level-0 size / level size), so a level
    whose size was rounded still spans exactly the physical extent of level 0.
    """
    w0, h0 = slide.dimensions
    w, h = slide.level_dimensions[level]
    mpp_x, mpp_y = slide.mpp or (1.0, 1.0)
    return mpp_y * h0 / h, mpp_x * w0 / w


def _axes(slide: Slide) -> list[dict]:
    unit = {"unit": "micrometer"} if slide.mpp else {}
    space = [{"name": "y", "type": "space", **unit}, {"name": "x", "type": "space", **unit}]
    lead = [{"name": a.name, "type": a.type, **({"unit": a.unit} if a.unit else {})} for a in lead_axes(slide)]
    return lead + space


def _datasets(slide: Slide, levels: list[int]) -> list[dict]:
    base_y, base_x = level_scale(slide, 0)
    lead = [axis.scale for axis in lead_axes(slide)]
    datasets = []
    for i, level in enumerate(levels):
        sy, sx = level_scale(slide, level)
        # A level pixel covers `downsample` level-0 pixels: its centre sits half of that further in.
        ty, tx = (sy - base_y) / 2, (sx - base_x) / 2
        datasets.append(
            {
                "path": str(i),
                "coordinateTransformations": [
                    {"type": "scale", "scale": [*lead, sy, sx]},
                    {"type": "translation", "translation": [*[0.0] * len(lead), ty, tx]},
                ],
            }
        )
    return datasets


def _omero_channel(label: str, color: str, window: tuple[float, float], bounds: tuple[float, float]) -> dict:
    return {
        "label": label,
        "color": color,
        "active": True,
        "coefficient": 1.0,
        "family": "linear",
        "inverted": False,
        "window": {"start": window[0], "end": window[1], "min": bounds[0], "max": bounds[1]},
    }


def _omero(slide: Slide) -> dict:
    """RGB's red, green and blue; grey; or a channel slide's names, colours and windows from the data."""
    if isinstance(slide, PlanesAsSamples):
        return _channel_omero(slide)
    top = (1 << (8 * slide.dtype.itemsize)) - 1
    names = _RGB if slide.samples == 3 else (("gray", "FFFFFF"),)
    channels = [_omero_channel(label, color, (0, top), (0, top)) for label, color in names]
    return {"channels": channels, "rdefs": {"model": "color" if slide.samples == 3 else "greyscale"}}


def _channel_omero(slide: PlanesAsSamples) -> dict:
    """Each channel's name, colour and window (the percentiles the viewer's contrast limits use)."""
    from .._channel_layers import contrast_limits, sample_pixels

    dtype = np.dtype(slide.dtype)
    t_count, z_count = slide.channels.sizes
    channels = []
    for channel in slide.channels.channels:
        plane = slide.parent.plane((channel.index, t_count // 2, z_count // 2))
        pixels = sample_pixels(plane)
        window = contrast_limits(pixels)
        if dtype.kind in "ui":
            bounds = (float(np.iinfo(dtype).min), float(np.iinfo(dtype).max))
        else:
            bounds = (float(np.nanmin(pixels)), float(np.nanmax(pixels)))
        color = "{:02X}{:02X}{:02X}".format(*channel.display_color)
        channels.append(_omero_channel(channel.name, color, tuple(float(v) for v in window), bounds))
    return {"channels": channels, "rdefs": {"model": "color", "defaultZ": z_count // 2, "defaultT": t_count // 2}}


def image_attributes(
    slide: Slide, levels: list[int], compression: Compression, version: str, ngff: str = NGFF_VERSION
) -> dict:
    """Group attributes of the exported image (written last: they mark the store as an image)."""
    multiscale = {
        "name": Path(slide.path).name,
        "axes": _axes(slide),
        "datasets": _datasets(slide, levels),
        "metadata": {"description": "the slide's own pyramid levels, not resampled", "levels": levels},
    }
    if ngff == "0.4":
        image = {"multiscales": [{"version": ngff, **multiscale}], "omero": _omero(slide)}
    else:
        image = {"ome": {"version": ngff, "multiscales": [multiscale], "omero": _omero(slide)}}
    return {
        **image,
        "napari_wsi_io": {
            "version": version,
            "source": slide.path,
            "vendor": slide.vendor,
            "backend": slide.backend,
            "mpp": list(slide.mpp) if slide.mpp else None,
            "levels": levels,
            "compression": str(compression),
            **colour_attributes(slide),  # "colour" of the arrays; the slide's ICC profile, base64
        },
    }
