"""Panning a slide in a real napari viewer: the pixels shown are the slide's, memory stays bounded,
background loading stops with the layer."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

from napari_wsi_io import open_slide
from napari_wsi_io._cache import cache_info, set_cache_size, tile_cache
from napari_wsi_io._prefetch import THREAD_NAME, workers
from napari_wsi_io.pyramid import display_state


@pytest.fixture
def cache_mb():
    """Set the cache bound for one test; restore it and empty the cache afterwards."""
    before = tile_cache().max_bytes
    yield set_cache_size
    tile_cache().resize(before)
    tile_cache().clear()


@pytest.fixture
def async_slicing(request, monkeypatch):
    """napari's experimental async slicing on or off for one test, without touching the settings file."""
    from napari.settings import get_settings

    settings = get_settings()
    monkeypatch.setattr(settings, "config_path", None)  # nothing is saved to disk
    previous = settings.experimental.async_
    settings.experimental.async_ = request.param
    yield request.param
    settings.experimental.async_ = previous


def _our_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def _shows_view(viewer, layer) -> bool:
    """The tile on screen is at napari's level for the view and covers the whole viewport."""
    chunks = display_state(layer.data[0])
    if not layer.loaded or chunks.provisional or chunks.refreshes_due:  # coarse pixels until sliced again
        return False
    level = layer.data_level
    ds = np.asarray(layer.downsample_factors[level])[:2]
    tile2data = layer._transforms["tile2data"]
    if not np.allclose(np.asarray(tile2data.scale)[:2], ds):
        return False
    raw = layer._slice.image.raw
    tile0 = np.asarray(tile2data.translate)[:2]
    tile1 = tile0 + np.array(raw.shape[:2]) * ds
    world = viewer.window._qt_viewer.canvas._viewbox_corners_in_world[:, -2:]
    data = world / np.asarray(layer.scale)[-2:]
    shape0 = np.array(layer.level_shapes[0][:2])
    view0, view1 = np.clip(data.min(axis=0), 0, shape0), np.clip(data.max(axis=0), 0, shape0)
    return bool(np.all(tile0 <= view0 + ds) and np.all(tile1 >= view1 - ds))


def _pan_to(viewer, layer, qtbot, y: float, x: float, zoom: float = 1.0) -> None:
    """Centre the view on level-0 pixel (y, x) at ``zoom`` screen pixels per level-0 pixel; wait for it."""
    mpp = layer.scale[-1]
    canvas = viewer.window._qt_viewer.canvas._scene_canvas
    frames = []
    count = lambda event: frames.append(1)  # noqa: E731
    canvas.events.draw.connect(count)
    viewer.scene.camera.zoom = zoom / mpp
    viewer.scene.camera.center = (y * mpp, x * mpp)
    canvas.update()
    try:
        # napari picks the level and the region when it draws: wait for a frame after the move.
        qtbot.waitUntil(lambda: bool(frames) and _shows_view(viewer, layer), timeout=10000)
    finally:
        canvas.events.draw.disconnect(count)


def _assert_shows_slide(layer, slide, center: tuple[float, float]) -> None:
    """The displayed tile equals the slide's pixels there, and so does the pixel under the centre."""
    level = layer.data_level
    ds = np.asarray(layer.downsample_factors[level])[:2]
    tile = np.asarray(layer._slice.image.raw)
    y0, x0 = (int(round(v)) for v in np.asarray(layer._transforms["tile2data"].translate)[:2] / ds)
    np.testing.assert_array_equal(tile, slide.read_level(level, x0, y0, tile.shape[1], tile.shape[0]))
    shown_level, value = layer.get_value(center)  # what napari reports under the cursor there
    cy, cx = (int(np.floor(c / d)) for c, d in zip(center, ds))
    assert shown_level == level
    np.testing.assert_array_equal(value, slide.read_level(level, cx, cy, 1, 1)[0, 0])


@pytest.mark.parametrize("async_slicing", [False, True], indirect=True, ids=["sync", "async"])
def test_panning_shows_the_slide_pixels_at_each_position(make_napari_viewer, slides, qtbot, async_slicing):
    viewer = make_napari_viewer(show=True)
    layer = viewer.open(str(slides["svs"]), plugin="napari-wsi-io")[0]
    with open_slide(slides["svs"]) as slide:
        h0, w0 = layer.level_shapes[0][:2]
        # Level 0 at 1:1, then back over the same places, then the far corner (partial chunks).
        for y, x in [(700, 900), (700, 1500), (1300, 1500), (700, 900), (h0 - 5, w0 - 5), (1001, 2222)]:
            _pan_to(viewer, layer, qtbot, y, x)
            assert layer.data_level == 0
            _assert_shows_slide(layer, slide, (y, x))
        # Zoomed out: a coarser level, still the slide's own pixels.
        _pan_to(viewer, layer, qtbot, h0 / 2, w0 / 2, zoom=0.25)
        assert layer.data_level > 0
        _assert_shows_slide(layer, slide, (h0 / 2, w0 / 2))


