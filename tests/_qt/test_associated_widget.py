"""The "Associated images" dock in a real viewer: label, macro and thumbnail opened on request."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_wsi_io import open_slide


@pytest.fixture
def dock(make_napari_viewer, slides):
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget("napari-wsi-io", "Associated images")
    return viewer, widget


def test_opens_the_chosen_image_beside_the_slide(dock, slides, qtbot):
    viewer, widget = dock
    assert widget.layer.value is None and not widget.open_button.enabled  # nothing open yet
    viewer.open(str(slides["svs"]), plugin="napari-wsi-io")
    assert widget.layer.value is viewer.layers[0]
    assert list(widget.image.choices) == ["thumbnail", "label", "macro"]
    widget.image.value = "macro"
    qtbot.mouseClick(widget.open_button.native, Qt.MouseButton.LeftButton)
    assert [layer.name for layer in viewer.layers] == ["aperio", "aperio macro"]
    macro = viewer.layers[1]
    with open_slide(slides["svs"]) as slide:
        np.testing.assert_array_equal(macro.data, slide.read_associated("macro"))
    assert macro.visible and macro.rgb
    # Over the slide's top-left corner, a quarter of its height, inside its width.
    slide_layer = viewer.layers[0]
    height = slide_layer.extent.world[1][0] - slide_layer.extent.world[0][0]
    assert macro.extent.world[1][0] - macro.extent.world[0][0] == pytest.approx(height / 4, rel=0.01)
    assert macro.extent.world[1][1] <= slide_layer.extent.world[1][1]
    assert "opened aperio macro" in widget.status.value


def test_a_slide_without_associated_images_says_so(dock, slides):
    viewer, widget = dock
    viewer.open(str(slides["lzw"]), plugin="napari-wsi-io")
    assert list(widget.image.choices) == [] and not widget.open_button.enabled
    assert "has no associated images" in widget.status.value


def test_an_unreadable_slide_is_reported_not_raised(dock, tmp_path, slides):
    import shutil

    viewer, widget = dock
    path = tmp_path / "moved.svs"
    shutil.copy(slides["svs"], path)
    viewer.open(str(path), plugin="napari-wsi-io")
    widget.image.value = "label"
    path.unlink()  # the file went away after it was opened
    widget.open()
    assert len(viewer.layers) == 1
    assert widget.status.value == f"cannot read {path}: no such file"


def test_an_opened_associated_image_is_not_offered_as_a_slide(dock, slides):
    viewer, widget = dock
    viewer.open(str(slides["svs"]), plugin="napari-wsi-io")
    widget.image.value = "label"
    widget.open()
    _, bench = viewer.window.add_plugin_dock_widget("napari-wsi-io", "WSI benchmark")
    slide = viewer.layers[0]
    assert [layer.name for layer in viewer.layers] == ["aperio", "aperio label"]
    for combo in (widget.layer, bench.layer_combo):  # both docks list the slide, not its label
        assert [layer for layer in combo.choices if layer is not None] == [slide]
