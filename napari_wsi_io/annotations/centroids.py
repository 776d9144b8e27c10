"""Detections past what napari's Shapes layer holds, shown as a Points layer of their centroids.

Measured with ``benchmarks/annotations.py`` (README, "QuPath annotations"): 100,000 cell outlines took
napari 80 s to open as Shapes and 4.6 s per frame with the whole slide in view; as centroids they
opened in 12 s, most of it parsing the JSON, and drew in 0.4 s.
So when a file holds more rings than ``max_shapes()``, its detections (QuPath's ``detection``,
``cell`` and ``tile`` objects) become points with the same features and class colours; annotations
stay shapes.  The outlines stay in the layer's metadata, so saving the layer writes them, not the
centroids.
"""

from __future__ import annotations

import os

import numpy as np

from .geojson_read import Annotations

__all__ = ["DETECTION_TYPES", "centroid_objects", "centroids", "first_rings", "max_shapes", "outlines"]

DETECTION_TYPES = frozenset({"detection", "cell", "tile"})
_DEFAULT_MAX_SHAPES = 10000


def max_shapes() -> int:
    """Rings above which detections are shown as centroids (``NAPARI_WSI_IO_ANNOTATIONS_MAX_SHAPES``)."""
    return int(os.environ.get("NAPARI_WSI_IO_ANNOTATIONS_MAX_SHAPES", _DEFAULT_MAX_SHAPES))


def centroid_objects(ann: Annotations) -> np.ndarray:
    """Per object, whether it is shown as a centroid: a detection with rings, in a file with too many rings."""
    mask = np.zeros(len(ann.objects), dtype=bool)
    if len(ann.rings) <= max_shapes():
        return mask
    mask[np.unique(np.asarray(ann.ring_object, dtype=np.int64))] = True
    detection = np.fromiter((o.object_type in DETECTION_TYPES for o in ann.objects), dtype=bool, count=len(mask))
    return mask & detection


def first_rings(ann: Annotations, objects: np.ndarray) -> list[np.ndarray]:
    """Each object's first ring (its outer ring); every object given must have rings."""
    numbers, first = np.unique(np.asarray(ann.ring_object, dtype=np.int64), return_index=True)
    index = first[np.searchsorted(numbers, np.asarray(objects, dtype=np.int64))]
    return [ann.rings[i] for i in index]


def centroids(ann: Annotations, objects: np.ndarray) -> np.ndarray:
    """(len(objects), 2) (y, x): the vertex mean of each object's first ring."""
    rings = first_rings(ann, objects)
    if not rings:
        return np.empty((0, 2))
    starts = np.cumsum([0] + [len(r) for r in rings[:-1]])
    sums = np.add.reduceat(np.concatenate(rings), starts)
    return sums / np.fromiter((len(r) for r in rings), dtype=float, count=len(rings))[:, None]


def outlines(ann: Annotations, objects: np.ndarray) -> dict[int, list[tuple[str, np.ndarray]]]:
    """The rings (part, (n, 2) (y, x) pixels) of these objects, by object number: what the writer writes back."""
    wanted = set(int(o) for o in objects)
    out: dict[int, list[tuple[str, np.ndarray]]] = {o: [] for o in wanted}
    for ring, part, owner in zip(ann.rings, ann.ring_part, ann.ring_object):
        if owner in wanted:
            out[owner].append((part, ring))
    return out
