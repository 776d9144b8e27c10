"""Which layers of a viewer are slides, as the docks offer them."""

from __future__ import annotations

from napari.layers import Image

__all__ = ["is_slide_layer", "slide_layer_choices"]


def is_slide_layer(layer) -> bool:
    """An image layer of a slide opened by napari-wsi-io.

    Its associated images (label, macro) carry the slide's path too but are not slides;
    the benchmark overlay carries no path.
    """
    return isinstance(layer, Image) and bool(layer.metadata.get("path")) and "associated_image" not in layer.metadata


def slide_layer_choices(viewer) -> list[tuple[str, object]]:
    """(name, layer) of every slide layer, in the viewer's order."""
    return [(layer.name, layer) for layer in viewer.layers if is_slide_layer(layer)]
