"""Leica SCN, Ventana BIF and Philips TIFF opened in a real napari viewer, associated images from the dock."""

from __future__ import annotations

import numpy as np
import openslide
import pytest
from qtpy.QtCore import Qt

from napari_wsi_io.synthetic.bif import write_bif
from napari_wsi_io.synthetic.philips import write_philips
from napari_wsi_io.synthetic.scn import write_scn

# Small slides: a viewer only needs to open them.
WRITERS = {
    "leica": (lambda p: write_scn(p, shape=(750, 1000), levels=2), "scn"),
    "ventana": (lambda p: write_bif(p, shape=(768, 1024), levels=2), "bif"),
    "philips": (lambda p: write_philips(p, shape=(750, 1000), levels=3), "tiff"),
}


@pytest.mark.parametrize("vendor", list(WRITERS))
def test_vendor_slide_opens_as_its_main_image(make_napari_viewer, tmp_path, vendor):
    writer, suffix = WRITERS[vendor]
    path = writer(tmp_path / f"slide.{suffix}")
    osl = openslide.OpenSlide(str(path))
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-wsi-io")
    assert layer.metadata["vendor"] == vendor
    size = osl.level_dimensions[0]
    if vendor == "leica":  # the main image: OpenSlide's bounds inside the collection
        size = int(osl.properties["openslide.bounds-width"]), int(osl.properties["openslide.bounds-height"])
    assert layer.data[0].shape[:2] == size[::-1]
    assert layer.scale[0] == pytest.approx(float(osl.properties["openslide.mpp-y"]))


def test_philips_label_from_the_xml_opens_from_the_dock(make_napari_viewer, tmp_path, qtbot):
    path = write_philips(tmp_path / "slide.tiff", shape=(750, 1000), levels=3, label_in_xml=True)
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget("napari-wsi-io", "Associated images")
    viewer.open(str(path), plugin="napari-wsi-io")
    assert sorted(widget.image.choices) == ["label", "macro"]
    widget.image.value = "label"
    qtbot.mouseClick(widget.open_button.native, Qt.MouseButton.LeftButton)
    label = viewer.layers[-1]
    assert label.name == "slide label"
    ref = np.asarray(openslide.OpenSlide(str(path)).associated_images["label"])[..., :3]
    assert np.abs(np.asarray(label.data).astype(np.int16) - ref).mean() < 3
