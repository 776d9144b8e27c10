"""The docks on a slide that stores channels: offered once, benchmarked and exported with every channel."""

from __future__ import annotations

from qtpy.QtCore import Qt
from test_bench_widget import click, configure, open_dock, wait_done

from napari_wsi_io._qt.export_widget import ExportWidget
from napari_wsi_io._qt.results_table import COLUMNS
from napari_wsi_io._qt.slide_layers import slide_layer_choices


def test_benchmark_dock_reads_every_channel_and_shows_mb_per_s(make_napari_viewer, qtbot, channel_slides):
    viewer = make_napari_viewer()
    layer, widget = open_dock(viewer, channel_slides["ome16"])
    assert len(viewer.layers) == 6
    assert [name for name, _ in slide_layer_choices(viewer)] == ["ome16.ome.tif (6 channels)"]
    assert widget.layer_combo.value is layer
    configure(widget, level=1, backends=("tifffile",), strategies=("serial", "threads"), workers="2")
    click(qtbot, widget.run_level_button)
    wait_done(qtbot, widget)
    assert widget.error is None, widget.error
    records = widget.result.records
    assert {r.bytes_per_pixel for r in records} == {12}  # six 16-bit channels
    column = COLUMNS.index("MB/s")
    shown = {widget.table.item(row, column).text() for row in range(widget.table.rowCount())}
    assert shown == {f"{r.mb_per_s:.0f}" for r in records}
    assert "MB/s" in widget.status.text()


def test_export_dock_writes_every_channel(make_napari_viewer, qtbot, channel_slides, tmp_path):
    import zarr

    viewer = make_napari_viewer()
    viewer.open(str(channel_slides["qptiff8"]), plugin="napari-wsi-io")
    widget = ExportWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Export to OME-Zarr")
    assert [layer for layer in widget.layer.choices if layer is not None] == [viewer.layers[0]]
    widget.output.value = tmp_path / "q.ome.zarr"
    widget.levels.value = "2"
    qtbot.mouseClick(widget.export_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not widget.running, timeout=60000)
    assert widget.error is None, widget.error
    group = zarr.open_group(tmp_path / "q.ome.zarr", mode="r")
    assert group["0"].shape == (5, 250, 350)
    labels = [c["label"] for c in group.attrs["ome"]["omero"]["channels"]]
    assert labels == ["DAPI", "CD3", "CD8", "PanCK", "FoxP3"]
