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

This script runs the phases in order; the helpers are in ``benchmarks/_pan/``: ``canvas.py`` (the sized
viewer, ``FrameWatch``), ``opening.py`` (open to first pixel), ``reference.py`` (raw reads, the in-memory
pyramid), ``moves.py`` (pan and zoom steps), ``sweep.py`` (memory), ``stats.py`` and ``report.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from _pan.canvas import CANVAS, FrameWatch, setup_viewer
from _pan.moves import Stage, zoom_levels
from _pan.opening import open_cold_then_warm, plugin_cache_info
from _pan.reference import raw_reference, reference_centers, reference_layer, tile_equals_slide
from _pan.report import print_results
from _pan.stats import raw_reference_figures, rss_mb, summaries
from _pan.sweep import memory_sweep


def run(args: argparse.Namespace) -> dict:
    from napari_wsi_io.synthetic import sample_slide_path

    path = str(args.slide or sample_slide_path())
    results: dict = {"slide": path, "canvas": list(CANVAS), "settings": {}}
    shape, backend = _slide_shape(path)
    start_yx = (int(shape[0] * 0.4), int(shape[1] * 0.35))
    ref_centers = reference_centers(shape, args.ref_reads)
    ref_before = raw_reference(path, ref_centers)

    viewer = setup_viewer()
    watch = FrameWatch(viewer)
    results["canvas"] = list(viewer.window._qt_viewer.canvas.size)
    results["settings"] = _settings(args, backend)
    rss_start = rss_mb()
    layer = open_cold_then_warm(viewer, watch, path, results)
    rss_open = rss_mb()
    # The in-memory reference: same canvas, same level shapes, dtype and chunks, reads are copies.
    stage = Stage(viewer, watch, layer, reference_layer(viewer, layer, path), start_yx, args.dwell)
    results["settings"]["prerender"] = stage.slide_prerender

    stalls = _pan_steps(stage, args, results)
    results["last_tile_equals_slide"] = tile_equals_slide(layer, path)
    stalls.update(_zoom_steps(stage, shape, args, results))
    stage.show_slide_only()
    budget = args.sweep_budget if args.sweep else None
    results["memory"] = memory_sweep(stage, shape, budget, rss_start, rss_open)
    results["cache"] = plugin_cache_info()

    ref, results["raw_reference"] = raw_reference_figures(ref_before, raw_reference(path, ref_centers))
    results["summary"] = summaries(results, ref, stalls)
    viewer.close()
    return results


def _slide_shape(path: str) -> tuple[tuple[int, int], str]:
    """The slide's level-0 (height, width) and the backend it opens with."""
    from napari_wsi_io import open_slide

    with open_slide(path) as slide:
        w0, h0 = slide.dimensions
        return (h0, w0), slide.backend


def _settings(args: argparse.Namespace, backend: str) -> dict:
    import napari
    from napari.settings import get_settings

    return {
        "napari": napari.__version__,
        "async_slicing": bool(get_settings().experimental.async_),
        "backend": backend,
        "dwell_s": args.dwell,
        **{k: v for k, v in os.environ.items() if k.startswith("NAPARI_WSI_IO_")},
    }


def _pan_steps(stage: Stage, args: argparse.Namespace, results: dict) -> dict[str, float]:
    """The render floor, then the pan path on the reference and the slide in turn; the longest stalls."""
    stage.show(stage.layer)
    results["frame_floor"] = stage.frame_floor()
    # Interleaved: reference, slide, reference, slide, ... on the same path.
    pan, ref_pan, pan_stall, ref_pan_stall = [], [], 0.0, 0.0
    for _ in range(args.rounds):
        steps, stall = stage.pan_run(stage.reference, args.steps)
        ref_pan, ref_pan_stall = ref_pan + steps, max(ref_pan_stall, stall)
        steps, stall = stage.pan_run(stage.layer, args.steps)
        pan, pan_stall = pan + steps, max(pan_stall, stall)
    results["pan_steps"], results["reference_pan_steps"] = pan, ref_pan
    return {"pan": pan_stall, "reference_pan": ref_pan_stall}


def _zoom_steps(stage: Stage, shape: tuple[int, int], args: argparse.Namespace, results: dict) -> dict[str, float]:
    """The zoom sequences at two places, on the reference then the slide (unless ``--no-zoom``)."""
    h0, w0 = shape
    other_yx = (int(h0 * 0.6), int(w0 * 0.6))
    scale = stage.layer.scale
    outs, ins = zoom_levels(stage.one_to_one, min(CANVAS[0] / (h0 * scale[-2]), CANVAS[1] / (w0 * scale[-1])))
    zoom, ref_zoom, zoom_stall, ref_zoom_stall = [], [], 0.0, 0.0
    if args.zoom:
        ref_zoom, ref_zoom_stall = stage.zoom_run(stage.reference, other_yx, outs, ins)
        zoom, zoom_stall = stage.zoom_run(stage.layer, other_yx, outs, ins)
    results["zoom_steps"], results["reference_zoom_steps"] = zoom, ref_zoom
    return {"zoom": zoom_stall, "reference_zoom": ref_zoom_stall}


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
    print_results(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
