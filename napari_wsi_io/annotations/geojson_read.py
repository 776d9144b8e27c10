"""QuPath's GeoJSON export parsed into plain arrays: rings and points in level-0 pixels, one record per object.

QuPath writes a FeatureCollection (0.4+) or a plain list of features (0.2, 0.3); each feature has a
Polygon, MultiPolygon, LineString, MultiLineString, Point or MultiPoint geometry (GeometryCollections
are flattened) and ``properties`` with ``objectType``, ``name``, ``classification`` (``name`` and
``color``, or ``colorRGB`` before 0.4) and ``measurements`` (a dict, or a list of name/value pairs
before 0.4).  Coordinates are (x, y) in level-0 pixels, pixel (0, 0) covering [0, 1) x [0, 1); the
arrays here are (y, x), napari's order.  Nothing here knows napari.
"""

from __future__ import annotations

import gc
import json
import math
import os
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .colors import object_rgb

__all__ = [
    "AnnotationObject",
    "AnnotationReadError",
    "Annotations",
    "gc_paused",
    "max_file_bytes",
    "parse_geojson",
    "read_geojson",
]

# QuPath 0.2/0.3 name the object class in the feature's "id".
_LEGACY_TYPES = {
    "PathAnnotationObject": "annotation",
    "PathDetectionObject": "detection",
    "PathCellObject": "cell",
    "PathTileObject": "tile",
    "TMACoreObject": "tma_core",
    "PathRootObject": "root",
}
_DEFAULT_MAX_MB = 256


class AnnotationReadError(ValueError):
    """An annotation file cannot be opened; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"cannot read {self.path}: {reason}")


class _Skip(Exception):
    """One object is left out; the argument says why (counted in ``Annotations.skipped``)."""


@dataclass
class AnnotationObject:
    """One QuPath object: what the layer's features and colours are made of."""

    object_type: str = "annotation"
    name: str = ""
    class_name: str = ""
    rgb: tuple[int, int, int] = (255, 0, 0)
    class_rgb: tuple[int, int, int] | None = None
    id: str = ""
    measurements: dict[str, float] = field(default_factory=dict)


@dataclass
class Annotations:
    """Geometry as arrays: each ring or line is an (n, 2) (y, x) array, polygon rings without the closing vertex."""

    rings: list[np.ndarray] = field(default_factory=list)
    ring_part: list[str] = field(default_factory=list)  # "outer", "hole" (of the last outer) or "line"
    ring_object: list[int] = field(default_factory=list)  # index into objects
    points: list[np.ndarray] = field(default_factory=list)  # (y, x) each
    point_object: list[int] = field(default_factory=list)
    objects: list[AnnotationObject] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> objects left out
    source: str = ""


def max_file_bytes() -> int:
    """Files above this are refused before parsing (JSON in Python takes several times the file in RAM)."""
    return int(float(os.environ.get("NAPARI_WSI_IO_ANNOTATIONS_MAX_MB", _DEFAULT_MAX_MB)) * 1e6)


@contextmanager
def gc_paused():
    """The cyclic collector paused: JSON makes a container per vertex, the layer data one per object, and in
    napari's large heap each collection they trigger walks every object (json.load of 1.6 MB took 0.6 s in a
    viewer, 0.1 s alone; the layer data of 100,000 cells 4.6 s instead of 1 s)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_geojson(path: str | os.PathLike) -> Annotations:
    """Parse a QuPath GeoJSON file; a file that is not GeoJSON raises ``AnnotationReadError``."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise AnnotationReadError(path, exc.strerror or str(exc)) from exc
    limit = max_file_bytes()
    if size > limit:
        raise AnnotationReadError(
            path,
            f"the file is {size / 1e6:.0f} MB, more than the {limit / 1e6:.0f} MB napari-wsi-io opens "
            "(NAPARI_WSI_IO_ANNOTATIONS_MAX_MB raises the limit; parsing takes several times the file in RAM). "
            "Export fewer objects from QuPath, e.g. annotations without their detections",
        )
    try:
        with open(path, encoding="utf-8") as f, gc_paused():
            doc = json.load(f)
    except json.JSONDecodeError as exc:
        raise AnnotationReadError(path, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from exc
    except UnicodeDecodeError as exc:
        raise AnnotationReadError(path, "not a text file (GeoJSON is UTF-8 JSON)") from exc
    try:
        with gc_paused():
            return parse_geojson(doc, source=path)
    except _Skip as exc:
        raise AnnotationReadError(path, str(exc)) from exc


def _features(doc: object) -> list:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        kind = doc.get("type")
        if kind == "FeatureCollection" and isinstance(doc.get("features"), list):
            return doc["features"]
        if kind == "Feature":
            return [doc]
        if kind in _GEOMETRY_TYPES:
            return [{"type": "Feature", "geometry": doc, "properties": {}}]
    raise _Skip("not GeoJSON: expected a FeatureCollection, a Feature or a list of features")


def parse_geojson(doc: object, source: str = "") -> Annotations:
    """The objects of a parsed GeoJSON document; objects that cannot be shown are counted in ``skipped``."""
    out = Annotations(source=source)
    styles: dict = {}
    for feature in _features(doc):
        try:
            geometry, properties = _geometry_and_properties(feature)
            parts = _geometry_parts(geometry)
        except _Skip as exc:
            out.skipped[str(exc)] += 1
            continue
        index = len(out.objects)
        out.objects.append(_object(feature, properties, styles))
        for part, coords in parts:
            if part == "point":
                out.points.append(coords)
                out.point_object.append(index)
            else:
                out.rings.append(coords)
                out.ring_part.append(part)
                out.ring_object.append(index)
    return out


def _geometry_and_properties(feature: object) -> tuple[dict, dict]:
    if not isinstance(feature, dict):
        raise _Skip("not a GeoJSON feature")
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict):
        raise _Skip("no geometry")
    properties = feature.get("properties")
    return geometry, properties if isinstance(properties, dict) else {}


