"""napari Shapes and Points layers as QuPath GeoJSON: a FeatureCollection in level-0 pixel coordinates.

Each layer's data go to the world through its own scale and translate, then to the slide's level-0
pixels through the slide frame (``placement.SlideFrame``), so a layer read from GeoJSON is written at
its original pixels and a layer drawn by hand over a slide in µm lands where it was drawn.  Shapes
that share an ``object`` feature are one QuPath object again: a polygon with the ``hole`` rings that
follow it, a MultiPolygon, a MultiLineString; the ``class`` feature and the class colours become
``classification``, numeric features not reserved become ``measurements``.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections import defaultdict

import numpy as np

from .colors import encode_color
from .layers import MEASUREMENT_PREFIX, META_KEY, RESERVED_COLUMNS
from .placement import SlideFrame

__all__ = ["geojson_features", "write_geojson"]

_ELLIPSE_VERTICES = 64
_DECIMALS = 3  # 1/1000 px: far below QuPath's display precision, keeps files small
LayerData = tuple


def _check_transform(meta: dict) -> None:
    ndim = len(meta.get("scale", (1, 1)))
    for key, identity in (("rotate", np.eye(ndim)), ("shear", np.zeros(ndim * (ndim - 1) // 2)), ("affine", None)):
        value = meta.get(key)
        if value is None:
            continue
        value = np.asarray(value, dtype=float)
        expected = np.eye(value.shape[0]) if identity is None else identity
        if value.shape == expected.shape and np.allclose(value, expected):
            continue
        raise ValueError(f"cannot write layer {meta.get('name')!r} as GeoJSON: it is rotated, sheared or has an affine")


def _to_pixels(vertices: np.ndarray, meta: dict, frame: SlideFrame) -> np.ndarray:
    """(n, D) layer data -> (n, 2) QuPath (x, y) level-0 pixels."""
    scale = np.asarray(meta.get("scale", (1.0, 1.0)), dtype=float)[-2:]
    translate = np.asarray(meta.get("translate", (0.0, 0.0)), dtype=float)[-2:]
    world = np.asarray(vertices, dtype=float)[:, -2:] * scale + translate
    return np.round(frame.to_pixels(world)[:, ::-1], _DECIMALS)


def _ellipse(corners: np.ndarray) -> np.ndarray:
    center = corners.mean(axis=0)
    ax1 = (corners[1] - corners[0]) / 2
    ax2 = (corners[2] - corners[1]) / 2
    theta = np.linspace(0, 2 * np.pi, _ELLIPSE_VERTICES, endpoint=False)
    return center + np.cos(theta)[:, None] * ax1 + np.sin(theta)[:, None] * ax2


def _ring_kind(shape_type: str, part: object) -> str:
    if part in ("outer", "hole"):  # read from GeoJSON: a polygon ring, drawn filled or as a closed outline
        return part
    return "line" if shape_type in ("path", "line") else "outer"


def _closed(xy: np.ndarray) -> list:
    if len(xy) > 1 and np.allclose(xy[0], xy[-1]):
        xy = xy[:-1]
    return np.vstack([xy, xy[:1]]).tolist()


def _geometry(parts: list[tuple[str, np.ndarray]]) -> dict:
    """One object's rings and lines (in layer order) as a Polygon, MultiPolygon, (Multi)LineString or collection."""
    polygons, lines = [], []
    for kind, xy in parts:
        if kind == "hole" and polygons:
            polygons[-1].append(_closed(xy))
        elif kind == "line":
            lines.append(xy.tolist())
        else:  # an outer ring, or a hole whose outer ring was deleted
            polygons.append([_closed(xy)])
    members = []
    if polygons:
        members.append({"type": "Polygon", "coordinates": polygons[0]} if len(polygons) == 1
                       else {"type": "MultiPolygon", "coordinates": polygons})  # fmt: skip
    if lines:
        members.append({"type": "LineString", "coordinates": lines[0]} if len(lines) == 1
                       else {"type": "MultiLineString", "coordinates": lines})  # fmt: skip
    return members[0] if len(members) == 1 else {"type": "GeometryCollection", "geometries": members}


def _point_geometry(points: list[np.ndarray]) -> dict:
    if len(points) == 1:
        return {"type": "Point", "coordinates": points[0].tolist()}
    return {"type": "MultiPoint", "coordinates": [p.tolist() for p in points]}


def _rgba(value: object, n: int) -> np.ndarray:
    """The layer's per-row RGBA colours (what a class without a saved colour is written with); white if none."""
    try:
        colors = np.asarray(value, dtype=float)
    except (TypeError, ValueError):  # a colour name, e.g. an empty layer's current colour
        colors = np.empty((0, 4))
    return colors if colors.ndim == 2 and colors.shape == (n, 4) else np.ones((n, 4))


def _column(features, name: str, n: int, default) -> list:
    if features is None or name not in features.columns:
        return [default] * n
    return features[name].tolist()


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


