"""The slide layers of a viewer, as the docks offer them."""

from __future__ import annotations

__all__ = ["slide_layer_choices"]


def slide_layer_choices(viewer) -> list[tuple[str, object]]:
    """(name, layer) of every slide opened by napari-wsi-io; not its associated images, which carry the path too."""
    return [
        (layer.name, layer)
        for layer in viewer.layers
        if layer.metadata.get("path") and "associated_image" not in layer.metadata
    ]
