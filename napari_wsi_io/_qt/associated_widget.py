"""The "Associated images" dock: a slide's label, macro and thumbnail, opened on request.

The reader opens the slide alone: three more layers at every open cost about 0.3 s before the
first pixel and crowd the layer list, while the label and macro are looked at now and then.
"""

from __future__ import annotations

import warnings

from magicgui.widgets import ComboBox, Container, Label, PushButton

from .._errors import SlideReadError
from .._reader import associated_layers
from .slide_layers import slide_layer_choices

__all__ = ["AssociatedImagesWidget"]


class AssociatedImagesWidget(Container):
    """Pick a slide layer and one of its associated images; "Open" adds it as a layer."""

    def __init__(self, napari_viewer) -> None:
        self.viewer = napari_viewer
        self.layer = ComboBox(label="Slide", choices=lambda _w=None: slide_layer_choices(self.viewer), nullable=True)
        self.image = ComboBox(label="Image", choices=self._images)
        self.open_button = PushButton(text="Open")
        self.status = Label(value="")
        self.status.native.setWordWrap(True)
        super().__init__(widgets=[self.layer, self.image, self.open_button, self.status])
        self.layer.changed.connect(self._refresh_images)
        self.open_button.changed.connect(self.open)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self._refresh_layers()

    def _images(self, _widget=None) -> list[str]:
        layer = self.layer.value
        return list(layer.metadata.get("associated_images", [])) if layer is not None else []

    def _refresh_layers(self, _event=None) -> None:
        self.layer.reset_choices()
        layers = [layer for layer in self.layer.choices if layer is not None]
        if self.layer.value is None and layers:
            self.layer.value = layers[0]
        self._refresh_images()

    def _refresh_images(self, _layer=None) -> None:
        self.image.reset_choices()
        self.open_button.enabled = bool(self.image.choices)
        if self.layer.value is not None and not self.image.choices:
            self.status.value = f"{self.layer.value.name} has no associated images"
        else:
            self.status.value = ""

    def open(self, _value=None) -> None:
        layer, name = self.layer.value, self.image.value
        if layer is None or not name:
            return
        from napari.layers import Layer

        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                found = associated_layers(layer.metadata["path"], [name], backend=layer.metadata.get("backend"))
        except SlideReadError as exc:
            self.status.value = str(exc)
            return
        if not found:
            path = layer.metadata["path"]
            self.status.value = str(caught[-1].message) if caught else f"cannot read {path}: no image {name!r}"
            return
        data, kwargs, kind = found[0]
        # Placed in the slide's frame: follow the slide layer if it was moved.
        kwargs["translate"] = tuple(t + o for t, o in zip(kwargs["translate"], layer.translate[-2:]))
        self.viewer.add_layer(Layer.create(data, kwargs, kind))
        self.status.value = f"opened {kwargs['name']}"