class _Properties:
    """QuPath ``properties`` of a layer's rows, from its features read once as columns."""

    def __init__(self, features, n: int, colors: np.ndarray, classes: dict) -> None:
        self.object_type = [_text(v) or "annotation" for v in _column(features, "object_type", n, "")]
        self.name = [_text(v) for v in _column(features, "name", n, "")]
        self.class_name = [_text(v) for v in _column(features, "class", n, "")]
        self.colors, self.classes = colors, classes
        columns = [] if features is None else [
            c for c in features.columns
            if c not in RESERVED_COLUMNS and np.issubdtype(np.asarray(features[c]).dtype, np.number)
        ]  # fmt: skip
        self.values = features[columns].to_numpy(dtype=float) if columns else np.empty((n, 0))
        self.measurement_names = [c.removeprefix(MEASUREMENT_PREFIX) if c.removeprefix(MEASUREMENT_PREFIX)
                                  in RESERVED_COLUMNS else c for c in columns]  # fmt: skip

    def __call__(self, row: int) -> dict:
        props: dict = {"objectType": self.object_type[row]}
        if self.name[row]:
            props["name"] = self.name[row]
        class_name = self.class_name[row]
        if class_name:
            color = self.classes.get(class_name) or (self.colors[row, :3] * 255).round().astype(int).tolist()
            props["classification"] = {"name": class_name, "color": encode_color(color)}
        values = self.values[row]
        measurements = {k: float(v) for k, v in zip(self.measurement_names, values) if not math.isnan(v)}
        if measurements:
            props["measurements"] = measurements
        return props


def _groups(n: int, features) -> dict[object, list[int]]:
    """Rows per QuPath object: rows sharing a non-negative ``object`` feature, else one object per row."""
    groups: dict[object, list[int]] = defaultdict(list)
    for row, obj in enumerate(_column(features, "object", n, -1)):
        key = -1 if obj is None or (isinstance(obj, float) and math.isnan(obj)) else int(obj)
        groups[("object", key) if key >= 0 else ("row", row)].append(row)
    return groups


def _row_parts(data, meta: dict, layer_type: str, frame: SlideFrame) -> list[list[tuple[str, np.ndarray]]]:
    """Per layer row, its (kind, (n, 2) QuPath (x, y) pixels) parts: a point, a ring, a line, or the outline a
    detection's centroid stands for (``centroids``)."""
    features = meta.get("features")
    parts = _column(features, "part", len(data), "")
    if len(data) == 0:
        return []
    if layer_type == "points":
        points = np.asarray(data, dtype=float)
        saved = (meta.get("metadata") or {}).get(META_KEY, {}).get("outlines") or {}
        objects = _column(features, "object", len(data), -1)
        out = []
        for xy, part, obj in zip(_to_pixels(points.reshape(len(points), -1), meta, frame), parts, objects):
            outline = saved.get(int(obj)) if part == "centroid" else None
            out.append([(k, np.round(r[:, ::-1], _DECIMALS)) for k, r in outline] if outline else [("point", xy)])
        return out
    shape_types = meta.get("shape_type") or ["polygon"] * len(data)
    out = []
    for vertices, shape_type, part in zip(data, shape_types, parts):
        vertices = np.asarray(vertices, dtype=float)
        if shape_type == "ellipse":
            vertices = _ellipse(vertices[:, -2:])
        out.append([(_ring_kind(shape_type, part), _to_pixels(vertices, meta, frame))])
    return out


def geojson_features(data, meta: dict, layer_type: str, frame: SlideFrame) -> list[dict]:
    """GeoJSON features, in QuPath's layout, of one Shapes or Points layer (data and ``as_layer_data_tuple`` meta)."""
    return [feature for _, feature in _numbered_features(data, meta, layer_type, frame)]


def _numbered_features(data, meta: dict, layer_type: str, frame: SlideFrame) -> list[tuple[int, dict]]:
    """(object number read from the file, or -1 for shapes drawn since, feature)."""
    _check_transform(meta)
    features = meta.get("features")
    features = features if features is not None and len(getattr(features, "columns", ())) else None
    row_parts = _row_parts(data, meta, layer_type, frame)
    n = len(row_parts)
    colors = _rgba(meta.get("edge_color" if layer_type == "shapes" else "face_color"), n)
    classes = (meta.get("metadata") or {}).get(META_KEY, {}).get("classes", {})
    properties = _Properties(features, n, colors, classes)
    ids = [_text(i) for i in _column(features, "id", n, "")]
    out = []
    for (kind, key), rows in _groups(n, features).items():
        parts = [part for r in rows for part in row_parts[r]]
        only_points = all(part_kind == "point" for part_kind, _ in parts)
        geometry = _point_geometry([xy for _, xy in parts]) if only_points else _geometry(parts)
        feature = {"type": "Feature", "id": ids[rows[0]] or str(uuid.uuid4()), "geometry": geometry}
        feature["properties"] = properties(rows[0])
        out.append((key if kind == "object" else -1, feature))
    return out


def write_geojson(path: str | os.PathLike, layers: list[LayerData], frame_for) -> list[str]:
    """Write Shapes and Points layers (``(data, meta, type)``) to one FeatureCollection; ``frame_for(meta)``
    gives each layer's slide frame."""
    numbered = []
    for data, meta, layer_type in layers:
        if layer_type in ("shapes", "points"):
            numbered += _numbered_features(data, meta, layer_type, frame_for(meta))
    # The objects read from a file in their order there (shapes and points layers interleave), new ones after.
    numbered.sort(key=lambda item: (item[0] < 0, item[0]))
    features = [feature for _, feature in numbered]
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"type": "FeatureCollection", "features": features}, f, separators=(",", ":"))
    return [path]
