"""Annotations as napari layer data: a Shapes layer for rings and lines, a Points layer for points.

Detections beyond what a Shapes layer holds become a Points layer of centroids (``centroids``).

Shapes cannot have holes: a polygon's holes are shapes of their own, right after their outer ring,
with ``part == "hole"`` and a transparent face, so that the writer puts them back into their polygon.
Filling a polygon means triangulating it; without a compiled triangulator (bermuda, PartSegCore,
triangle) napari does that in Python, about 10 ms for a 24-vertex cell and 2.4 s for a 2,000-vertex
region, so past about a second of that work polygons are drawn as closed outlines (``path`` shapes,
still ``part == "outer"``/``"hole"``, written back as polygons).
"""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pandas as pd

from .centroids import centroid_objects, centroids, first_rings, max_shapes, outlines
from .geojson_read import Annotations
from .placement import SlideFrame

__all__ = ["META_KEY", "RESERVED_COLUMNS", "annotation_layer_data", "compiled_triangulation"]

META_KEY = "napari_wsi_io_annotations"  # in layer.metadata: the slide frame, the source file, the class colours
RESERVED_COLUMNS = ("class", "name", "object_type", "id", "object", "part")
MEASUREMENT_PREFIX = "measurement: "  # a measurement whose name is a reserved column's
FACE_ALPHA = 0.25
PYTHON_FILL_BUDGET_MS = 1000.0
POINT_SIZE_PX = 20.0
LayerData = tuple


def compiled_triangulation() -> bool:
    """Whether napari fills polygons with a compiled triangulator (napari's setting and what is installed)."""
    from napari.utils.triangulation_backend import TriangulationBackend, get_backend

    backend = get_backend()
    fastest = backend == TriangulationBackend.fastest_available
    if (fastest or backend == TriangulationBackend.bermuda) and importlib.util.find_spec("bermuda"):
        return True
    if (fastest or backend == TriangulationBackend.partsegcore) and importlib.util.find_spec(
        "PartSegCore_compiled_backend"
    ):
        return True
    return (fastest or backend == TriangulationBackend.triangle) and "triangle" in sys.modules


def python_fill_ms(rings: list[np.ndarray]) -> float:
    """Rough time napari's Python triangulation (vispy's) takes to fill these rings, fitted on 24-2,000 vertices."""
    n = np.fromiter((len(r) for r in rings), dtype=float, count=len(rings))
    return float((0.4 * n + 4e-4 * n * n).sum())


def annotation_layer_data(ann: Annotations, frame: SlideFrame, name: str) -> tuple[list[LayerData], list[str]]:
    """(napari layer data, notes for the user): Shapes for rings and lines, Points for points, and Points for
    the centroids of detections when there are more rings than napari's Shapes hold (``centroids``)."""
    objects = _object_table(ann)
    classes = {o.class_name: list(o.class_rgb) for o in ann.objects if o.class_name and o.class_rgb}
    base = {"frame": frame.as_metadata(), "source": ann.source, "classes": classes}
    as_points = centroid_objects(ann)
    owner = np.asarray(ann.ring_object, dtype=np.int64)
    rings = np.flatnonzero(~as_points[owner]) if len(owner) else owner
    layers, notes = [], []

    def add(data, kwargs, kind, layer_name, extra=None):
        kwargs.update(name=layer_name, metadata={META_KEY: {**base, **(extra or {})}}, **frame.layer_transform())
        layers.append((data, kwargs, kind))

    if len(rings):
        data, kwargs, note = _shapes(ann, objects, rings)
        add(data, kwargs, "shapes", name)
        notes += note
    if ann.points:
        add(*_points(ann, objects), "points", f"{name} points" if len(rings) else name)
    if as_points.any():
        numbers = np.flatnonzero(as_points)
        data, kwargs = _centroids(ann, objects, numbers)
        add(data, kwargs, "points", f"{name} detections", {"outlines": outlines(ann, numbers)})
        notes.append(
            f"{len(numbers)} detections shown as centroids (points): napari's Shapes layer is too slow past "
            f"{max_shapes()} shapes (NAPARI_WSI_IO_ANNOTATIONS_MAX_SHAPES); saving the layer writes their outlines"
        )
    return layers, notes


