"""``napari-wsi-io demo`` (what ``make demo`` runs) in a real napari, with the event loop left out."""

from __future__ import annotations

import napari

from napari_wsi_io.cli import main


def test_demo_opens_the_sample_and_the_benchmark_dock(monkeypatch, tmp_path, qtbot):
    monkeypatch.setenv("NAPARI_WSI_IO_CACHE", str(tmp_path))
    monkeypatch.setenv("NAPARI_ASYNC", "1")  # restored afterwards; the demo sets it for its own process
    monkeypatch.setattr(napari, "run", lambda: None)
    assert main(["demo", "--small"]) == 0
    viewer = napari.current_viewer()
    try:
        (layer,) = viewer.layers
        assert layer.multiscale and layer.data[0].shape == (3000, 4000, 3)
        assert layer.metadata["path"].startswith(str(tmp_path))
        assert "WSI benchmark (napari-wsi-io)" in viewer.window.dock_widgets
    finally:
        viewer.close()
