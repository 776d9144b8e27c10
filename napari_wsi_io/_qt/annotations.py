"""The "Load QuPath annotations…" menu command, and the current viewer's layers for the GeoJSON reader."""

from __future__ import annotations

import os

from napari.layers import Layer
from napari.utils.notifications import show_error
from napari.viewer import Viewer
from qtpy.QtWidgets import QFileDialog

from ..annotations.geojson_read import AnnotationReadError
from ..annotations.napari_io import annotation_layers
from ..annotations.placement import slide_layers

__all__ = ["load_annotations", "open_annotations"]


def open_annotations(viewer: Viewer, path: str | os.PathLike) -> list[Layer]:
    """Add the annotations in ``path`` over their slide in ``viewer``; an unreadable file is an error notice."""
    try:
        data = annotation_layers(path, list(viewer.layers))
    except AnnotationReadError as exc:
        show_error(str(exc))
        return []
    return [viewer.add_layer(Layer.create(*layer_data)) for layer_data in data]


def load_annotations(viewer: Viewer) -> list[Layer]:
    """Menu command: pick a GeoJSON file (starting beside the topmost slide) and open it over its slide."""
    slides = slide_layers(viewer.layers)
    start = os.path.dirname(slides[-1].metadata["path"]) if slides else ""
    path, _ = QFileDialog.getOpenFileName(
        viewer.window._qt_window, "Load QuPath annotations", start, "GeoJSON (*.geojson *.json);;All files (*)"
    )
    return open_annotations(viewer, path) if path else []
