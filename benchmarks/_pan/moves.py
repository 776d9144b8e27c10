"""The camera moves that are timed: one-frame moves, pan paths and zoom sequences, on either layer."""

from __future__ import annotations

import time

from .canvas import CANVAS, FrameWatch


def center_world(layer, yx: tuple[float, float]) -> tuple[float, float]:
    """World coordinates of the level-0 pixel ``yx`` of ``layer``."""
    return (yx[0] * layer.scale[-2] + layer.translate[-2], yx[1] * layer.scale[-1] + layer.translate[-1])


def step(watch: FrameWatch, move, dwell: float) -> dict:
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


def pan_path(center: tuple[int, int], n: int) -> list[tuple[int, int]]:
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


def zoom_levels(one_to_one: float, fit_zoom: float) -> tuple[list[float], list[float]]:
    """Zooms out (halving from 1:1 until the whole slide is in view) and back in to 1:1."""
    outs = [one_to_one / 2]
    while outs[-1] > fit_zoom:
        outs.append(outs[-1] / 2)
    return outs, [*outs[-2::-1], one_to_one]


class Stage:
    """The slide layer and the in-memory reference in one canvas: shows either one and times moves on it."""

    def __init__(self, viewer, watch: FrameWatch, layer, reference, start_yx: tuple[int, int], dwell: float) -> None:
        from napari_wsi_io._qt import prerender

        self.viewer, self.watch, self.layer, self.reference = viewer, watch, layer, reference
        self.start_yx, self.dwell = start_yx, dwell
        self.one_to_one = 1 / layer.scale[-1]  # one screen pixel per level-0 pixel
        self.slide_prerender = prerender.installed(viewer)  # the reader installs it unless NAPARI_WSI_IO_PRERENDER=0

    @property
    def camera(self):
        return self.viewer.scene.camera

    def show(self, shown) -> None:
        """Make ``shown`` the only visible layer and the one watched, at level 0 on the start of the path.

        The reference is napari's own path (no pre-render slicing); the slide gets what the plugin installs.
        """
        from napari_wsi_io._qt import prerender

        if shown is self.reference or not self.slide_prerender:
            prerender.uninstall(self.viewer)
        else:
            prerender.install(self.viewer)
        for lyr in (self.layer, self.reference):
            lyr.visible = lyr is shown
        self.watch.watch_layer(shown)
        self._settle_at(shown, self.start_yx)
        assert shown.data_level == 0, f"expected level 0 at 1:1, napari chose {shown.data_level}"

    def show_slide_only(self) -> None:
        # Hidden, not removed: removing it crashed Xvfb's software GL in a later draw (glDrawArrays, 2 runs of 2).
        self.reference.visible = False
        self.layer.visible = True
        self.watch.watch_layer(self.layer)

    def _settle_at(self, shown, yx: tuple[int, int]) -> None:
        """At 1:1 on ``yx``, once the view is drawn (not timed)."""
        self.camera.zoom = self.one_to_one
        self.camera.center = center_world(shown, yx)
        self.watch.wait(time.perf_counter(), self.watch.covers_view)

    def pan_to(self, shown, yx: tuple[int, int], dwell: float) -> dict:
        return step(self.watch, lambda: setattr(self.camera, "center", center_world(shown, yx)), dwell)

    def zoom_to(self, z: float) -> dict:
        return step(self.watch, lambda: setattr(self.camera, "zoom", z), self.dwell)

    def frame_floor(self) -> list[dict]:
        """One frame, no new data: camera moves of a few pixels inside the loaded tile (the render floor)."""
        here = self.camera.center
        floor = [
            step(self.watch, lambda i=i: setattr(self.camera, "center", (here[-2] + i % 2, here[-1])), 0.05)
            for i in range(1, 11)
        ]
        self.camera.center = here
        return floor

    def pan_run(self, shown, n: int) -> tuple[list[dict], float]:
        """The pan path of ``n`` steps on ``shown``; the steps and the longest event-loop stall."""
        self.show(shown)
        self.watch.start_stall_monitor()
        steps = [self.pan_to(shown, yx, self.dwell) for yx in pan_path(self.start_yx, n)]
        return steps, self.watch.stop_stall_monitor()

    def zoom_run(self, shown, other_yx: tuple[int, int], outs: list[float], ins: list[float]):
        """Out from 1:1, across to the other place, back in; there and back. Steps and longest stall."""
        self.show(shown)
        steps = []
        self.watch.start_stall_monitor()
        for here, there in (self.start_yx, other_yx), (other_yx, self.start_yx):
            self._settle_at(shown, here)
            steps += [{**self.zoom_to(z), "move": "out"} for z in outs]
            steps.append({**self.pan_to(shown, there, self.dwell), "move": "recentre"})
            steps += [{**self.zoom_to(z), "move": "in"} for z in ins]
        return steps, self.watch.stop_stall_monitor()
