"""The NGFF metadata of an exported slide: axes, multiscales datasets and omero channels.

NGFF 0.5 (Zarr v3) keeps them under ``ome`` in the group's ``zarr.json`` with one
``version`` for the whole block; NGFF 0.4 (Zarr v2) puts them at the top of
``.zattrs`` with a ``version`` in each multiscale.

Axes are ``c, y, x`` for RGB slides and ``y, x`` for grayscale ones.  NGFF 0.4
requires a channel axis to come before the space axes (ome-zarr-py's reader
rejects ``y, x, c`` with "'space' axes must come after 'channel'"), so the
interleaved RGB of the slide is stored as three planes.
"""

from __future__ import annotations

from pathlib import Path

from ..backends import Slide, colour_attributes
from ._codecs import Compression

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
    return ([{"name": "c", "type": "channel"}] if slide.samples > 1 else []) + space


def _datasets(slide: Slide, levels: list[int]) -> list[dict]:
    base_y, base_x = level_scale(slide, 0)
    channel = [1.0] if slide.samples > 1 else []
    datasets = []
    for i, level in enumerate(levels):
        sy, sx = level_scale(slide, level)
        # A level pixel covers `downsample` level-0 pixels: its centre sits half of that further in.
        ty, tx = (sy - base_y) / 2, (sx - base_x) / 2
        datasets.append(
            {
                "path": str(i),
                "coordinateTransformations": [
                    {"type": "scale", "scale": [*channel, sy, sx]},
                    {"type": "translation", "translation": [*[0.0] * len(channel), ty, tx]},
                ],
            }
        )
    return datasets


def _omero(slide: Slide) -> dict:
    top = (1 << (8 * slide.dtype.itemsize)) - 1
    names = _RGB if slide.samples == 3 else (("gray", "FFFFFF"),)
    channels = [
        {
            "label": label,
            "color": color,
            "active": True,
            "coefficient": 1.0,
            "family": "linear",
            "inverted": False,
            "window": {"start": 0, "end": top, "min": 0, "max": top},
        }
        for label, color in names
    ]
    return {"channels": channels, "rdefs": {"model": "color" if slide.samples == 3 else "greyscale"}}


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
