"""A slide at a URL in napari: ``viewer.open(url)`` and the plugin's "Open URL…" entry, pixels as the local
file's, failures shown in the dock without credentials, and the GUI never waiting on the network."""

from __future__ import annotations

import numpy as np
import pytest

from napari_wsi_io import open_slide
from napari_wsi_io._qt.open_url import OpenUrlWidget

pytestmark = pytest.mark.timeout(120)


def _level2(served) -> np.ndarray:
    with open_slide(served["svs"], backend="tifffile") as local:
        return local.read_level(2, 0, 0, *local.level_dimensions[2])


def test_viewer_open_takes_a_url(make_napari_viewer, url, served):
    viewer = make_napari_viewer()
    layers = viewer.open(url("svs"), plugin="napari-wsi-io")
    assert len(layers) == 1 and layers[0].multiscale
    assert layers[0].metadata["path"] == url("svs") and layers[0].metadata["backend"] == "tifffile"
    np.testing.assert_array_equal(np.asarray(layers[0].data[2]), _level2(served))


def test_open_url_entry_adds_the_slide_from_a_thread(make_napari_viewer, qtbot, url, served):
    viewer = make_napari_viewer()
    dock = OpenUrlWidget(viewer)
    dock.url.value = url("svs")
    worker = dock.open()
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        pass
    qtbot.waitUntil(lambda: len(viewer.layers) == 1, timeout=5_000)
    assert "opened" in dock.status.value and dock.open_button.enabled
    np.testing.assert_array_equal(np.asarray(viewer.layers[0].data[2]), _level2(served))


def test_open_url_entry_reports_failures_without_credentials(make_napari_viewer, qtbot, proxy):
    viewer = make_napari_viewer()
    dock = OpenUrlWidget(viewer)
    dock.url.value = "not a url"
    assert dock.open() is None and "give a URL" in dock.status.value
    dock.url.value = proxy.url.replace("://", "://who:hunter2@") + "/slides/absent.svs"
    worker = dock.open()
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        pass
    qtbot.waitUntil(lambda: "404" in dock.status.value, timeout=5_000)
    assert "absent.svs" in dock.status.value and "hunter2" not in dock.status.value and not viewer.layers
