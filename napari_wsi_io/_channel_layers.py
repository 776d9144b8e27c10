"""A slide that stores channels as napari expects it: one image layer per channel.

What napari's ``channel_axis`` would give (a layer per channel, named and coloured, additive blending),
built here instead: ``channel_axis`` splits a layer by slicing its levels, and those slices are plain
dask arrays that would lose the chunk cache, prefetch and coarse stand-ins and decode every channel.
Each layer here is a display pyramid over its own channel's planes (``backends._plane``), so it decodes
only its channel's tiles; T and Z, where the slide has them, are slider axes (``_display.stack``).

Contrast limits come from the data (percentiles of the coarsest level), never the dtype's range: a
16-bit fluorescence channel rarely spans more than a few thousand grey values.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._display.stack import PlaneStack, StackedDisplay
from ._errors import SlideReadError
from .backends import Slide
from .backends._channels import Channel
from .pyramid import display_pyramid, display_state

__all__ = ["channel_layers", "contrast_limits", "sample_pixels"]

_PERCENTILES = (0.5, 99.5)
_SAMPLE_PIXELS = 1 << 21  # the coarsest level is read whole up to this; larger, a grid of tiles of it
_SAMPLE_TILES = 16


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def sample_pixels(slide: Slide) -> np.ndarray:
    """The coarsest level's pixels, or an even grid of its tiles where it is large (no pyramid)."""
    level = slide.level_count - 1
    w, h = slide.level_dimensions[level]
    if w * h <= _SAMPLE_PIXELS:
        return slide.read_level(level, 0, 0, w, h)
    tw, th = slide.level_tile_sizes[level]
    ys = np.unique(np.linspace(0, (h - 1) // th, 4).round().astype(int)) * th
    xs = np.unique(np.linspace(0, (w - 1) // tw, _SAMPLE_TILES // 4).round().astype(int)) * tw
    parts = [slide.read_level(level, int(x), int(y), min(tw, w - x), min(th, h - y)).ravel() for y in ys for x in xs]
    return np.concatenate(parts)


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    """The 0.5th and 99.5th percentiles: from a histogram for 8- and 16-bit integers (a partition of a
    million values takes 20 ms, 40 channels most of a second), else of at most 2^18 values spread evenly."""
    if values.dtype.kind == "u" and values.dtype.itemsize <= 2:
        cumulative = np.cumsum(np.bincount(values))
        ranks = np.array(_PERCENTILES) / 100 * (cumulative[-1] - 1)
        lo, hi = np.searchsorted(cumulative, ranks, side="right")
        return float(lo), float(hi)
    step = max(1, values.size >> 18)
    lo, hi = np.percentile(values[::step], _PERCENTILES)
    return float(lo), float(hi)


def contrast_limits(pixels: np.ndarray) -> tuple[float, float]:
    """The 0.5th and 99.5th percentiles of the finite values, widened where they coincide."""
    values = pixels[np.isfinite(pixels)] if pixels.dtype.kind == "f" else pixels.ravel()
    if values.size == 0:
        return (0.0, 1.0)
    lo, hi = _percentiles(values)
    if hi <= lo:  # a flat channel: napari needs a range
        hi = lo + (1.0 if pixels.dtype.kind in "ui" else max(abs(lo) * 1e-3, 1e-6))
    if pixels.dtype.kind in "ui":
        return (int(np.floor(lo)), int(np.ceil(hi)))
    return (lo, hi)


def channel_layers(slide: Slide, on_error: Callable[[SlideReadError], None] | None, metadata: dict) -> list[tuple]:
    """A multiscale image layer per channel of ``slide`` (``slide.channels`` is set)."""
    layout = slide.channels
    for message in layout.missing:  # shown in napari as a notification: never a channel dropped silently
        warnings.warn(f"{slide.path}: {message}", stacklevel=3)
    t_count, z_count = layout.sizes
    lead = tuple(n for n in (t_count, z_count) if n > 1)
    mpp = slide.mpp
    scale = (mpp[1], mpp[0]) if mpp else (1.0, 1.0)
    lead_scale = ((1.0,) if t_count > 1 else ()) + ((layout.z_spacing or 1.0,) if z_count > 1 else ())
    yx_unit = "micrometer" if mpp else "pixel"
    units = (("pixel",) if t_count > 1 else ()) + (
        ("micrometer" if layout.z_spacing else "pixel",) if z_count > 1 else ()
    )
    planes = {
        ch.index: [slide.plane((ch.index, t, z)) for t in range(t_count) for z in range(z_count)]
        for ch in layout.channels
    }
    middle = (t_count // 2) * z_count + z_count // 2  # the plane the sliders start on
    limits = _limits_by_channel({c: p[middle] for c, p in planes.items()})
    layers = []
    for channel in layout.channels:
        levels = _levels(planes[channel.index], lead, on_error)
        kwargs = {
            "name": channel.name,
            "multiscale": True,
            "rgb": False,
            "colormap": _hex(channel.display_color),
            "blending": "additive",
            "contrast_limits": limits[channel.index],
            "scale": (*lead_scale, *scale),
            "units": (*units, yx_unit, yx_unit),
            "cache": False,
            "metadata": {**metadata, "channel": _channel_metadata(channel, layout.sizes, layout.z_spacing)},
        }
        layers.append((levels, kwargs, "image"))
    return layers


def _limits(plane: Slide) -> tuple[tuple[float, float], str | None]:
    """A channel's contrast limits from its pixels; where a damaged tile stops that, the dtype's range and why."""
    try:
        return contrast_limits(sample_pixels(plane)), None
    except SlideReadError as exc:
        dtype = np.dtype(plane.dtype)
        full = (float(np.iinfo(dtype).min), float(np.iinfo(dtype).max)) if dtype.kind in "ui" else (0.0, 1.0)
        return full, f"{exc} (contrast limits: the data type's range)"


def _limits_by_channel(planes: dict[int, Slide]) -> dict[int, tuple[float, float]]:
    """Each channel's contrast limits, the channels sampled in parallel (decoders release the GIL)."""
    with ThreadPoolExecutor(min(len(planes), os.cpu_count() or 1)) as pool:
        results = dict(zip(planes, pool.map(_limits, planes.values())))
    for _, message in results.values():
        if message:
            warnings.warn(message, stacklevel=3)
    return {c: limits for c, (limits, _) in results.items()}


def _levels(planes: list[Slide], lead: tuple[int, ...], on_error) -> list:
    """The channel's displayed levels: one plane's display pyramid, or a ``PlaneStack`` over all planes."""
    pyramids = [display_pyramid(plane, on_error=on_error) for plane in planes]
    if not lead:
        return pyramids[0]
    display = StackedDisplay([display_state(p[0]) for p in pyramids])
    return [PlaneStack([p[level] for p in pyramids], lead, display) for level in range(len(pyramids[0]))]


def _channel_metadata(channel: Channel, sizes: tuple[int, int], z_spacing: float | None) -> dict:
    return {
        "index": channel.index,
        "name": channel.name,
        "color": channel.color,
        "display_color": channel.display_color,
        "properties": dict(channel.properties),
        "t": sizes[0],
        "z": sizes[1],
        "z_spacing_um": z_spacing,
    }