def test_odd_sized_levels_show_their_edges(make_napari_viewer, slides, qtbot):
    viewer = make_napari_viewer(show=True)
    layer = viewer.open(str(slides["lzw"]), plugin="napari-wsi-io")[0]
    with open_slide(slides["lzw"]) as slide:
        h0, w0 = layer.level_shapes[0][:2]
        for y, x in [(h0 - 1, w0 - 1), (0, w0 - 1), (h0 // 2, w0 // 2)]:
            _pan_to(viewer, layer, qtbot, y, x, zoom=2.0)
            _assert_shows_slide(layer, slide, (y, x))


def test_cache_stays_within_its_bound_during_a_long_pan(make_napari_viewer, slides, qtbot, cache_mb):
    cache_mb(12)  # twice a view at most: the pan below covers three times more
    tile_cache().clear()
    viewer = make_napari_viewer(show=True)
    layer = viewer.open(str(slides["svs"]), plugin="napari-wsi-io")[0]
    h0, w0 = layer.level_shapes[0][:2]
    rng = np.random.default_rng(3)
    bound = tile_cache().max_bytes
    held = []
    with open_slide(slides["svs"]) as slide:
        for y, x in zip(rng.integers(0, h0, 25), rng.integers(0, w0, 25)):
            _pan_to(viewer, layer, qtbot, int(y), int(x))
            held.append(cache_info()["nbytes"])
            assert held[-1] <= bound
        _assert_shows_slide(layer, slide, (int(y), int(x)))
    assert max(held) > bound / 2  # the cache was used, up to its bound
    ch, cw = layer.data[0].source.chunks[:2]  # the cached chunks
    assert cache_info()["misses"] > 2 * bound / (ch * cw * 3)  # and it evicted


def test_prefetch_fills_the_cache_around_the_view(make_napari_viewer, slides, qtbot, cache_mb):
    tile_cache().clear()
    viewer = make_napari_viewer(show=True)
    layer = viewer.open(str(slides["svs"]), plugin="napari-wsi-io")[0]
    _pan_to(viewer, layer, qtbot, 1500, 2000)
    chunks = display_state(layer.data[0])
    ch, cw = layer.data[0].source.chunks[:2]  # the cached chunks
    tile0 = np.asarray(layer._transforms["tile2data"].translate)[:2].astype(int)
    tile1 = tile0 + np.array(layer._slice.image.raw.shape[:2])
    # The chunk rows and columns just outside the loaded tile, at level 0.
    r0, r1 = tile0[0] // ch - 1, tile1[0] // ch
    c0, c1 = tile0[1] // cw - 1, tile1[1] // cw
    ring = [(r, c) for r in range(r0, r1 + 1) for c in (c0, c1)] + [(r, c) for r in (r0, r1) for c in range(c0, c1)]
    ring = [(r, c) for r, c in ring if 0 <= r < chunks.grids[0][0] and 0 <= c < chunks.grids[0][1]]
    assert ring
    qtbot.waitUntil(lambda: all(chunks.key(0, r, c) in tile_cache() for r, c in ring), timeout=10000)


def _layer_with_background_work(viewer, slides, qtbot):
    layer = viewer.open(str(slides["svs"]), plugin="napari-wsi-io")[0]
    for y, x in [(800, 1000), (800, 2500), (2000, 2500)]:
        _pan_to(viewer, layer, qtbot, y, x)
    return layer


def test_prefetcher_stops_when_the_layer_is_removed(make_napari_viewer, slides, qtbot, cache_mb):
    viewer = make_napari_viewer(show=True)
    layer = _layer_with_background_work(viewer, slides, qtbot)
    state = weakref.ref(display_state(layer.data[0]))
    viewer.layers.clear()
    del layer
    # The pyramid is garbage collected with the layer; its queued guesses are then skipped.
    qtbot.waitUntil(lambda: gc.collect() >= 0 and state() is None, timeout=5000)
    qtbot.waitUntil(lambda: not _our_threads(), timeout=5000)
    assert workers().pending() == 0


def test_no_thread_outlives_a_closed_viewer(make_napari_viewer, slides, qtbot, cache_mb):
    before = set(threading.enumerate())
    viewer = make_napari_viewer(show=True)
    _layer_with_background_work(viewer, slides, qtbot)
    viewer.close()
    qtbot.waitUntil(lambda: not _our_threads(), timeout=5000)
    leaked = [t for t in set(threading.enumerate()) - before if t.name.startswith("napari-wsi-io")]
    assert leaked == []
