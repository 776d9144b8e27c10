"""Open to first pixel: ``viewer.open`` timed to the first frame with slide pixels and to the full view.

Also the plugin's chunk cache, cleared between the cold and the warm open and read for the report.
"""

from __future__ import annotations

import gc
import time

from .canvas import FrameWatch


def open_timed(viewer, watch: FrameWatch, path: str) -> tuple[dict, object]:
    """Time viewer.open to the first frame with slide pixels, and to the first complete view."""
    start = time.perf_counter()
    layers = viewer.open(path, plugin="napari-wsi-io")
    returned = time.perf_counter() - start
    layer = layers[0]
    watch.watch_layer(layer)
    watch.last_set_data = 0.0  # a tile set inside viewer.open precedes every frame drawn after it
    first = watch.wait(start, watch.tile_nonempty)
    shot = viewer.screenshot(canvas_only=True, flash=False)  # outside the timing
    full = watch.wait(start, watch.covers_view)
    result = {
        "viewer_open_returned_s": returned,
        "first_pixel_s": first,
        "first_frame_not_blank": float(shot[..., :3].std()) > 5,
        "full_view_s": full,
        "level": int(layer.data_level),
    }
    return result, layer


def open_cold_then_warm(viewer, watch: FrameWatch, path: str, results: dict):
    """The first slide of this napari session (cold), then the same again (warm); returns the open layer.

    Sets ``results["open"]`` and ``results["open_again"]``.
    """
    results["open"], layer = open_timed(viewer, watch, path)
    viewer.layers.clear()
    clear_plugin_cache()
    gc.collect()
    results["open_again"], layer = open_timed(viewer, watch, path)
    return layer


def clear_plugin_cache() -> None:
    try:
        from napari_wsi_io._cache import tile_cache
    except ImportError:  # before the cache existed
        return
    tile_cache().clear()


def plugin_cache_info() -> dict | None:
    try:
        from napari_wsi_io._cache import cache_info
    except ImportError:  # before the cache existed
        return None
    return cache_info()
