"""QuPath annotations over a slide in a real napari viewer: time to open them, and what they add to a pan step.

Run headless (a few minutes; 100,000 cells take most of it):

    xvfb-run -a -s "-screen 0 1920x1200x24" python benchmarks/annotations.py [--cells 2000 100000] [--json OUT]

A synthetic 32768 x 32768 px slide is written to a temporary folder and opened; for each count, a
QuPath GeoJSON file of that many cell detections (24-vertex irregular rings, two classes, two
measurements: ``annotations.synthetic.cell_features``) is written with the slide's stem and opened
the way a drag and drop opens it (``viewer.open(path, plugin=None)``), after a one-cell file has paid
napari's first-use costs.  "open" runs from that call to the end of the first frame that draws the
layer; its parts: parsing the JSON, building the layer data, building napari's layers.  Past
``NAPARI_WSI_IO_ANNOTATIONS_MAX_SHAPES`` rings (10,000; ``--max-shapes``) the cells open as a Points layer
of centroids; ``--max-shapes 1000000`` times 100,000 outlines in a Shapes layer instead.

Pan step: the camera moves half a viewport back and forth between two places whose slide tiles are
already loaded, and the clock runs from the move to the end of the next frame; the steps alternate
between the annotations shown and hidden, and the medians are printed with their ratio.  At two
zooms: level 0 (one screen pixel per slide pixel, a few hundred cells in view) and the whole slide
(every cell in view).  Xvfb renders with software OpenGL, so frame times here are upper bounds.  The
open is also given in CPU time of the process (all threads): on a shared machine the wall clock also
counts the waits for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

SLIDE_SHAPE = (32768, 32768)
CANVAS = (1920, 1080)


def _process_until(app, condition, timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition() and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)


class FrameClock:
    """Ends of vispy draws of the viewer's canvas (hooked last, so the frame is done)."""

    def __init__(self, viewer) -> None:
        self.count, self.last, self.last_cpu = 0, 0.0, 0.0
        viewer.window._qt_viewer.canvas._scene_canvas.events.draw.connect(self._drawn, position="last")

    def _drawn(self, _event) -> None:
        self.count += 1
        self.last, self.last_cpu = time.perf_counter(), time.process_time()

    def next_frame(self, app, canvas) -> float:
        """Ask for a frame and wait for it; the time its draw ended."""
        seen = self.count
        canvas.native.update()
        _process_until(app, lambda: self.count > seen)
        return self.last


def _settle(app, seconds: float = 0.3) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def _timed_open(viewer, app, clock, path: str) -> dict:
    """Open ``path`` as a drag and drop does; the open to first frame, and its parts."""
    from napari_wsi_io.annotations import layers as ann_layers
    from napari_wsi_io.annotations import napari_io

    parts: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - start

        return wrapper

    saved = napari_io.read_geojson, napari_io.annotation_layer_data
    napari_io.read_geojson = timed("parse_s", saved[0])
    napari_io.annotation_layer_data = timed("layer_data_s", saved[1])
    try:
        start, cpu_start = time.perf_counter(), time.process_time()
        added = viewer.open(path, plugin=None)
        opened = time.perf_counter()
        frame = clock.next_frame(app, viewer.window._qt_viewer.canvas)
    finally:
        napari_io.read_geojson, napari_io.annotation_layer_data = saved
    shapes = [layer for layer in added if type(layer).__name__ == "Shapes"]
    points = [layer for layer in added if type(layer).__name__ == "Points"]
    return {
        "open_to_first_frame_s": frame - start,
        "open_cpu_s": clock.last_cpu - cpu_start,
        "viewer_open_s": opened - start,
        **parts,
        "napari_layers_and_rest_s": opened - start - sum(parts.values()),
        "shapes": sum(len(layer.data) for layer in shapes),
        "points": sum(len(layer.data) for layer in points),
        "filled": bool(shapes) and "polygon" in set(shapes[0].shape_type),
        "compiled_triangulation": ann_layers.compiled_triangulation(),
        "layers": added,
    }


