"""GeoJSON in QuPath's layouts, generated: what the tests and ``benchmarks/annotations.py`` open."""

from __future__ import annotations

import json
import os

import numpy as np

__all__ = ["cell_features", "qupath_feature", "write_qupath_geojson"]

_LEGACY_IDS = {"annotation": "PathAnnotationObject", "detection": "PathDetectionObject", "cell": "PathCellObject"}


def qupath_feature(
    geometry: dict,
    *,
    object_type: str = "annotation",
    name: str | None = None,
    class_name: str | None = None,
    rgb: tuple[int, int, int] | None = None,
    measurements: dict[str, float] | None = None,
    layout: str = "0.4",
    uid: str | None = None,
) -> dict:
    """One feature as QuPath writes it: 0.4+ (objectType, [r, g, b], measurement dict, uuid id) or 0.2
    (object class in ``id``, ``colorRGB`` packed signed int, measurement list)."""
    props: dict = {}
    if layout == "0.4":
        props["objectType"] = object_type
    if name is not None:
        props["name"] = name
    if class_name is not None:
        if layout == "0.4":
            props["classification"] = {"name": class_name, "color": list(rgb or (255, 0, 0))}
        else:
            r, g, b = rgb or (255, 0, 0)
            packed = (0xFF << 24) | (r << 16) | (g << 8) | b
            props["classification"] = {"name": class_name, "colorRGB": packed - (1 << 32)}
    props["isLocked"] = False
    if measurements:
        props["measurements"] = (
            dict(measurements) if layout == "0.4" else [{"name": k, "value": v} for k, v in measurements.items()]
        )
    feature = {"type": "Feature", "geometry": geometry, "properties": props}
    feature["id"] = uid if layout == "0.4" else _LEGACY_IDS.get(object_type, "PathAnnotationObject")
    if feature["id"] is None:
        del feature["id"]
    return feature


def write_qupath_geojson(path: str | os.PathLike, features: list[dict], layout: str = "0.4") -> str:
    """A FeatureCollection (QuPath 0.4+) or a bare list of features (QuPath 0.2, 0.3)."""
    doc = {"type": "FeatureCollection", "features": features} if layout == "0.4" else features
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    return os.fspath(path)


def cell_features(
    n: int, shape: tuple[int, int], vertices: int = 24, radius: float = 8.0, seed: int = 0, layout: str = "0.4"
) -> list[dict]:
    """``n`` cell detections: irregular (non-convex) rings scattered over a (height, width) slide, two classes,
    a few measurements each, like a QuPath cell segmentation."""
    rng = np.random.default_rng(seed)
    height, width = shape
    centers = rng.uniform((radius * 2, radius * 2), (width - radius * 2, height - radius * 2), (n, 2))
    theta = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    unit = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    radii = radius * rng.uniform(0.6, 1.3, (n, vertices, 1))
    rings = np.round(centers[:, None, :] + unit * radii, 2)
    classes = (("Tumor", (200, 0, 0)), ("Stroma", (0, 150, 0)))
    features = []
    for i in range(n):
        ring = rings[i].tolist()
        class_name, rgb = classes[i % 2]
        geometry = {"type": "Polygon", "coordinates": [ring + ring[:1]]}
        measurements = {"Nucleus: Area": float(radii[i].mean() ** 2 * np.pi), "Hematoxylin OD mean": float(i % 7) / 7}
        features.append(qupath_feature(geometry, object_type="cell", class_name=class_name, rgb=rgb,
                                       measurements=measurements, layout=layout))  # fmt: skip
    return features
