"""``napari-wsi-io demo`` (what ``make demo`` runs) in a real napari, with the event loop left out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import napari
import numpy as np
import pytest
from qtpy.QtWidgets import QApplication, QScrollArea

from napari_wsi_io.cli import main

DOCK = "WSI benchmark (napari-wsi-io)"


def _canvas_rect_of(layer, viewer) -> tuple[np.ndarray, np.ndarray]:
    """The layer's extent in canvas pixels (top-left, bottom-right, as y, x) and the canvas size."""
    scene = getattr(viewer, "scene", None)  # napari >= 0.9: viewer.scene.camera and viewer.canvas
    camera = viewer.camera if scene is None else scene.camera
    size = np.array(viewer.canvas.size if scene is not None else viewer._canvas_size, float)  # (height, width)
    extent = np.asarray(layer.extent.world)[:, -2:]  # micrometres, (min, max) x (y, x)
    centre = np.asarray(camera.center[-2:], float)
    corners = (extent - centre) * camera.zoom + size / 2
    return corners, size


def test_demo_uses_the_screen_fits_the_slide_and_is_ready(monkeypatch, tmp_path, qtbot):
    monkeypatch.setenv("NAPARI_WSI_IO_CACHE", str(tmp_path))
    monkeypatch.setenv("NAPARI_ASYNC", "1")  # restored afterwards; the demo sets it for its own process
    monkeypatch.setattr(napari, "run", lambda: None)
    assert main(["demo", "--small"]) == 0
    viewer = napari.current_viewer()
    try:
        (layer,) = viewer.layers  # the slide alone: no empty "benchmark chunks" layer before a run
        assert layer.multiscale and layer.data[0].shape == (3000, 4000, 3)
        assert layer.metadata["path"].startswith(str(tmp_path))
        widget = viewer.window.dock_widgets[DOCK]
        dock = widget.parent()
        window = dock.window()
        screen = window.screen().availableGeometry()
        qtbot.waitUntil(lambda: window.width() >= 0.9 * screen.width() and window.height() >= 0.8 * screen.height())
        # The dock leaves most of the window to the slide, and shows its controls whole (it scrolls vertically only).
        assert dock.width() < 0.4 * window.width()
        controls = widget.findChild(QScrollArea).widget()
        assert controls.width() >= controls.minimumSizeHint().width()
        qtbot.wait(700)  # the view is refitted 50 ms after the last resize; napari then picks a level
        (top_left, bottom_right), canvas = _canvas_rect_of(layer, viewer)
        assert (top_left >= -1).all() and (bottom_right <= canvas + 1).all(), (top_left, bottom_right, canvas)
        # Fitted: the slide fills the canvas along one axis (napari leaves a 5 % margin).
        assert ((bottom_right - top_left) / canvas).max() > 0.85
        # A fitted 4000 px slide is drawn from a smaller level than level 0, and the dock names it.
        qtbot.waitUntil(lambda: layer.data_level > 0)
        qtbot.waitUntil(lambda: f"time level {layer.data_level}, the level on screen" in widget.status.text())
        assert widget.status.text().startswith("Press Benchmark level")
        QApplication.processEvents()
        assert [lyr.name for lyr in viewer.layers] == [layer.name]
    finally:
        viewer.close()
        qtbot.wait(50)  # the window's deferred deletions, before a test that does not run Qt's event loop


def test_ctrl_c_closes_the_demo_and_exits_130(tmp_path):
    # A test run started in the background inherits an ignored SIGINT, which the demo respects;
    # a terminal's Ctrl-C finds Python's usual handler, put back here.
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from napari_wsi_io.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "NAPARI_CONFIG": str(tmp_path / "napari-settings.yaml")}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "demo", "--small"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not any(b"Ctrl-C closes it" in line for line in lines):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the demo did not open: {b''.join(lines).decode(errors='replace')}")
        time.sleep(0.05)
    time.sleep(1)  # into napari's event loop
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("Ctrl-C did not close the demo")
    reader.join(timeout=10)
    err = b"".join(lines).decode(errors="replace")
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("napari-wsi-io: interrupted"), err
