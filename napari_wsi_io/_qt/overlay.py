"""The benchmarked level's chunks painted over the slide, by worker or by load time.

A gigapixel level has tens of thousands of chunks; napari Shapes layers get
slow long before that, so the chunks are rasterised into one small RGBA image
(at most ``MAX_SIDE`` pixels a side) shown as an Image layer placed on the
slide with the slide layer's own scale and translation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps

__all__ = ["COLOR_BY", "OVERLAY_NAME", "chunk_raster", "ensure_overlay", "level_shapes", "show_raster"]

OVERLAY_NAME = "benchmark chunks"
COLOR_BY = ("worker", "load time")
MAX_SIDE = 512
_FILL_ALPHA = 100
_EDGE_ALPHA = 220


def _task_colors(tasks: Sequence, color_by: str) -> np.ndarray:
    """RGB (0..255) per task."""
    if color_by == "worker":
        workers = np.fromiter((t.worker for t in tasks), np.int64, len(tasks))
        cmap = colormaps["tab20" if len(np.unique(workers)) > 10 else "tab10"]
        rgb = cmap(workers % cmap.N)[:, :3]
    elif color_by == "load time":
        seconds = np.fromiter((t.end - t.start for t in tasks), float, len(tasks))
        span = np.ptp(seconds) or 1.0
        rgb = colormaps["inferno"](0.15 + 0.85 * (seconds - seconds.min()) / span)[:, :3]
    else:
        raise ValueError(f"colour by {color_by!r}; choose from {', '.join(COLOR_BY)}")
    return (np.asarray(rgb) * 255).astype(np.uint8).reshape(len(tasks), 3)


def _edges_in_raster(starts: np.ndarray, sizes: np.ndarray, length: int, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Raster start/end of each task along one axis; shared edges round the same way, so tasks never overlap."""

    def to_raster(v: np.ndarray) -> np.ndarray:
        return np.where(v >= length, math.ceil(length / factor), np.floor(v / factor + 0.5)).astype(np.int64)

    return to_raster(starts), to_raster(starts + sizes)