def _object_table(ann: Annotations) -> pd.DataFrame:
    """One row per object: class, name, type, id, colour and the measurements (NaN where an object has none)."""
    objs = ann.objects
    table = pd.DataFrame(
        {
            "class": pd.Series([o.class_name for o in objs], dtype=object),
            "name": pd.Series([o.name for o in objs], dtype=object),
            "object_type": pd.Series([o.object_type for o in objs], dtype=object),
            "id": pd.Series([o.id for o in objs], dtype=object),
        }
    )
    rgb = np.array([o.rgb for o in objs], dtype=float).reshape(-1, 3) / 255
    measurements = pd.DataFrame.from_records([o.measurements for o in objs], index=range(len(objs)))
    measurements = measurements.rename(columns=lambda c: MEASUREMENT_PREFIX + c if c in RESERVED_COLUMNS else c)
    table = pd.concat([table, measurements.astype(float)], axis=1)
    return table.assign(_r=rgb[:, 0], _g=rgb[:, 1], _b=rgb[:, 2])


def _features(objects: pd.DataFrame, owner: np.ndarray, part: list[str] | str) -> tuple[pd.DataFrame, np.ndarray]:
    rows = objects.iloc[owner].reset_index(drop=True)
    rgb = rows[["_r", "_g", "_b"]].to_numpy()
    features = rows.drop(columns=["_r", "_g", "_b"])
    features.insert(4, "object", owner.astype(np.int64))
    features.insert(5, "part", part)
    return features, rgb


def _defaults(features: pd.DataFrame) -> dict:
    """Values of a shape the user adds: no class, an object of its own, the part its shape type says."""
    defaults = {c: math.nan for c in features.columns}
    defaults.update({"class": "", "name": "", "object_type": "annotation", "id": "", "object": -1, "part": ""})
    return defaults


def _shapes(ann: Annotations, objects: pd.DataFrame, index: np.ndarray) -> tuple[list, dict, list[str]]:
    """The rings ``index`` (into ``ann.rings``) as shapes: filled polygons if napari can afford it, else outlines."""
    rings = [ann.rings[i] for i in index]
    parts = [ann.ring_part[i] for i in index]
    features, rgb = _features(objects, np.asarray(ann.ring_object, dtype=np.int64)[index], parts)
    polygon = np.asarray([p != "line" for p in parts])
    fill = not polygon.any() or compiled_triangulation() or python_fill_ms(rings) <= PYTHON_FILL_BUDGET_MS
    notes = []
    if fill:
        data, shape_type = rings, ["polygon" if p else "path" for p in polygon]
    else:
        data = [np.vstack([r, r[:1]]) if p else r for r, p in zip(rings, polygon)]
        shape_type = "path"
        seconds = python_fill_ms([r for r, p in zip(rings, polygon) if p]) / 1000
        notes.append(
            f"{int(polygon.sum())} polygon rings drawn as outlines: filling them would take napari about "
            f"{seconds:.0f} s without a compiled triangulator (pip install bermuda)"
        )
    outer = np.asarray([p == "outer" for p in parts])
    extent = np.fromiter((np.ptp(r, axis=0).max() for r in rings), dtype=float, count=len(rings))
    kwargs = {
        "shape_type": shape_type,
        "features": features,
        "feature_defaults": _defaults(features),
        "face_color": np.column_stack([rgb, np.where(outer & fill, FACE_ALPHA, 0.0)]),
        "edge_color": np.column_stack([rgb, np.ones(len(rgb))]),
        "edge_width": np.clip(0.02 * extent, 1.0, 64.0),
        "opacity": 1.0,
    }
    return data, kwargs, notes


def _point_kwargs(features: pd.DataFrame, rgb: np.ndarray, size: float) -> dict:
    colors = np.column_stack([rgb, np.ones(len(rgb))])
    return {
        "features": features,
        "feature_defaults": _defaults(features),
        "face_color": colors,
        "border_color": colors,
        "size": size,
        "opacity": 1.0,
    }


def _centroids(ann: Annotations, objects: pd.DataFrame, numbers: np.ndarray) -> tuple[np.ndarray, dict]:
    features, rgb = _features(objects, numbers, "centroid")
    diameter = float(np.median([np.ptp(r, axis=0).max() for r in first_rings(ann, numbers[:100])]))  # a cell
    kwargs = _point_kwargs(features, rgb, max(diameter, 2.0))
    kwargs["canvas_size_limits"] = (3, 10000)  # a dot at least when zoomed out
    return centroids(ann, numbers), kwargs


def _points(ann: Annotations, objects: pd.DataFrame) -> tuple[np.ndarray, dict]:
    features, rgb = _features(objects, np.asarray(ann.point_object, dtype=np.int64), "point")
    kwargs = _point_kwargs(features, rgb, POINT_SIZE_PX)
    kwargs["canvas_size_limits"] = (6, 24)  # screen pixels: visible at every zoom, like QuPath's points
    return np.asarray(ann.points, dtype=float).reshape(-1, 2), kwargs
