"""Several layers moved and watched as one: the layers of a slide's channels, or the in-memory reference's.

``LayerGroup`` offers what ``Stage`` and ``FrameWatch`` read of a layer (scale, level, tile, ...) from its first
layer, and shows, hides and listens to all of them; ``GroupWatch`` waits until every layer of the group covers
the new view (each one sliced by napari, each with its own tile).
"""

from __future__ import annotations

from .canvas import FrameWatch
from .reference import add_pattern_copy, centre_pattern


class _GroupEvents:
    def __init__(self, layers: list) -> None:
        self.layers = layers

    @property
    def set_data(self):
        layers = self.layers

        class _All:
            @staticmethod
            def connect(callback) -> None:
                for layer in layers:
                    layer.events.set_data.connect(callback)

        return _All()


class LayerGroup:
    """Layers shown, hidden and watched together; everything else is read from the first one."""

    def __init__(self, layers: list) -> None:
        self.layers = list(layers)

    def __getattr__(self, name: str):
        if name == "layers":
            raise AttributeError(name)
        return getattr(self.layers[0], name)

    @property
    def visible(self) -> bool:
        return all(layer.visible for layer in self.layers)

    @visible.setter
    def visible(self, value: bool) -> None:
        for layer in self.layers:
            layer.visible = value

    @property
    def events(self) -> _GroupEvents:
        return _GroupEvents(self.layers)


class GroupWatch(FrameWatch):
    """A ``FrameWatch`` whose conditions hold when they hold for every layer of the watched group."""

    def _every(self, condition) -> bool:
        group = self.layer
        try:
            for layer in group.layers:
                self.layer = layer
                if not condition():
                    return False
            return True
        finally:
            self.layer = group

    def covers_view(self) -> bool:
        return self._every(super().covers_view) if isinstance(self.layer, LayerGroup) else super().covers_view()

    def tile_nonempty(self) -> bool:
        return self._every(super().tile_nonempty) if isinstance(self.layer, LayerGroup) else super().tile_nonempty()


def reference_group(viewer, group: LayerGroup, path: str) -> LayerGroup:
    """napari's own in-memory pyramid of each channel layer: same level shapes, dtype, chunks, colours."""
    from napari_wsi_io import open_slide

    layers = []
    with open_slide(path) as slide:
        for channel, layer in zip(slide.channels.channels, group.layers):
            pattern = centre_pattern(slide.plane((channel.index, 0, 0)), *slide.dimensions)
            settings = {"units": layer.units, "colormap": layer.colormap, "blending": layer.blending}
            layers.append(add_pattern_copy(viewer, layer, pattern, f"in-memory {layer.name}", **settings))
    return LayerGroup(layers)
