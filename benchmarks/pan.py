"""Panning and zooming a gigapixel slide in a real napari viewer: time to each new field of view.

Run headless (the canvas is 1920x1080, so the X screen must be larger); about 4 minutes:

    xvfb-run -a -s "-screen 0 1920x1200x24" python benchmarks/pan.py [--json OUT] [--async on|off] [SLIDE]

In one process, on the synthetic 2.4 Gpx sample (``sample_slide_path()``) unless a slide is given:

* raw reference: cuCIM ``read_region`` of one 1920x1080 viewport at level 0 (one thread, cuCIM's
  default: no cache), the median of reads at different places, before napari starts and again after
  the panning.  Every time below is also printed as a ratio to it.
* open to first pixel: from ``viewer.open`` to the first frame on screen that shows slide pixels
  (then checked with a screenshot, outside the timing, not to be blank); and to the first frame that
  shows the whole view at the level napari wants.  Measured twice: the first slide of the session
  (cold: napari's and the plugin's first-use costs) and the same slide opened again (warm).
* the in-memory reference: a pyramid of the slide layer's level shapes, dtype and chunks whose reads
  are memory copies from a resident 2048 px pattern of the slide's pixels (``PatternLevel``, so level 0
  needs no RAM), shown in the same canvas.  The pan path is run on it and on the slide in turn
  (``--rounds`` times, interleaved), then the zoom sequences; every step figure is also printed as a
  ratio to the reference's, with the frames per step (draw events from the camera move to the frame
  that shows the new view) of each.  The reference always takes napari's default draw path; the slide
  the one the plugin installs (slicing before the render unless ``NAPARI_WSI_IO_PRERENDER=0``).
* one frame: camera moves of a pixel inside the loaded tile, no new data: what any step costs at least.
* pan steps at level 0 (one screen pixel per slide pixel): N moves of half a viewport on a path that
  crosses new ground and then goes back over it; the view rests ``--dwell`` seconds before each move
  (a user looks at a field before moving on; 0 pans without pause).
* zoom steps: halving the zoom from level 0 until the whole slide is in view, moving there, doubling
  back to level 0; at two places.
* memory: RSS after a serpentine sweep across the whole of level 0 (one viewport per step, no
  dwell), minus RSS once the slide is open and before any panning; the chunk cache's bound is
  ``NAPARI_WSI_IO_CACHE_MB``.

How "the canvas shows the new data" is timed.  The camera is moved through ``viewer.scene.camera`` (as
a mouse drag does), then a nested Qt event loop runs until a frame completes that (a) started after
the move, (b) started after the layer's last ``set_data`` (napari handing a new tile to vispy), and
(c) whose tile, read from the layer after the frame (``layer._transforms["tile2data"]`` and the shape
of ``layer._slice.image``), is at the level napari chose for the view (``layer.data_level``) and
covers the whole viewport.  Frames are seen through the vispy canvas ``draw`` event (hooked first and
last); the clock stops at the ``frameSwapped`` signal of napari's ``QOpenGLWidget`` after that frame,
once Qt has composed it into the window and swapped buffers: on screen, not only queued.  Sync or
async slicing, cache hit or miss, a view that needed no reload: all count the same way.

What the plugin controls inside a step is printed apart: the time napari spends in its slice requests
(wrapped with a timer; on the main thread with sync slicing, in napari's slicing thread with async),
i.e. reading the view's pixels through the plugin's arrays.  The rest is napari and the renderer:
with Xvfb's software OpenGL one 1920x1080 frame costs several raw reads, and a step that reloads
takes two frames (the old tile at the new place, after which napari asks for the new one; then the
new tile).

Event-loop stalls: a 5 ms ``QTimer`` runs during the steps; the longest gap between two ticks is the
longest time the viewer could not react to the user.

Correctness is tests/_qt/test_panning.py's job; here the last pan frame's tile is only compared with
the slide's pixels as a sanity check.  ``--json OUT`` writes every step and setting.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

CANVAS = (1080, 1920)  # (height, width)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _raw_reference(path: str, centers: list[tuple[int, int]]) -> list[float]:
    """Seconds per cuCIM read of one viewport at level 0 around each (y, x) centre."""
    from napari_wsi_io import open_slide

    times = []
    with open_slide(path, backend="cucim") as slide:
        w0, h0 = slide.dimensions
        for cy, cx in centers:
            x = int(np.clip(cx - CANVAS[1] // 2, 0, w0 - CANVAS[1]))
            y = int(np.clip(cy - CANVAS[0] // 2, 0, h0 - CANVAS[0]))
            start = time.perf_counter()
            slide.read_cucim(0, x, y, CANVAS[1], CANVAS[0])
            times.append(time.perf_counter() - start)
    return times


class PatternLevel:
    """One level of the in-memory reference: reads are memory copies from a small resident pattern.

    The pattern (the slide's own pixels, ``PATTERN`` px square) repeats across the level, so any region
    of any level is a copy and even level 0 of a gigapixel slide takes no memory.
    """

    def __init__(self, pattern: np.ndarray, shape: tuple[int, ...]) -> None:
        self.pattern, self.shape, self.dtype, self.ndim = pattern, shape, pattern.dtype, len(shape)

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        (y0, y1, _), (x0, x1, _) = (k.indices(n) for k, n in zip(key[:2], self.shape))  # noqa: B905
        p = self.pattern.shape[0]
        out = np.empty((max(0, y1 - y0), max(0, x1 - x0), *self.shape[2:]), self.dtype)
        y = y0
        while y < y1:
            h = min(y1 - y, p - y % p)
            x = x0
            while x < x1:
                w = min(x1 - x, p - x % p)
                out[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = self.pattern[y % p : y % p + h, x % p : x % p + w]
                x += w
            y += h
        return out


PATTERN = 2048


def _reference_layer(viewer, layer, path: str):
    """The in-memory pyramid: the slide layer's level shapes, dtype, chunks, scale and settings."""
    import dask.array as da

    from napari_wsi_io import open_slide

    with open_slide(path, backend="cucim") as slide:
        w0, h0 = slide.dimensions
        side = min(PATTERN, w0, h0)
        pattern = slide.read_level(0, (w0 - side) // 2, (h0 - side) // 2, side, side)
    levels = [
        da.from_array(PatternLevel(pattern, level.shape), chunks=level.chunksize, asarray=False, fancy=False)
        for level in layer.data
    ]
    return viewer.add_image(
        levels,
        multiscale=True,
        rgb=layer.rgb,
        scale=layer.scale,
        translate=layer.translate,
        contrast_limits=layer.contrast_limits,
        cache=False,
        name="in-memory reference",
    )


class FrameWatch:
    """Observes canvas frames and the layer's tile hand-overs; waits for the new field of view."""

    def __init__(self, viewer) -> None:
        from qtpy.QtCore import QTimer

        self.viewer = viewer
        self.canvas = viewer.window._qt_viewer.canvas
        self.layer = None
        self.last_set_data = 0.0
        self.set_data_count = 0
        self.draw_started = 0.0
        self.frames = 0
        self._wait = None  # (since, condition, QEventLoop)
        self.done_at: float | None = None
        scene = self.canvas._scene_canvas
        scene.events.draw.connect(self._on_draw_start, position="first")
        scene.events.draw.connect(self._on_draw_end, position="last")
        scene.native.frameSwapped.connect(self._on_frame_swapped)
        self._qualified = False
        # Event-loop stall monitor.
        self._ticks: list[float] = []
        self._ticking = False
        self._timer = QTimer()
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

        # Time spent reading pixels for napari (its slice requests; whichever thread runs them).
        from napari.layers._scalar_field._slice import _ScalarFieldSliceRequest

        self.slice_seconds = 0.0
        call = _ScalarFieldSliceRequest.__call__

        def timed(request):
            start = time.perf_counter()
            try:
                return call(request)
            finally:
                self.slice_seconds += time.perf_counter() - start

        _ScalarFieldSliceRequest.__call__ = timed

    # -- hooks --
    def watch_layer(self, layer) -> None:
        self.layer = layer
        layer.events.set_data.connect(self._on_set_data)  # psygnal/napari: connecting twice is a no-op

    def _on_set_data(self, event=None) -> None:
        self.last_set_data = time.perf_counter()
        self.set_data_count += 1

    def _on_draw_start(self, event=None) -> None:
        self.draw_started = time.perf_counter()

    def _on_draw_end(self, event=None) -> None:
        self.frames += 1
        if self._wait is None:
            return
        since, condition, loop = self._wait
        if self.draw_started > since and self.draw_started > self.last_set_data and condition():
            self._qualified = True

    def _on_frame_swapped(self) -> None:
        # Qt has composed the frame into the window and swapped buffers: it is on screen.
        if self._wait is not None and self._qualified:
            self.done_at = time.perf_counter()
            loop = self._wait[2]
            self._wait = None
            loop.quit()

    def _tick(self) -> None:
        if self._ticking:
            self._ticks.append(time.perf_counter())

    # -- stall monitor --
    def start_stall_monitor(self) -> None:
        self._ticks = [time.perf_counter()]
        self._ticking = True

    def stop_stall_monitor(self) -> float:
        """Longest gap between two ticks of the 5 ms timer, in seconds."""
        self._ticking = False
        ticks = self._ticks + [time.perf_counter()]
        return float(np.max(np.diff(ticks))) if len(ticks) > 1 else 0.0

    # -- conditions --
    def tile_nonempty(self) -> bool:
        raw = self.layer._slice.image.raw
        return raw.shape[0] > 1 and raw.shape[1] > 1

    def covers_view(self) -> bool:
        """The displayed tile is at napari's level for this view and covers the whole viewport."""
        layer = self.layer
        chunks = getattr(getattr(layer.data[0], "source", None), "_chunks", None)
        if chunks is not None and getattr(chunks, "provisional", None):
            return False  # coarse pixels drawn while chunks decode: not the new data yet
        level = layer.data_level
        ds = np.asarray(layer.downsample_factors[level])[:2]
        tile2data = layer._transforms["tile2data"]
        if not np.allclose(np.asarray(tile2data.scale)[:2], ds):
            return False
        raw = layer._slice.image.raw
        tile0 = np.asarray(tile2data.translate)[:2]
        tile1 = tile0 + np.array(raw.shape[:2]) * ds
        world = self.canvas._viewbox_corners_in_world[:, -2:]
        data = world / np.asarray(layer.scale)[-2:] - np.asarray(layer.translate)[-2:]
        shape0 = np.array(layer.level_shapes[0][:2])
        view0 = np.clip(data.min(axis=0), 0, shape0)
        view1 = np.clip(data.max(axis=0), 0, shape0)
        return bool(np.all(tile0 <= view0 + ds) and np.all(tile1 >= view1 - ds))

    # -- waiting --
    def wait(self, since: float, condition, timeout: float = 30.0) -> float:
        """Seconds from ``since`` to the end of the first frame that meets ``condition`` (nan on timeout)."""
        from qtpy.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        self.done_at = None
        self._qualified = False
        self._wait = (since, condition, loop)
        self.canvas._scene_canvas.update()
        QTimer.singleShot(int(timeout * 1000), loop.quit)
        loop.exec_()
        self._wait = None
        return self.done_at - since if self.done_at is not None else float("nan")

    def idle(self, seconds: float) -> None:
        """Let the viewer run (draw, load, prefetch) for a while, as a user looking at the view."""
        from qtpy.QtCore import QEventLoop, QTimer

        if seconds <= 0:
            return
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec_()


def _setup_viewer():
    import napari

    viewer = napari.Viewer(show=True)
    qt_viewer = viewer.window._qt_viewer
    # Hide the docks so the canvas gets the window; then size the canvas itself.
    for dock in (qt_viewer.dockLayerList, qt_viewer.dockLayerControls):
        dock.setVisible(False)
    from qtpy.QtWidgets import QApplication

    window = viewer.window._qt_window
    for _ in range(3):  # grow the window by what the canvas lacks
        for _ in range(20):
            QApplication.processEvents()
        h, w = qt_viewer.canvas.size
        if (h, w) == CANVAS:
            break
        window.resize(window.width() + CANVAS[1] - w, window.height() + CANVAS[0] - h)
    return viewer


def _clear_plugin_cache() -> None:
    try:
        from napari_wsi_io._cache import tile_cache
    except ImportError:  # before the cache existed
        return
    tile_cache().clear()


def _open(viewer, watch: FrameWatch, path: str) -> tuple[dict, object]:
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


def _center_world(layer, yx: tuple[float, float]) -> tuple[float, float]:
    return (yx[0] * layer.scale[-2] + layer.translate[-2], yx[1] * layer.scale[-1] + layer.translate[-1])


def _step(watch: FrameWatch, move, dwell: float) -> dict:
    """Apply one camera move; time it to the first frame that shows the whole new view."""
    watch.idle(dwell)
    sets, frames, sliced = watch.set_data_count, watch.frames, watch.slice_seconds
    start = time.perf_counter()
    move()
    seconds = watch.wait(start, watch.covers_view)
    return {
        "seconds": seconds,
        "reloaded": watch.set_data_count > sets,
        "level": watch.layer.data_level,
        "frames": watch.frames - frames,
        "slice_seconds": watch.slice_seconds - sliced,
    }


def _pan_path(center: tuple[int, int], n: int) -> list[tuple[int, int]]:
    """Half-viewport steps: right, down, back left, up to the start, right again over old ground, ..."""
    dy, dx = CANVAS[0] // 2, CANVAS[1] // 2
    moves = [(0, dx)] * 10 + [(dy, 0)] * 2 + [(0, -dx)] * 10 + [(-dy, 0)] * 2 + [(0, dx)] * 10
    moves += [(dy, 0)] * 4 + [(0, -dx)] * 10
    while len(moves) < n:
        moves += moves
    path, (y, x) = [], center
    for my, mx in moves[:n]:
        y, x = y + my, x + mx
        path.append((y, x))
    return path


def _summary(steps: list[dict], ref: float) -> dict:
    seconds = [s["seconds"] for s in steps]
    ok = [s for s in seconds if s == s]
    reloads = [s for s in steps if s["reloaded"]]
    slices = [s["slice_seconds"] for s in reloads]
    return {
        "reloads": len(reloads),
        "frames_per_step_mean": float(np.mean([s["frames"] for s in steps])) if steps else float("nan"),
        "frames_per_reload_mean": float(np.mean([s["frames"] for s in reloads])) if reloads else float("nan"),
        "slice_p50_ms": _percentile(slices, 50) * 1e3,
        "slice_p95_ms": _percentile(slices, 95) * 1e3,
        "n": len(seconds),
        "timeouts": len(seconds) - len(ok),
        "p50_ms": _percentile(ok, 50) * 1e3,
        "p95_ms": _percentile(ok, 95) * 1e3,
        "max_ms": (max(ok) if ok else float("nan")) * 1e3,
        "p50_ratio": _percentile(ok, 50) / ref,
        "p95_ratio": _percentile(ok, 95) / ref,
    }


def run(args: argparse.Namespace) -> dict:
    from napari_wsi_io.synthetic import sample_slide_path

    path = str(args.slide or sample_slide_path())
    results: dict = {"slide": path, "canvas": list(CANVAS), "settings": {}}

    from napari_wsi_io import open_slide

    with open_slide(path) as slide:
        w0, h0 = slide.dimensions
        backend = slide.backend
    start_yx = (int(h0 * 0.4), int(w0 * 0.35))
    rng = np.random.default_rng(1)
    ref_centers = [(int(rng.uniform(0.2, 0.8) * h0), int(rng.uniform(0.2, 0.8) * w0)) for _ in range(args.ref_reads)]
    ref_before = _raw_reference(path, ref_centers)

    import napari
    from napari.settings import get_settings

    viewer = _setup_viewer()
    watch = FrameWatch(viewer)
    results["canvas"] = list(viewer.window._qt_viewer.canvas.size)
    results["settings"] = {
        "napari": napari.__version__,
        "async_slicing": bool(get_settings().experimental.async_),
        "backend": backend,
        "dwell_s": args.dwell,
        **{k: v for k, v in os.environ.items() if k.startswith("NAPARI_WSI_IO_")},
    }

    # -- open to first pixel: cold (first slide of this napari session), then again (warm) --
    rss_start = _rss_mb()
    results["open"], layer = _open(viewer, watch, path)
    viewer.layers.clear()
    _clear_plugin_cache()
    gc.collect()
    results["open_again"], layer = _open(viewer, watch, path)
    first, full = results["open"]["first_pixel_s"], results["open"]["full_view_s"]
    rss_open = _rss_mb()

    # -- the in-memory reference: same canvas, same level shapes, dtype and chunks, reads are copies --
    reference = _reference_layer(viewer, layer, path)
    one_to_one = 1 / layer.scale[-1]  # one screen pixel per level-0 pixel

    from napari_wsi_io._qt import prerender

    slide_prerender = prerender.installed(viewer)  # the reader installs it unless NAPARI_WSI_IO_PRERENDER=0
    results["settings"]["prerender"] = slide_prerender

    def show(shown) -> None:
        """Make ``shown`` the only visible layer and the one watched, at level 0 on the start of the path.

        The reference is napari's own path (no pre-render slicing); the slide gets what the plugin installs.
        """
        if shown is reference or not slide_prerender:
            prerender.uninstall(viewer)
        else:
            prerender.install(viewer)
        for lyr in (layer, reference):
            lyr.visible = lyr is shown
        watch.watch_layer(shown)
        viewer.scene.camera.zoom = one_to_one
        viewer.scene.camera.center = _center_world(shown, start_yx)
        watch.wait(time.perf_counter(), watch.covers_view)
        assert shown.data_level == 0, f"expected level 0 at 1:1, napari chose {shown.data_level}"

    # -- pan steps at level 0 --
    show(layer)
    # One frame, no new data: camera moves of a few pixels inside the loaded tile (the render floor).
    here = viewer.scene.camera.center
    floor = [
        _step(watch, lambda i=i: setattr(viewer.scene.camera, "center", (here[-2] + i % 2, here[-1])), 0.05)
        for i in range(1, 11)
    ]
    viewer.scene.camera.center = here
    results["frame_floor"] = floor

    def pan_run(shown) -> tuple[list[dict], float]:
        show(shown)
        steps = []
        watch.start_stall_monitor()
        for yx in _pan_path(start_yx, args.steps):
            steps.append(
                _step(watch, lambda yx=yx: setattr(viewer.scene.camera, "center", _center_world(shown, yx)), args.dwell)
            )
        return steps, watch.stop_stall_monitor()

    # Interleaved: reference, slide, reference, slide, ... on the same path.
    pan, ref_pan, pan_stall, ref_pan_stall = [], [], 0.0, 0.0
    for _ in range(args.rounds):
        steps, stall = pan_run(reference)
        ref_pan, ref_pan_stall = ref_pan + steps, max(ref_pan_stall, stall)
        steps, stall = pan_run(layer)
        pan, pan_stall = pan + steps, max(pan_stall, stall)
    results["pan_steps"], results["reference_pan_steps"] = pan, ref_pan

    # Sanity check of the last frame: the tile equals the slide's pixels.
    with open_slide(path, backend="cucim") as slide:
        t2d = layer._transforms["tile2data"]
        raw = np.asarray(layer._slice.image.raw)
        y, x = (int(v) for v in np.asarray(t2d.translate)[:2])
        results["last_tile_equals_slide"] = bool(
            np.array_equal(raw, slide.read_level(0, x, y, raw.shape[1], raw.shape[0]))
        )

    # -- zoom sequences --
    other_yx = (int(h0 * 0.6), int(w0 * 0.6))
    fit_zoom = min(CANVAS[0] / (h0 * layer.scale[-2]), CANVAS[1] / (w0 * layer.scale[-1]))
    outs = [one_to_one / 2]
    while outs[-1] > fit_zoom:  # halve until the whole slide is in view
        outs.append(outs[-1] / 2)
    ins = [*outs[-2::-1], one_to_one]

    def zoom_to(z: float) -> dict:
        return _step(watch, lambda: setattr(viewer.scene.camera, "zoom", z), args.dwell)

    def zoom_run(shown) -> tuple[list[dict], float]:
        show(shown)
        steps = []
        watch.start_stall_monitor()
        for here, there in (start_yx, other_yx), (other_yx, start_yx):
            viewer.scene.camera.zoom = one_to_one
            viewer.scene.camera.center = _center_world(shown, here)
            watch.wait(time.perf_counter(), watch.covers_view)
            steps += [{**zoom_to(z), "move": "out"} for z in outs]
            centre = _center_world(shown, there)
            move = _step(watch, lambda c=centre: setattr(viewer.scene.camera, "center", c), args.dwell)
            steps.append({**move, "move": "recentre"})
            steps += [{**zoom_to(z), "move": "in"} for z in ins]
        return steps, watch.stop_stall_monitor()

    zoom_steps, ref_zoom, zoom_stall, ref_zoom_stall = [], [], 0.0, 0.0
    if args.zoom:
        ref_zoom, ref_zoom_stall = zoom_run(reference)
        zoom_steps, zoom_stall = zoom_run(layer)
    results["zoom_steps"], results["reference_zoom_steps"] = zoom_steps, ref_zoom
    # Hidden, not removed: removing it crashed Xvfb's software GL in a later draw (glDrawArrays, 2 runs of 2).
    reference.visible = False
    layer.visible = True
    watch.watch_layer(layer)

    # -- memory: sweep all of level 0 --
    gc.collect()
    rss_before_sweep = _rss_mb()
    sweep = {"rss_start_mb": rss_start, "rss_after_open_mb": rss_open, "rss_before_sweep_mb": rss_before_sweep}
    if args.sweep:
        viewer.scene.camera.zoom = 1 / layer.scale[-1]
        rows = range(CANVAS[0] // 2, h0, CANVAS[0])
        cols = list(range(CANVAS[1] // 2, w0, CANVAS[1]))
        steps, peak, times = 0, rss_before_sweep, []
        sweep_start = time.perf_counter()
        watch.start_stall_monitor()
        for r, y in enumerate(rows):
            for x in cols if r % 2 == 0 else cols[::-1]:
                step = _step(
                    watch, lambda yx=(y, x): setattr(viewer.scene.camera, "center", _center_world(layer, yx)), 0
                )
                times.append(step["seconds"])
                steps += 1
                if steps % 20 == 0:
                    peak = max(peak, _rss_mb())
            if time.perf_counter() - sweep_start > args.sweep_budget:
                break
        sweep_stall = watch.stop_stall_monitor()
        gc.collect()
        rss_after = _rss_mb()
        covered = min(1.0, (r + 1) * CANVAS[0] / h0)
        sweep.update(
            {
                "steps": steps,
                "fraction_of_level0": covered,
                "seconds": time.perf_counter() - sweep_start,
                "rss_after_mb": rss_after,
                "rss_peak_mb": max(peak, rss_after),
                # From the moment the slide is open, before any panning at level 0, to after the sweep.
                "growth_mb": rss_after - rss_open,
                "growth_during_sweep_mb": rss_after - rss_before_sweep,
                "growth_since_before_open_mb": rss_after - rss_start,
                "step_p50_ms": _percentile([t for t in times if t == t], 50) * 1e3,
                "step_p95_ms": _percentile([t for t in times if t == t], 95) * 1e3,
                "max_stall_ms": sweep_stall * 1e3,
            }
        )
    results["memory"] = sweep
    try:
        from napari_wsi_io._cache import cache_info

        results["cache"] = cache_info()
    except ImportError:  # before the cache existed
        results["cache"] = None

    ref_after = _raw_reference(path, ref_centers)
    ref = statistics.median(ref_before + ref_after)
    results["raw_reference"] = {
        "viewport_read_ms": ref * 1e3,
        "before_napari_ms": statistics.median(ref_before) * 1e3,
        "after_panning_ms": statistics.median(ref_after) * 1e3,
        "reads": len(ref_before) + len(ref_after),
    }
    results["summary"] = {
        "open_first_pixel": {"seconds": first, "ratio": first / ref},
        "open_full_view": {"seconds": full, "ratio": full / ref},
        "frame_floor": _summary(floor, ref),
        "pan": {**_summary(pan, ref), "max_stall_ms": pan_stall * 1e3},
        "zoom": {**_summary(zoom_steps, ref), "max_stall_ms": zoom_stall * 1e3},
        "reference_pan": {**_summary(ref_pan, ref), "max_stall_ms": ref_pan_stall * 1e3},
        "reference_zoom": {**_summary(ref_zoom, ref), "max_stall_ms": ref_zoom_stall * 1e3},
    }
    viewer.close()
    return results


def _print(results: dict) -> None:
    ref = results["raw_reference"]["viewport_read_ms"]
    s = results["summary"]
    print(f"slide: {results['slide']}  canvas {results['canvas'][1]}x{results['canvas'][0]}")
    print(f"settings: {results['settings']}")
    print(
        f"raw reference (cuCIM read_region, 1920x1080 at level 0): {ref:.1f} ms "
        f"(before napari {results['raw_reference']['before_napari_ms']:.1f}, "
        f"after panning {results['raw_reference']['after_panning_ms']:.1f})"
    )
    for key, label in (("open", "first open (cold)"), ("open_again", "open again (warm)")):
        o = results[key]
        print(
            f"{label}: first pixel {o['first_pixel_s'] * 1e3:.0f} ms = {o['first_pixel_s'] / ref * 1e3:.1f}x ref "
            f"(not blank: {o['first_frame_not_blank']}); full view {o['full_view_s'] * 1e3:.0f} ms = "
            f"{o['full_view_s'] / ref * 1e3:.1f}x ref (level {o['level']}); "
            f"viewer.open returned after {o['viewer_open_returned_s'] * 1e3:.0f} ms"
        )
    f = s["frame_floor"]
    print(
        f"one frame, no new data (camera moved inside the loaded tile): p50 {f['p50_ms']:.0f} ms = "
        f"{f['p50_ratio']:.1f}x ref (the software renderer's floor for any step)"
    )
    for name in ("pan", "zoom"):
        m = s[f"reference_{name}"]
        for label, d in (("in-memory pyramid", m), ("slide", s[name])):
            if not d["n"]:
                continue
            print(
                f"{name} steps, {label} (n={d['n']}, timeouts {d['timeouts']}): p50 {d['p50_ms']:.0f} ms = "
                f"{d['p50_ms'] / m['p50_ms']:.2f}x in-memory = {d['p50_ratio']:.1f}x raw read; p95 {d['p95_ms']:.0f} ms = "
                f"{d['p95_ms'] / m['p95_ms']:.2f}x in-memory = {d['p95_ratio']:.1f}x raw read; max {d['max_ms']:.0f} ms "
                f"= {d['max_ms'] / m['max_ms']:.2f}x in-memory; longest event-loop stall {d['max_stall_ms']:.0f} ms"
            )
            print(
                f"    {d['reloads']} reloads; pixel reads for napari per reload p50 {d['slice_p50_ms']:.0f} ms = "
                f"{d['slice_p50_ms'] / ref:.1f}x raw read, p95 {d['slice_p95_ms']:.0f} ms; "
                f"frames per step {d['frames_per_step_mean']:.2f} ({m['frames_per_step_mean']:.2f} in-memory), "
                f"per reloading step {d['frames_per_reload_mean']:.2f} ({m['frames_per_reload_mean']:.2f} in-memory)"
            )
    print(f"last pan tile equals the slide: {results['last_tile_equals_slide']}")
    if results.get("cache"):
        c = results["cache"]
        print(
            f"chunk cache: {c['nbytes'] / 2**20:.0f} of {c['max_bytes'] / 2**20:.0f} MB held, "
            f"{c['hits']} hits, {c['misses']} loads"
        )
    m = results["memory"]
    if "growth_mb" in m:
        print(
            f"memory: sweep of {m['fraction_of_level0']:.0%} of level 0 in {m['steps']} steps ({m['seconds']:.0f} s, "
            f"step p50 {m['step_p50_ms']:.0f} ms, p95 {m['step_p95_ms']:.0f} ms, stall {m['max_stall_ms']:.0f} ms): "
            f"RSS growth {m['growth_mb']:.0f} MB from before the first level-0 pan (during the sweep "
            f"{m['growth_during_sweep_mb']:.0f} MB; peak RSS {m['rss_peak_mb']:.0f} MB, "
            f"{m['growth_since_before_open_mb']:.0f} MB above the empty viewer)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slide", nargs="?", help="slide (default: the synthetic gigapixel sample)")
    parser.add_argument("--steps", type=int, default=48, help="pan steps of half a viewport (>= 40)")
    parser.add_argument("--dwell", type=float, default=0.25, help="seconds the view rests before each step")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved pan runs of reference and slide")
    parser.add_argument("--ref-reads", type=int, default=10, help="raw reference reads before and after")
    parser.add_argument("--no-zoom", dest="zoom", action="store_false", help="skip the zoom sequences")
    parser.add_argument("--no-sweep", dest="sweep", action="store_false", help="skip the memory sweep")
    parser.add_argument("--sweep-budget", type=float, default=200, help="stop the sweep after so many seconds")
    parser.add_argument("--async", dest="async_", choices=("on", "off"), help="napari's async slicing (NAPARI_ASYNC)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.async_:
        os.environ["NAPARI_ASYNC"] = "1" if args.async_ == "on" else "0"
    results = run(args)
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
