"""Slicing before the render (``_qt.prerender``): new data in the frame the move asks for, other layers
unchanged, napari's default path when turned off or on an unknown napari version."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

from napari_wsi_io import open_slide
from napari_wsi_io._qt import prerender
from napari_wsi_io.pyramid import Read, display_state


@pytest.fixture
def sync_slicing(monkeypatch):
    from napari.settings import get_settings

    settings = get_settings()
    monkeypatch.setattr(settings, "config_path", None)  # nothing is saved to disk
    previous = settings.experimental.async_
    settings.experimental.async_ = False
    yield
    settings.experimental.async_ = previous


def _draw_callbacks(viewer) -> list[str]:
    """The draw event's callbacks, by class and name, in the order vispy calls them."""
    emitter = viewer.window._qt_viewer.canvas._scene_canvas.events.draw
    return [
        f"{type(cb[0]()).__name__}.{cb[1]}" if isinstance(cb, tuple) else getattr(cb, "__qualname__", type(cb).__name__)
        for cb in emitter.callbacks
    ]


def _frames_to_show(viewer, layer, qtbot, y: float, x: float) -> int:
    """Move the camera's centre to level-0 pixel (y, x) at 1:1; frames drawn until one shows the new tile."""
    canvas = viewer.window._qt_viewer.canvas._scene_canvas
    shown = []

    def after_render(event) -> None:
        tile0 = np.asarray(layer._transforms["tile2data"].translate)[:2]
        tile1 = tile0 + np.array(layer._slice.image.raw.shape[:2])
        shown.append(bool(np.all(tile0 <= (y, x)) and np.all((y, x) < tile1)))

    # Right after vispy's render, before napari's own on_draw (which may slice after it): what this frame showed.
    canvas.events.draw.connect(after_render, after=(weakref.ref(canvas), "on_draw"))
    try:
        mpp = layer.scale[-1]
        viewer.scene.camera.center = (y * mpp, x * mpp)
        qtbot.waitUntil(lambda: any(shown), timeout=10000)
    finally:
        canvas.events.draw.disconnect(after_render)
    return shown.index(True) + 1


def _open_at(viewer, slides, qtbot):
    layer = viewer.open(str(slides["svs"]), plugin="napari-wsi-io")[0]
    viewer.scene.camera.zoom = 1 / layer.scale[-1]
    viewer.scene.camera.center = (700 * layer.scale[-2], 900 * layer.scale[-1])
    qtbot.waitUntil(lambda: layer.loaded and layer.data_level == 0, timeout=10000)
    qtbot.wait(200)
    return layer


def test_versions_it_was_checked_against():
    import napari

    assert prerender.supported(napari.__version__)  # the napari pinned in pyproject
    assert prerender.supported("0.9.0") and prerender.supported("0.9.7rc1")
    for version in ("0.10.0", "1.0.0", "0.8.9", "garbage", ""):
        assert not prerender.supported(version)


def test_a_pan_shows_the_new_tile_in_the_first_frame(make_napari_viewer, slides, qtbot, sync_slicing, monkeypatch):
    monkeypatch.setenv(prerender.COARSE_ENV_VAR, "0")  # frames wait for the decode: the fine tile each time
    viewer = make_napari_viewer(show=True)
    layer = _open_at(viewer, slides, qtbot)
    assert prerender.installed(viewer)
    with open_slide(slides["svs"]) as slide:
        for y, x in [(700, 2900), (2300, 2900), (2300, 600)]:  # each leaves the loaded tile
            assert _frames_to_show(viewer, layer, qtbot, y, x) == 1
            tile = np.asarray(layer._slice.image.raw)
            y0, x0 = (int(v) for v in np.asarray(layer._transforms["tile2data"].translate)[:2])
            np.testing.assert_array_equal(tile, slide.read_level(0, x0, y0, tile.shape[1], tile.shape[0]))


def test_turned_off_it_is_napari_default_path(make_napari_viewer, slides, qtbot, sync_slicing, monkeypatch):
    plain = make_napari_viewer(show=True)
    default = _draw_callbacks(plain)
    monkeypatch.setenv(prerender.PRERENDER_ENV_VAR, "0")
    viewer = make_napari_viewer(show=True)
    layer = _open_at(viewer, slides, qtbot)
    assert not prerender.installed(viewer)
    assert _draw_callbacks(viewer) == default
    # napari's own order: the old tile at the new place first, the new tile a frame later.
    assert _frames_to_show(viewer, layer, qtbot, 700, 2900) == 2


def test_an_unknown_napari_version_keeps_napari_default_path(make_napari_viewer, slides, qtbot, monkeypatch):
    import napari

    plain = make_napari_viewer(show=True)
    default = _draw_callbacks(plain)
    monkeypatch.setattr(napari, "__version__", "0.12.0")
    viewer = make_napari_viewer(show=True)
    viewer.open(str(slides["svs"]), plugin="napari-wsi-io")
    assert not prerender.install(viewer)
    assert not prerender.installed(viewer)
    assert _draw_callbacks(viewer) == default


