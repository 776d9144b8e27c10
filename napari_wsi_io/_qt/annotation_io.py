"""The GeoJSON reader and writer napari calls (``napari.yaml``): the core ones (``annotations.napari_io``),
handed the layers of the viewer napari calls current, so annotations land on their slide.

Imports no Qt: ``npe2.read`` or ``npe2.write`` in a script comes here too, finds no viewer and stays Qt-free.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..annotations import napari_io
from ..annotations.napari_io import LayerData

__all__ = ["napari_get_reader", "write_annotations"]


def _viewer_layers() -> list:
    """The layers of napari's current viewer; none in a script (napari's Qt part not loaded)."""
    if "napari._qt" not in sys.modules:
        return []
    import napari

    viewer = napari.current_viewer()
    return list(viewer.layers) if viewer is not None else []


def napari_get_reader(path: str | list[str]) -> Callable[[str | list[str]], list[LayerData]] | None:
    """A reader for GeoJSON files that places them over their slide in the current viewer; None otherwise."""
    if napari_io.napari_get_reader(path) is None:
        return None
    return lambda path: napari_io.read_annotations(path, _viewer_layers())


def write_annotations(path: str, layer_data: list[LayerData]) -> list[str]:
    """npe2 writer: Shapes and Points layers to QuPath GeoJSON; a layer drawn by hand goes over the current slide."""
    return napari_io.write_annotations(path, layer_data, _viewer_layers())
