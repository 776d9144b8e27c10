"""The "Export to OME-Zarr" dock in a real viewer: clicking Export and Cancel, errors shown."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from qtpy.QtCore import Qt

from napari_wsi_io import open_slide
from napari_wsi_io._qt.export_widget import ExportWidget
from napari_wsi_io.synthetic import write_synthetic_slide


@pytest.fixture
def dock(make_napari_viewer, slides, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open(str(slides["svs"]), plugin="napari-wsi-io")
    widget = ExportWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Export to OME-Zarr")
    yield viewer, widget
    if widget.running:
        widget.cancel()
        qtbot.waitUntil(lambda: not widget.running, timeout=30000)


def click(qtbot, button) -> None:
    qtbot.mouseClick(button.native, Qt.MouseButton.LeftButton)


def notifications() -> list[str]:
    from napari.utils.notifications import notification_manager

    return [str(n.message) for n in notification_manager.records]


def test_slide_layer_and_output_are_suggested(dock, slides):
    viewer, widget = dock
    assert widget.layer.value is viewer.layers[0]
    # the label and macro layers of the slide are not offered
    viewer.window.add_plugin_dock_widget("napari-wsi-io", "Associated images")[1].open()
    assert len(viewer.layers) == 2
    assert [layer for layer in widget.layer.choices if layer is not None] == [viewer.layers[0]]
    assert str(widget.output.value) == str(slides["svs"].with_name("aperio.ome.zarr"))
    assert not widget.address.visible
    widget.scheduler.value = "dask scheduler"
    assert widget.address.visible and not widget.workers.enabled


def test_export_button_writes_the_store(dock, slides, tmp_path, qtbot):
    _, widget = dock
    out = tmp_path / "w.ome.zarr"
    widget.output.value = out
    widget.levels.value = "1,2"
    widget.workers.value = 1
    click(qtbot, widget.export_button)
    assert widget.running and not widget.export_button.enabled and widget.cancel_button.enabled
    qtbot.waitUntil(lambda: not widget.running, timeout=60000)
    assert widget.error is None and widget.summary is not None
    assert widget.progress.value == widget.progress.max
    assert "wrote w.ome.zarr" in widget.status.value and "MP/s" in widget.status.value
    assert any("wrote" in message for message in notifications())
    with open_slide(slides["svs"]) as slide:
        w, h = slide.level_dimensions[2]
        expected = np.moveaxis(slide.read_level(2, 0, 0, w, h), -1, 0)
    np.testing.assert_array_equal(zarr.open_array(out / "1", mode="r")[:], expected)
    assert widget.export_button.enabled and not widget.cancel_button.enabled


@pytest.fixture(scope="module")
def big_slide(tmp_path_factory):
    """Large enough (67 MP at level 0) that one worker is still busy when the test cancels."""
    return write_synthetic_slide(tmp_path_factory.mktemp("big") / "big.tif", (8192, 8192), min_level_side=2048)


@pytest.mark.parametrize("how", ["cancel button", "worker.quit()"])
def test_cancel_stops_and_removes_the_partial_store(make_napari_viewer, big_slide, tmp_path, qtbot, how):
    viewer = make_napari_viewer(show=True)
    viewer.open(str(big_slide), plugin="napari-wsi-io")
    widget = ExportWidget(viewer)
    viewer.window.add_dock_widget(widget)
    out = tmp_path / "c.ome.zarr"
    widget.output.value = out
    widget.workers.value = 1
    widget.chunk.value = 256
    click(qtbot, widget.export_button)
    qtbot.waitUntil(lambda: any(tmp_path.glob("c.ome.zarr.partial-*/0/c/0/*/*")), timeout=30000)  # shard files
    if how == "cancel button":
        click(qtbot, widget.cancel_button)
    else:
        widget.worker.quit()  # what napari does to running workers when it closes
    qtbot.waitUntil(lambda: not widget.running, timeout=30000)
    assert widget.summary is None and widget.error is None
    assert widget.status.value.startswith("cancelled")
    assert not out.exists() and not list(tmp_path.glob("c.ome.zarr.partial-*"))


def test_format_04_without_shards_from_the_dock(dock, tmp_path, qtbot):
    _, widget = dock
    assert widget.format.value == "0.5" and widget.shard.value == 4096 and widget.shard.enabled
    widget.format.value = "0.4"
    assert not widget.shard.enabled
    out = tmp_path / "v2.ome.zarr"
    widget.output.value = out
    widget.levels.value = "2"
    widget.chunk.value = 256
    click(qtbot, widget.export_button)
    qtbot.waitUntil(lambda: not widget.running, timeout=60000)
    assert widget.error is None and "NGFF 0.4" in widget.summary.layout
    assert (out / ".zgroup").is_file() and (out / "0" / ".zarray").is_file()
    assert len(list((out / "0" / "0").rglob("*"))) == 3 * 4 + 3  # 3 x 4 chunk files in 3 row directories


def test_existing_output_is_an_error_in_the_dock_and_a_notification(dock, tmp_path, qtbot):
    _, widget = dock
    out = tmp_path / "exists.ome.zarr"
    out.mkdir()
    (out / ".zgroup").write_text('{"zarr_format": 2}')
    widget.output.value = out
    click(qtbot, widget.export_button)
    qtbot.waitUntil(lambda: not widget.running, timeout=30000)
    assert "already exists" in widget.error and widget.status.value.startswith("error:")
    assert any("already exists" in message for message in notifications())
    widget.overwrite.value = True
    widget.levels.value = "2"
    click(qtbot, widget.export_button)
    qtbot.waitUntil(lambda: not widget.running, timeout=60000)
    assert widget.error is None and widget.summary is not None and (out / "zarr.json").is_file()


def test_no_slide_layer_is_an_error(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((10, 10)))  # not a slide: no path in its metadata
    widget = ExportWidget(viewer)
    qtbot.addWidget(widget.native)
    assert widget.layer.value is None
    widget.export_button.native.click()
    assert not widget.running and "no slide layer" in widget.error