def test_a_failure_inside_falls_back_to_napari_default(make_napari_viewer, slides, qtbot):
    viewer = make_napari_viewer(show=True)
    layer = _open_at(viewer, slides, qtbot)
    assert prerender.installed(viewer)
    canvas = viewer.window._qt_viewer.canvas
    failed, real = [], type(canvas).on_draw.__get__(canvas)

    def failing_once(event=None):
        if not failed:  # the pre-render call comes first in the frame
            failed.append(1)
            raise RuntimeError("boom")
        return real(event)

    canvas.on_draw = failing_once
    try:
        viewer.scene.camera.center = (2300 * layer.scale[-2], 2900 * layer.scale[-1])
        canvas._scene_canvas.update()
        qtbot.waitUntil(lambda: bool(failed) and not prerender.installed(viewer), timeout=5000)
    finally:
        del canvas.on_draw
    # napari's own path (connected to the draw event before this test) still shows the new place.
    qtbot.waitUntil(lambda: layer.data_level == 0 and layer.corner_pixels[1][0] >= 2300, timeout=10000)


def test_other_layers_draw_and_slice_as_usual(make_napari_viewer, slides, qtbot, sync_slicing):
    viewer = make_napari_viewer(show=True)
    viewer.open(str(slides["svs"]), plugin="napari-wsi-io")
    assert prerender.installed(viewer)
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 255, (5, 60, 80), dtype=np.uint8)
    labels = (volume // 64).astype(np.int32)
    points = np.array([[z, 10 + 8 * z, 20 + 10 * z] for z in range(5)], float)
    image_layer = viewer.add_image(volume, name="volume", scale=(1, 4, 4))
    labels_layer = viewer.add_labels(labels, name="labels", scale=(1, 4, 4), opacity=1.0)
    points_layer = viewer.add_points(points, size=6, scale=(1, 4, 4), face_color="red")
    viewer.reset_view()
    for z in (0, 3, 1):
        viewer.dims.set_current_step(0, z)
        viewer.window._qt_viewer.canvas._scene_canvas.update()
        qtbot.waitUntil(lambda z=z: list(points_layer._view_indices) == [z], timeout=5000)
        qtbot.wait(100)
        np.testing.assert_array_equal(np.asarray(image_layer._slice.image.raw), volume[z])
        np.testing.assert_array_equal(np.asarray(labels_layer._slice.image.raw), labels[z])
        np.testing.assert_array_equal(points_layer._view_indices, [z])
    # And they draw: the labels layer on top covers the image; hidden, the image's pixels show.
    labels_layer.visible = points_layer.visible = False
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot[..., :3].std() > 5
    image_layer.visible = False
    labels_layer.visible = True
    shot_labels = viewer.screenshot(canvas_only=True, flash=False)
    assert not np.array_equal(shot, shot_labels)


def test_while_a_chunk_loads_the_view_shows_the_coarser_level_then_the_fine_one(
    make_napari_viewer, slides, qtbot, sync_slicing
):
    import threading
    import time

    from napari_wsi_io._cache import tile_cache
    from napari_wsi_io._prefetch import workers

    viewer = make_napari_viewer(show=True)
    layer = _open_at(viewer, slides, qtbot)
    chunks = display_state(layer.data[0])
    deadline = time.monotonic() + 10
    while (workers().pending() or workers().threads()) and time.monotonic() < deadline:
        qtbot.wait(20)
    # Level 1 is cached everywhere (as the prefetch leaves it), level 0 nowhere.
    rows, cols = chunks.grids[1]
    for r in range(rows):
        for c in range(cols):
            chunks.chunk(1, r, c, Read.PREFETCH)
    tile_cache().discard(lambda key: key[0] == chunks.token and key[1] == 0)
    gate = threading.Event()
    workers().submit([(0, gate.wait, lambda: True)] * workers().max_threads)  # nothing decodes until set
    try:
        deadline = time.monotonic() + 10
        while workers().pending() and time.monotonic() < deadline:
            time.sleep(0.01)
        y, x = 2300, 2900
        _frames_to_show(viewer, layer, qtbot, y, x)
        assert layer.data_level == 0 and chunks.provisional
        tile = placeholder = np.array(layer._slice.image.raw)
        y0, x0 = (int(v) for v in np.asarray(layer._transforms["tile2data"].translate)[:2])
        with open_slide(slides["svs"]) as slide:
            coarse = slide.read_level(1, x // 2, y // 2, 1, 1)[0, 0]
            assert coarse.any()  # not black
            np.testing.assert_array_equal(tile[y - y0, x - x0], coarse)
            gate.set()
            # The last chunk to land is shown once the viewer has sliced again (refreshes_due back to 0): until
            # then a chunk that landed last may still be coarse, though none is provisional any more.
            qtbot.waitUntil(lambda: not chunks.provisional and not chunks.refreshes_due, timeout=10000)
            qtbot.wait(50)  # margin only: the refresh that reset refreshes_due sliced within the same event
            tile = np.asarray(layer._slice.image.raw)
            y0, x0 = (int(v) for v in np.asarray(layer._transforms["tile2data"].translate)[:2])
            np.testing.assert_array_equal(tile, slide.read_level(0, x0, y0, tile.shape[1], tile.shape[0]))
            assert not np.array_equal(placeholder, tile)  # the first frame really showed the coarse pixels
    finally:
        gate.set()