def chunk_raster(
    tasks: Sequence, level_size: tuple[int, int], color_by: str = "worker", max_side: int = MAX_SIDE
) -> tuple[np.ndarray, int]:
    """RGBA image of the tasks of one level and its pixel size in level pixels.

    ``level_size`` is (height, width) of the level; tasks carry level coordinates and do
    not overlap.  Chunks at least 6 raster pixels wide get an outline so neighbours stay
    apart.  Vectorised: a gigapixel level's tens of thousands of tasks take milliseconds.
    """
    h, w = level_size
    factor = max(1, math.ceil(max(h, w) / max_side))
    rh, rw = math.ceil(h / factor), math.ceil(w / factor)
    if not tasks:
        return np.zeros((rh, rw, 4), np.uint8), factor
    geometry = np.array([(t.y, t.x, t.height, t.width) for t in tasks], np.int64).reshape(-1, 4)
    y0, y1 = _edges_in_raster(geometry[:, 0], geometry[:, 2], h, factor)
    x0, x1 = _edges_in_raster(geometry[:, 1], geometry[:, 3], w, factor)
    y0, y1, x0, x1 = (np.clip(a, 0, n) for a, n in ((y0, rh), (y1, rh), (x0, rw), (x1, rw)))
    # Paint task numbers with a 2D difference array: +v/-v at the corners, then cumulative sums.
    ids = np.zeros((rh + 1, rw + 1), np.int32)
    number = np.arange(1, len(tasks) + 1, dtype=np.int32)
    for ys, xs, sign in ((y0, x0, 1), (y0, x1, -1), (y1, x0, -1), (y1, x1, 1)):
        np.add.at(ids, (ys, xs), sign * number)
    ids = ids.cumsum(0).cumsum(1)[:rh, :rw]
    ids[(ids < 0) | (ids > len(tasks))] = 0  # overlapping tasks (not expected) stay unpainted
    lut = np.zeros((len(tasks) + 1, 4), np.uint8)
    lut[1:, :3] = _task_colors(tasks, color_by)
    lut[1:, 3] = _FILL_ALPHA
    rgba = lut[ids]
    big = np.zeros(len(tasks) + 1, bool)
    big[1:] = ((y1 - y0) >= 6) & ((x1 - x0) >= 6)
    edge = np.zeros((rh, rw), bool)
    edge[1:] |= ids[1:] != ids[:-1]
    edge[:-1] |= ids[:-1] != ids[1:]
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    edge[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    edge[[0, -1], :] = edge[:, [0, -1]] = True  # the level's border too
    edge &= big[ids]
    rgba[edge, 3] = _EDGE_ALPHA
    return rgba, factor


def level_shapes(image_layer) -> list[tuple[int, int]]:
    """(height, width) of every level of a napari image layer."""
    data = image_layer.data if image_layer.multiscale else [image_layer.data]
    # (y, x, c) for RGB; (..., y, x) for grey, whose slider axes (t, z) come first
    return [tuple(int(n) for n in (d.shape[:2] if image_layer.rgb else d.shape[-2:])) for d in data]


def ensure_overlay(viewer, image_layer, layer=None):
    """The overlay layer: ``layer`` when it is still in the viewer, else a new, empty one.

    Adding a layer costs napari 70-100 ms of CPU (its controls, its visual), so the dock
    does it before a benchmark starts rather than while it runs.
    """
    if layer is not None and layer in viewer.layers:
        return layer
    from napari.layers import Image

    layer = Image(
        np.zeros((1, 1, 4), np.uint8),
        name=OVERLAY_NAME,
        rgb=True,
        scale=image_layer.scale[-2:],
        translate=image_layer.translate[-2:],
        units=tuple(image_layer.units[-2:]),
        metadata={"record": None, "color_by": None, "tasks": 0},
    )
    _add_keeping_selection(viewer.layers, layer)
    return layer


def _add_keeping_selection(layers, layer) -> None:
    """Add ``layer`` without taking the selection from the user's layer.

    napari selects a layer it adds.  With one layer selected, as usual, the selection
    goes back to it before anyone is told: nothing redraws for a change that did not
    stay, which saves a third of the cost of adding (the controls panel, the buttons).
    """
    selection = layers.selection
    active = selection.active
    if active is None:  # nothing or several layers selected: napari's own way
        layers.append(layer)
        return
    with selection.events.blocker_all():
        layers.append(layer)
        selection.active = active


def show_raster(layer, image_layer, record, rgba: np.ndarray, factor: int, color_by: str) -> None:
    """Put a ``chunk_raster`` of ``record`` on ``layer``, placed over ``image_layer``."""
    shapes = level_shapes(image_layer)
    if not 0 <= record.level < len(shapes):
        raise ValueError(f"layer {image_layer.name!r} has no level {record.level}")
    (level_h, level_w), (base_h, base_w) = shapes[record.level], shapes[0]
    # One raster pixel covers factor level pixels, i.e. this many level-0 pixels per axis.
    step = np.array([base_h / level_h * factor, base_w / level_w * factor])
    scale = np.asarray(image_layer.scale[-2:], float)
    translate = np.asarray(image_layer.translate[-2:], float)
    placement = {
        "units": tuple(image_layer.units[-2:]),
        "scale": scale * step,
        # napari centres pixel i on coordinate i: shift so the raster's edges meet level-0 pixel edges.
        "translate": translate + scale * (step - 1) / 2,
    }
    for name, value in placement.items():  # each change makes napari refresh the layer: only real changes
        if not np.array_equal(np.asarray(getattr(layer, name)), np.asarray(value)):
            setattr(layer, name, value)
    layer.metadata = {
        "record": f"{record.label}, level {record.level}",
        "color_by": color_by,
        "tasks": len(record.tasks),
    }
    layer.data = rgba
