"""Panning an 8-channel slide in napari (8 layers, each sliced by napari) against napari's own in-memory pyramid.

Issue 19's target: pan step p50 and p95 at most 1.0x those of an in-memory 8-channel pyramid of the same shapes.
The slide is ``benchmarks/channel_overhead.py``'s 8-channel 16-bit OME-TIFF (16384 x 8192 px, deflate) unless
one is given.  The step and its timing are ``benchmarks/pan.py``'s (``_pan``): half-viewport moves at level 0,
each timed to the frame on screen in which every channel layer shows the new view at napari's level; the slide's
8 layers and the reference's 8 (reads are copies of a resident pattern of each channel's pixels) in turn,
interleaved, in the same 1920 x 1080 canvas.  Run headless:

    xvfb-run -a -s "-screen 0 1920x1200x24" python benchmarks/pan_channels.py [--steps 40] [--rounds 2] [SLIDE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _pan.canvas import setup_viewer
from _pan.group import GroupWatch, LayerGroup, reference_group
from _pan.moves import Stage
from _pan.stats import percentile
from channel_overhead import sample_path


def open_group(viewer, watch: GroupWatch, path: str) -> tuple[LayerGroup, dict]:
    """Open the slide's channel layers; seconds to the first frame showing every channel's whole view."""
    start = time.perf_counter()
    group = LayerGroup(viewer.open(path, plugin="napari-wsi-io"))
    returned = time.perf_counter() - start
    watch.watch_layer(group)
    watch.last_set_data = 0.0
    full = watch.wait(start, watch.covers_view)
    return group, {"layers": len(group.layers), "viewer_open_returned_s": returned, "full_view_s": full}


def _figures(steps: list[dict]) -> dict:
    ok = [s["seconds"] for s in steps if s["seconds"] == s["seconds"]]
    return {"n": len(steps), "timeouts": len(steps) - len(ok), "p50_ms": percentile(ok, 50) * 1e3,
            "p95_ms": percentile(ok, 95) * 1e3, "max_ms": max(ok, default=float("nan")) * 1e3}  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    path = str(args.slide or sample_path())
    viewer = setup_viewer()
    watch = GroupWatch(viewer)
    group, opened = open_group(viewer, watch, path)
    h0, w0 = group.level_shapes[0][-2:]
    stage = Stage(
        viewer, watch, group, reference_group(viewer, group, path), (int(h0 * 0.4), int(w0 * 0.35)), args.dwell
    )
    pan, ref_pan, stall, ref_stall = [], [], 0.0, 0.0
    for _ in range(args.rounds):  # interleaved: reference, slide, reference, slide, ...
        steps, s = stage.pan_run(stage.reference, args.steps)
        ref_pan, ref_stall = ref_pan + steps, max(ref_stall, s)
        steps, s = stage.pan_run(stage.layer, args.steps)
        pan, stall = pan + steps, max(stall, s)
    slide, ref = _figures(pan), _figures(ref_pan)
    viewer.close()
    return {
        "slide": path,
        "open": opened,
        "pan": slide,
        "reference_pan": ref,
        "p50_ratio": slide["p50_ms"] / ref["p50_ms"],
        "p95_ratio": slide["p95_ms"] / ref["p95_ms"],
        "longest_stall_ms": stall * 1e3,
        "reference_longest_stall_ms": ref_stall * 1e3,
        "pan_steps": pan,
        "reference_pan_steps": ref_pan,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slide", nargs="?", help="a slide with channels (default: the 8-channel sample)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dwell", type=float, default=0.25)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results = run(args)
    print(
        f"{results['slide']}: {results['open']['layers']} channel layers; open to full view {results['open']['full_view_s']:.2f} s"
    )
    for name in ("pan", "reference_pan"):
        f = results[name]
        print(
            f"{name:>14}: p50 {f['p50_ms']:.0f} ms, p95 {f['p95_ms']:.0f} ms, max {f['max_ms']:.0f} ms ({f['n']} steps, {f['timeouts']} timeouts)"
        )
    print(
        f"pan / in-memory reference: p50 {results['p50_ratio']:.2f}x, p95 {results['p95_ratio']:.2f}x (target <= 1.0)"
    )
    print(
        f"longest event-loop stall: {results['longest_stall_ms']:.0f} ms (reference {results['reference_longest_stall_ms']:.0f} ms)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