def _style(properties: dict, cache: dict) -> tuple:
    """(class name, display colour, class colour): a few distinct classes among many objects, so cached."""
    classification = properties.get("classification")
    key = (repr(classification), repr(properties.get("color", properties.get("colorRGB"))))
    style = cache.get(key)
    if style is None:
        style = cache[key] = (_class_name(classification), *object_rgb(properties))
    return style


def _object(feature: dict, properties: dict, styles: dict) -> AnnotationObject:
    fid = feature.get("id")
    legacy = _LEGACY_TYPES.get(fid) if isinstance(fid, str) else None
    object_type = properties.get("objectType") or legacy or "annotation"
    class_name, rgb, class_rgb = _style(properties, styles)
    return AnnotationObject(
        object_type=str(object_type),
        name=str(properties.get("name") or ""),
        class_name=class_name,
        rgb=rgb,
        class_rgb=class_rgb,
        id=fid if isinstance(fid, str) and legacy is None else "",
        measurements=_measurements(properties.get("measurements")),
    )


def _class_name(classification: object) -> str:
    if isinstance(classification, str):
        return classification
    if not isinstance(classification, dict):
        return ""
    names = classification.get("names")  # derived classes in QuPath 0.5: ["Tumor", "Positive"]
    if isinstance(names, list) and names:
        return ": ".join(str(n) for n in names)
    return str(classification.get("name") or "")


def _measurements(raw: object) -> dict[str, float]:
    if isinstance(raw, list):  # QuPath 0.2, 0.3: [{"name": ..., "value": ...}]
        raw = {m.get("name"): m.get("value") for m in raw if isinstance(m, dict)}
    if not isinstance(raw, dict):
        return {}
    # QuPath writes NaN measurements as null; other values that are not numbers are left out.
    return {
        key: math.nan if value is None else float(value)
        for key, value in raw.items()
        if isinstance(key, str) and (value is None or type(value) in (float, int))
    }


def _array(coords: object, closed: bool) -> np.ndarray:
    try:
        a = np.asarray(coords, dtype=float)
    except (TypeError, ValueError):
        raise _Skip("malformed coordinates") from None
    if a.ndim != 2 or a.shape[1] < 2:
        raise _Skip("malformed coordinates")
    a = a[:, [1, 0]]  # (x, y[, z]) -> (y, x)
    if not np.isfinite(a).all():
        raise _Skip("malformed coordinates")
    if closed and len(a) > 1 and (a[0] == a[-1]).all():
        a = a[:-1]
    if len(a) < (3 if closed else 2):
        raise _Skip("degenerate geometry (too few vertices)")
    return a


def _polygon(rings: object) -> list[tuple[str, np.ndarray]]:
    if not isinstance(rings, list) or not rings:
        raise _Skip("malformed coordinates")
    return [("outer" if i == 0 else "hole", _array(ring, closed=True)) for i, ring in enumerate(rings)]


def _point_array(coords: object) -> np.ndarray:
    try:
        a = np.asarray(coords, dtype=float)
    except (TypeError, ValueError):
        raise _Skip("malformed coordinates") from None
    if a.ndim != 1 or len(a) < 2 or not np.isfinite(a[:2]).all():
        raise _Skip("malformed coordinates")
    return a[1::-1].copy()


def _list(coords: object) -> list:
    if not isinstance(coords, list):
        raise _Skip("malformed coordinates")
    return coords


def _geometry_parts(geometry: dict) -> list[tuple[str, np.ndarray]]:
    kind = geometry.get("type")
    if kind == "GeometryCollection":
        members = geometry.get("geometries")
        if not isinstance(members, list):
            raise _Skip("malformed coordinates")
        return [part for member in members if isinstance(member, dict) for part in _geometry_parts(member)]
    parse = _GEOMETRY_TYPES.get(kind)
    if parse is None:
        raise _Skip(f"{kind if isinstance(kind, str) else 'untyped'} geometry (not supported)")
    parts = parse(geometry.get("coordinates"))
    if not parts:
        raise _Skip("empty geometry")
    return parts


_GEOMETRY_TYPES = {
    "Polygon": _polygon,
    "MultiPolygon": lambda c: [part for rings in _list(c) for part in _polygon(rings)],
    "LineString": lambda c: [("line", _array(c, closed=False))],
    "MultiLineString": lambda c: [("line", _array(line, closed=False)) for line in _list(c)],
    "Point": lambda c: [("point", _point_array(c))],
    "MultiPoint": lambda c: [("point", _point_array(p)) for p in _list(c)],
    "GeometryCollection": None,  # handled in _geometry_parts
}
