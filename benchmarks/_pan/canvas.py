"""The viewer sized to the benchmark's canvas, and ``FrameWatch``: when a new field of view is on screen.

``FrameWatch.covers_view`` reads napari and plugin internals on purpose (the tile napari drew, the plugin's
provisional flag): no public API says which level and region the canvas shows.
"""

from __future__ import annotations

import time

import numpy as np
from _viewer import run_event_loop

from napari_wsi_io.pyramid import display_state

CANVAS = (1080, 1920)  # (height, width)


def setup_viewer():
    """A shown napari viewer whose canvas is ``CANVAS``, with the docks hidden."""
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    qt_viewer = viewer.window._qt_viewer
    # Hide the docks so the canvas gets the window; then size the canvas itself.
    for dock in (qt_viewer.dockLayerList, qt_viewer.dockLayerControls):
        dock.setVisible(False)
    window = viewer.window._qt_window
    for _ in range(3):  # grow the window by what the canvas lacks
        for _ in range(20):
            QApplication.processEvents()
        h, w = qt_viewer.canvas.size
        if (h, w) == CANVAS:
            break
        window.resize(window.width() + CANVAS[1] - w, window.height() + CANVAS[0] - h)
    return viewer


class FrameWatch:
    """Observes canvas frames and the layer's tile hand-overs; waits for the new field of view."""

    def __init__(self, viewer) -> None:
        self.viewer = viewer
        self.canvas = viewer.window._qt_viewer.canvas
        self.layer = None
        self.last_set_data = 0.0
        self.set_data_count = 0
        self.draw_started = 0.0
        self.frames = 0
        self._wait = None  # (since, condition, QEventLoop)
        self.done_at: float | None = None
        self._qualified = False
        self._hook_frames()
        self._start_stall_timer()
        self.slice_seconds = 0.0
        self._time_slice_requests()

    # -- set-up --
    def _hook_frames(self) -> None:
        scene = self.canvas._scene_canvas
        scene.events.draw.connect(self._on_draw_start, position="first")
        scene.events.draw.connect(self._on_draw_end, position="last")
        scene.native.frameSwapped.connect(self._on_frame_swapped)

    def _start_stall_timer(self) -> None:
        """Event-loop stall monitor: a 5 ms timer whose ticks are kept while monitoring."""
        from qtpy.QtCore import QTimer

        self._ticks: list[float] = []
        self._ticking = False
        self._timer = QTimer()
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _time_slice_requests(self) -> None:
        """Time spent reading pixels for napari (its slice requests; whichever thread runs them)."""
        from napari.layers._scalar_field._slice import _ScalarFieldSliceRequest

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
        state = display_state(layer.data[0])  # None for the in-memory reference
        if state is not None and state.provisional:
            return False  # coarse pixels drawn while chunks decode: not the new data yet
        level = layer.data_level
        ds = np.asarray(layer.downsample_factors[level])[:2]
        tile2data = layer._transforms["tile2data"]
        if not np.allclose(np.asarray(tile2data.scale)[:2], ds):
            return False
        raw = layer._slice.image.raw
        tile0 = np.asarray(tile2data.translate)[:2]
        tile1 = tile0 + np.array(raw.shape[:2]) * ds
        view0, view1 = self._view_in_level0()
        return bool(np.all(tile0 <= view0 + ds) and np.all(tile1 >= view1 - ds))

    def _view_in_level0(self) -> tuple[np.ndarray, np.ndarray]:
        """The viewport's (y, x) corners in level-0 pixels, clipped to the level."""
        layer = self.layer
        world = self.canvas._viewbox_corners_in_world[:, -2:]
        data = world / np.asarray(layer.scale)[-2:] - np.asarray(layer.translate)[-2:]
        shape0 = np.array(layer.level_shapes[0][:2])
        return np.clip(data.min(axis=0), 0, shape0), np.clip(data.max(axis=0), 0, shape0)

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
        run_event_loop(seconds)
