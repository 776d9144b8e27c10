"""Where annotations go: the slide they belong to, its level-0 pixel frame in world units, objects off the slide.

napari puts the centre of pixel (i, j) of an image at data coordinate (i, j), at every pyramid level
(a coarser level's pixel covers exactly the level-0 pixels it was made from); QuPath puts pixel
(i, j) on [i, i + 1) x [j, j + 1).  So a QuPath vertex at pixel coordinate p lies at the slide's
data coordinate p - 0.5: annotation layers get the slide's scale and a translate half a pixel less.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .geojson_read import AnnotationReadError, Annotations

__all__ = ["SlideFrame", "drop_outside", "frame_from_layer", "pick_slide_layer", "slide_layers"]

_ANNOTATION_SUFFIXES = (".geojson", ".json")


@dataclass(frozen=True)
class SlideFrame:
    """A slide's level-0 pixels in the world, (y, x): world = translate + scale * (pixel - 0.5)."""

    scale: tuple[float, float] = (1.0, 1.0)
    translate: tuple[float, float] = (0.0, 0.0)
    units: tuple[str, str] = ("pixel", "pixel")
    shape: tuple[int, int] | None = None  # (height, width) in level-0 pixels; None: no slide
    name: str = ""

    def layer_transform(self) -> dict:
        """scale, translate and units of a layer whose data are QuPath pixel coordinates (y, x)."""
        scale = np.asarray(self.scale, dtype=float)
        return {
            "scale": tuple(float(v) for v in scale),
            "translate": tuple(float(v) for v in np.asarray(self.translate, dtype=float) - 0.5 * scale),
            "units": self.units,
        }

    def to_pixels(self, world: np.ndarray) -> np.ndarray:
        """(n, 2) world (y, x) -> QuPath level-0 pixel coordinates (y, x)."""
        return (np.asarray(world, dtype=float) - self.translate) / self.scale + 0.5

    def as_metadata(self) -> dict:
        return {"scale": list(self.scale), "translate": list(self.translate), "units": list(self.units),
                "shape": list(self.shape) if self.shape else None, "name": self.name}  # fmt: skip

    @classmethod
    def from_metadata(cls, meta: dict) -> SlideFrame:
        shape = meta.get("shape")
        return cls(
            scale=tuple(float(v) for v in meta["scale"]),
            translate=tuple(float(v) for v in meta["translate"]),
            units=tuple(str(u) for u in meta.get("units", ("pixel", "pixel"))),
            shape=tuple(int(v) for v in shape) if shape else None,
            name=str(meta.get("name", "")),
        )


def slide_layers(layers) -> list:
    """The slide layers napari-wsi-io opened (an ``mpp`` in their metadata), not their associated images."""
    return [
        layer
        for layer in layers
        if isinstance(getattr(layer, "metadata", None), dict)
        and "mpp" in layer.metadata
        and layer.metadata.get("path")
        and "associated_image" not in layer.metadata
    ]


def _keys(name: str) -> set[str]:
    return {name, Path(name).stem, name.split(".")[0]}


def _match(annotation_key: str, slide_path: str) -> int:
    slide_keys = _keys(Path(os.fspath(slide_path).rstrip("/\\")).name)
    if _keys(annotation_key) & slide_keys:
        return 2
    if any(
        annotation_key.startswith(k) and annotation_key[len(k) : len(k) + 1] in ("_", "-", " ", ".")
        for k in slide_keys
        if k
    ):
        return 1
    return 0


def pick_slide_layer(layers, annotation_path: str | os.PathLike):
    """The slide layer these annotations belong to: same file stem first, else the topmost slide; None if none."""
    name = Path(os.fspath(annotation_path)).name
    key = next((name[: -len(s)] for s in _ANNOTATION_SUFFIXES if name.lower().endswith(s)), name)
    best, best_score = None, -1
    for layer in slide_layers(layers):
        score = _match(key, layer.metadata["path"])
        if score >= best_score:  # ties go to the layer higher in the list
            best, best_score = layer, score
    return best


def frame_from_layer(layer) -> SlideFrame:
    """The frame of a slide layer (any image layer: its level-0 shape, scale, translate and units)."""
    shape = tuple(int(v) for v in layer.level_shapes[0][-2:]) if layer.multiscale else tuple(layer.data.shape[:2])
    return SlideFrame(
        scale=tuple(float(v) for v in layer.scale[-2:]),
        translate=tuple(float(v) for v in layer.translate[-2:]),
        units=tuple(str(u) for u in layer.units[-2:]),
        shape=shape,
        name=layer.name,
    )


def _object_bounds(ann: Annotations) -> tuple[np.ndarray, np.ndarray]:
    """Per object, the (y, x) minimum and maximum of its vertices."""
    n = len(ann.objects)
    lo, hi = np.full((n, 2), np.inf), np.full((n, 2), -np.inf)
    if ann.rings:
        verts = np.concatenate(ann.rings)
        starts = np.cumsum([0] + [len(r) for r in ann.rings[:-1]])
        owner = np.asarray(ann.ring_object)
        np.minimum.at(lo, owner, np.minimum.reduceat(verts, starts))
        np.maximum.at(hi, owner, np.maximum.reduceat(verts, starts))
    if ann.points:
        owner = np.asarray(ann.point_object)
        pts = np.asarray(ann.points)
        np.minimum.at(lo, owner, pts)
        np.maximum.at(hi, owner, pts)
    return lo, hi


def subset(ann: Annotations, keep: np.ndarray) -> Annotations:
    """The objects where ``keep`` is True, renumbered; ``skipped`` is carried over."""
    new_index = np.cumsum(keep) - 1
    rings = [(r, p, int(new_index[o])) for r, p, o in zip(ann.rings, ann.ring_part, ann.ring_object) if keep[o]]
    points = [(p, int(new_index[o])) for p, o in zip(ann.points, ann.point_object) if keep[o]]
    return replace(
        ann,
        rings=[r for r, _, _ in rings],
        ring_part=[p for _, p, _ in rings],
        ring_object=[o for _, _, o in rings],
        points=[p for p, _ in points],
        point_object=[o for _, o in points],
        objects=[obj for obj, k in zip(ann.objects, keep) if k],
    )


def drop_outside(ann: Annotations, frame: SlideFrame) -> tuple[Annotations, list[str]]:
    """Objects wholly off the slide are left out and counted; all of them off raises ``AnnotationReadError``."""
    if frame.shape is None or not ann.objects:
        return ann, []
    height, width = frame.shape
    lo, hi = _object_bounds(ann)
    outside = (hi[:, 0] < 0) | (hi[:, 1] < 0) | (lo[:, 0] > height) | (lo[:, 1] > width)
    partly = ~outside & ((lo < 0).any(axis=1) | (hi[:, 0] > height) | (hi[:, 1] > width))
    where = f"slide {frame.name!r} ({width} x {height} px)"
    if outside.all():
        raise AnnotationReadError(
            ann.source,
            f"none of its {len(ann.objects)} objects lie on {where}: annotations of another slide, "
            "or coordinates not in level-0 pixels",
        )
    notes = []
    if outside.any():
        notes.append(f"{int(outside.sum())} objects wholly outside {where} left out")
        ann = subset(ann, ~outside)
    if partly.any():
        notes.append(f"{int(partly.sum())} objects extend beyond the edge of {where}")
    return ann, notes