def _pan_steps(viewer, app, clock, layers, zoom: float, steps: int) -> dict:
    """Median move-to-frame time with the annotations shown and hidden (interleaved), and their ratio."""
    canvas = viewer.window._qt_viewer.canvas
    center = (SLIDE_SHAPE[0] / 2 * viewer.layers[0].scale[0], SLIDE_SHAPE[1] / 2 * viewer.layers[0].scale[1])
    half = CANVAS[0] / 2 / zoom
    places = [(center[0], center[1] - half / 2), (center[0], center[1] + half / 2)]
    viewer.scene.camera.zoom = zoom
    for place in places * 2:  # load both places' tiles, napari's and the plugin's caches warm
        viewer.scene.camera.center = place
        _settle(app, 1.0)
    times: dict[bool, list[float]] = {True: [], False: []}
    for i in range(steps * 2):
        shown = i % 2 == 0
        for layer in layers:
            layer.visible = shown
        _settle(app, 0.2)
        start = time.perf_counter()
        viewer.scene.camera.center = places[(i // 2) % 2]
        times[shown].append(clock.next_frame(app, canvas) - start)
    for layer in layers:
        layer.visible = True
    shown, hidden = statistics.median(times[True]), statistics.median(times[False])
    return {"zoom": zoom, "with_s": shown, "without_s": hidden, "ratio": shown / hidden, "steps": steps}


def _run(counts: list[int], steps: int, folder: Path) -> dict:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_wsi_io.annotations.synthetic import cell_features, write_qupath_geojson
    from napari_wsi_io.synthetic import write_synthetic_slide

    slide_path = write_synthetic_slide(folder / "slide.svs", SLIDE_SHAPE, aperio=True, mpp=0.25)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*CANVAS)
    app = QApplication.instance()
    clock = FrameClock(viewer)
    slide = viewer.open(str(slide_path), plugin="napari-wsi-io")[0]
    _settle(app, 1.0)
    (folder / "warm").mkdir()
    warm = write_qupath_geojson(folder / "warm" / "slide.geojson", cell_features(1, SLIDE_SHAPE))
    # Hidden, not removed: a draw after removing a layer crashed Xvfb's software GL (see pan.py).
    for layer in _timed_open(viewer, app, clock, warm)["layers"]:
        layer.visible = False
    results = {"slide_shape": SLIDE_SHAPE, "runs": []}
    for n in counts:
        path = folder / f"{n}" / "slide.geojson"
        path.parent.mkdir()
        start = time.perf_counter()
        write_qupath_geojson(path, cell_features(n, SLIDE_SHAPE, seed=n))
        run = {"cells": n, "file_mb": path.stat().st_size / 1e6, "write_s": time.perf_counter() - start}
        run.update(_timed_open(viewer, app, clock, str(path)))
        layers = run.pop("layers")
        run["pan_level0"] = _pan_steps(viewer, app, clock, layers, zoom=1 / slide.scale[0], steps=steps)
        run["pan_whole_slide"] = _pan_steps(viewer, app, clock, layers, zoom=CANVAS[1] / (SLIDE_SHAPE[0] * slide.scale[0]), steps=steps)  # fmt: skip
        for layer in layers:
            layer.visible = False
        results["runs"].append(run)
        _print_run(run)
    viewer.close()
    return results


def _print_run(run: dict) -> None:
    print(
        f"{run['cells']:>7} cells ({run['file_mb']:.1f} MB; {run['shapes']} shapes, "
        f"{'filled' if run['filled'] else 'outlines'}; {run['points']} centroids; "
        f"compiled triangulation: {run['compiled_triangulation']}): "
        f"open to first frame {run['open_to_first_frame_s']:.2f} s ({run['open_cpu_s']:.2f} s CPU; parse {run.get('parse_s', 0):.2f} s, "
        f"layer data {run.get('layer_data_s', 0):.2f} s, napari layers and the rest {run['napari_layers_and_rest_s']:.2f} s)"
    )
    for key in ("pan_level0", "pan_whole_slide"):
        pan = run[key]
        print(
            f"          pan step at {key[4:]}: {pan['with_s'] * 1000:.0f} ms with, {pan['without_s'] * 1000:.0f} ms "
            f"without the annotations: ratio {pan['ratio']:.2f} (median of {pan['steps']} each)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[2000, 100000])
    parser.add_argument("--steps", type=int, default=8, help="pan steps with, and as many without, per zoom")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--max-shapes", type=int, help="NAPARI_WSI_IO_ANNOTATIONS_MAX_SHAPES: above it detections open as centroids"
    )
    args = parser.parse_args(argv)
    if args.max_shapes is not None:
        os.environ["NAPARI_WSI_IO_ANNOTATIONS_MAX_SHAPES"] = str(args.max_shapes)
    with tempfile.TemporaryDirectory() as folder:
        results = _run(args.cells, args.steps, Path(folder))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
