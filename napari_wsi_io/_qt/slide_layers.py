"""Which layers of a viewer are slides, as the docks offer them."""

from __future__ import annotations

from pathlib import Path

from napari.layers import Image

__all__ = ["is_slide_layer", "slide_layer_choices"]


def is_slide_layer(layer) -> bool:
    """An image layer of a slide opened by napari-wsi-io.

    Its associated images (label, macro) carry the slide's path too but are not slides;
    the benchmark overlay carries no path.
    """
    return isinstance(layer, Image) and bool(layer.metadata.get("path")) and "associated_image" not in layer.metadata


def slide_layer_choices(viewer) -> list[tuple[str, object]]:
    """(name, layer) of every slide, in the viewer's order.

    A slide that stores channels has a layer per channel; it is offered once, as its first channel's layer
    named after the file (the docks read the file: every channel).
    """
    layers = [layer for layer in viewer.layers if is_slide_layer(layer)]
    channels: dict[str, int] = {}
    for layer in layers:
        if "channel" in layer.metadata:
            channels[layer.metadata["path"]] = channels.get(layer.metadata["path"], 0) + 1
    choices, seen = [], set()
    for layer in layers:
        path = layer.metadata["path"]
        if path in channels:
            if path in seen:
                continue
            seen.add(path)
            choices.append((f"{Path(path).name} ({channels[path]} channels)", layer))
        else:
            choices.append((layer.name, layer))
    return choices
