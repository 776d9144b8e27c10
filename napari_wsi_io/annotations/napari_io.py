"""Reading and writing QuPath GeoJSON as napari layer data; no Qt here.

The reader knows no viewer: it is handed the viewer's layers (``_qt.annotation_io`` hands napari's current
viewer's, the entry points of ``napari.yaml``) to find the slide the annotations belong to
(``placement.pick_slide_layer``); in a script, or with no slide open, the annotations stay in pixel units,
and a notice says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .geojson_read import AnnotationReadError, gc_paused, read_geojson
from .geojson_write import write_geojson
from .layers import META_KEY, annotation_layer_data
from .placement import SlideFrame, drop_outside, frame_from_layer, pick_slide_layer

__all__ = ["annotation_layers", "napari_get_reader", "read_annotations", "write_annotations"]

SUFFIXES = (".geojson", ".json")
LayerData = tuple


def napari_get_reader(path: str | list[str]) -> Callable[[str | list[str]], list[LayerData]] | None:
    """``read_annotations`` for GeoJSON files; None otherwise."""
    paths = path if isinstance(path, (list, tuple)) else [path]
    if paths and all(os.fspath(p).lower().endswith(SUFFIXES) for p in paths):
        return read_annotations
    return None


def _slide_frame(path: str, layers: list) -> tuple[SlideFrame, list[str]]:
    layer = pick_slide_layer(layers, path)
    if layer is None:
        return SlideFrame(), [
            "no slide open: shown in level-0 pixels (scale 1); open the slide first to see them on it"
        ]
    return frame_from_layer(layer), []


def _skipped(counts) -> list[str]:
    if not counts:
        return []
    reasons = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
    return [f"{sum(counts.values())} objects left out ({reasons})"]


def read_annotations(path: str | list[str], viewer_layers: list = ()) -> list[LayerData]:
    """The annotations over the slide among ``viewer_layers`` they belong to (``annotation_layers``)."""
    paths = [path] if isinstance(path, (str, os.PathLike)) else path
    return [layer for p in paths for layer in annotation_layers(p, viewer_layers)]


def annotation_layers(path: str | os.PathLike, viewer_layers: list) -> list[LayerData]:
    """Shapes (and Points) layer data over the slide among ``viewer_layers`` that the file belongs to.

    What was left out, and where the annotations went, is notified; nothing to show raises.
    """
    path = os.fspath(path)
    ann = read_geojson(path)
    if not ann.objects:
        raise AnnotationReadError(path, "no objects napari can show" + "".join(f": {s}" for s in _skipped(ann.skipped)))
    frame, notes = _slide_frame(path, viewer_layers)
    with gc_paused():
        ann, outside = drop_outside(ann, frame)
        layers, drawing = annotation_layer_data(ann, frame, Path(path).stem)
    _notify(path, len(ann.objects), frame, _skipped(ann.skipped) + notes + outside + drawing)
    return layers


def _notify(path: str, count: int, frame: SlideFrame, notes: list[str]) -> None:
    if not notes:
        return
    from napari.utils.notifications import show_warning

    where = f" on slide {frame.name!r}" if frame.name else ""
    show_warning(f"{Path(path).name}: {count} objects{where}; " + "; ".join(notes))


def _writer_frame(path: str, viewer_layers: list) -> Callable[[dict], SlideFrame]:
    def frame_for(meta: dict) -> SlideFrame:
        saved = (meta.get("metadata") or {}).get(META_KEY, {}).get("frame")
        if saved:
            return SlideFrame.from_metadata(saved)
        layer = pick_slide_layer(viewer_layers, path)  # drawn by hand: over the slide in the viewer, if any
        return frame_from_layer(layer) if layer is not None else SlideFrame()

    return frame_for


def write_annotations(path: str, layer_data: list[LayerData], viewer_layers: list = ()) -> list[str]:
    """Shapes and Points layers to one QuPath GeoJSON file in level-0 pixels.

    A layer drawn by hand (no frame of its own) is placed over the slide among ``viewer_layers``, if any.
    """
    return write_geojson(path, layer_data, _writer_frame(path, list(viewer_layers)))
