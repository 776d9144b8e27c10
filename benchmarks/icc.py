"""What showing an ICC-profiled slide in sRGB costs: a level read and a pan step, sRGB over raw.

One process, one file: a generated tissue-like JPEG slide (``--shape``, default 12000x16000) copied with an
Adobe RGB (1998) profile in TIFF tag 34675 (``synthetic.icc``), or ``--slide`` (any slide with a profile),
opened twice: ``colour="srgb"`` and ``colour="raw"``.  Every measurement alternates the two (the order
flips each round) and the ratio is of the medians over ``--rounds``:

* per chunk, one thread: cuCIM's decode of a 1024 px chunk, the transform of the same pixels (Little CMS
  on the NumPy buffer), and Pillow's ``ImageCms.applyTransform`` for comparison (ns per pixel);
* level read: ``np.asarray`` of a displayed level (one cuCIM read with a worker per core, then the
  transform in row bands over the cores), and ``pyramid()`` computed by dask's threads (each chunk's
  read transforms it);
* pan step (headless): the plugin's part of a napari pan step: a 1920x1080 view at level 0 moved by half
  a viewport along a path, sliced as the viewer's frame path slices it (``slicing_in_frame``: the view's
  chunks, decoded by the prefetch workers or by the slicing thread), from a cold cache.  With ``--dwell``
  seconds before each move (a user looking) and without (panning as fast as the decodes go).  napari's
  upload and draw, the same for both, are not in it: a full pan step's ratio is closer to 1.

    python benchmarks/icc.py [--shape 12000x16000] [--level 1] [--rounds 5] [--dwell 0.3] [--slide PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import dask
import numpy as np

from napari_wsi_io import open_slide
from napari_wsi_io._cache import tile_cache
from napari_wsi_io.backends._lcms import SrgbTransform
from napari_wsi_io.pyramid import close_display_pyramid, display_pyramid, pyramid, slicing_in_frame
from napari_wsi_io.synthetic import write_synthetic_slide
from napari_wsi_io.synthetic.icc import adobe_rgb_profile, with_icc_profile

VIEW = (1080, 1920)  # (height, width) of the view in screen pixels = level-0 pixels
COLOURS = ("srgb", "raw")


def _profiled_slide(shape: tuple[int, int], folder: Path) -> Path:
    plain = write_synthetic_slide(folder / "plain.svs", shape, aperio=True)
    path = with_icc_profile(plain, folder / "adobe.svs", adobe_rgb_profile())
    plain.unlink()
    return path


def _interleaved(rounds: int, runs: dict) -> dict[str, list[float]]:
    """Call each run once per round, the order flipped every round; seconds per call."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    return times


def per_chunk(slides: dict, rounds: int) -> dict[str, float]:
    """ns per pixel of decoding a 1024 px chunk and of transforming it, one thread."""
    raw = slides["raw"]
    w, h = raw.level_dimensions[0]
    places = [((w - 1024) * i // 5 // 256 * 256, (h - 1024) * (i * 3 % 6) // 5 // 256 * 256) for i in range(6)]
    chunks = [raw.read_level(0, x, y, 1024, 1024) for x, y in places]
    lcms = slides["srgb"].colour_transform
    pillow = SrgbTransform(raw.icc_profile, engine="pillow")
    runs = {
        "decode": lambda: [raw.read_level(0, x, y, 1024, 1024) for x, y in places],
        "transform (lcms)": lambda: [lcms(c.copy()) for c in chunks],
        "copy (in the above)": lambda: [c.copy() for c in chunks],
        "transform (Pillow)": lambda: [pillow(c.copy()) for c in chunks],
    }
    times = _interleaved(rounds, runs)
    return {name: statistics.median(t) * 1e9 / (len(places) << 20) for name, t in times.items()}


def level_reads(slides: dict, level: int, rounds: int) -> dict[str, list[float]]:
    def displayed(colour: str):
        def run() -> None:
            levels = display_pyramid(slides[colour], prefetch=False)
            np.asarray(levels[level])
            close_display_pyramid(levels)

        return run

    def chunked(colour: str):
        def run() -> None:
            with dask.config.set(scheduler="threads", num_workers=os.cpu_count() or 1):
                pyramid(slides[colour])[level].compute()

        return run

    kinds = (("asarray", displayed), ("pyramid", chunked))
    runs = {f"{kind} {colour}": make(colour) for kind, make in kinds for colour in COLOURS}
    return _interleaved(rounds, runs)


def _path(shape: tuple[int, int], steps: int) -> list[tuple[int, int]]:
    """Top-left corners of views moved by half a viewport: right along a row, down, back left."""
    h, w = shape
    vh, vw = VIEW
    y, x, dx, places = h // 4, w // 8, vw // 2, []
    for _ in range(steps):
        places.append((y, x))
        if not 0 <= x + dx <= w - vw:
            dx, y = -dx, min(y + vh // 2, h - vh)
        else:
            x += dx
    return places


def pan(slide, places: list[tuple[int, int]], dwell: float) -> list[float]:
    """Seconds of each step after the first, from a cold cache."""
    tile_cache().clear()
    levels = display_pyramid(slide)
    level0, steps = levels[0], []
    try:
        for i, (y, x) in enumerate(places):
            if dwell and i:
                time.sleep(dwell)
            start = time.perf_counter()
            with slicing_in_frame(coarse=False):
                level0[y : y + VIEW[0], x : x + VIEW[1]]
            if i:
                steps.append(time.perf_counter() - start)
    finally:
        close_display_pyramid(levels)
    return steps


def pan_steps(slides: dict, rounds: int, steps: int, dwell: float) -> dict[str, list[float]]:
    places = _path(slides["raw"].level_shape(0)[:2], steps)
    out: dict[str, list[float]] = {}
    for pause in (dwell, 0.0):
        for r in range(rounds):
            for colour in COLOURS if r % 2 == 0 else COLOURS[::-1]:
                out.setdefault(f"dwell {pause:g} s {colour}", []).extend(pan(slides[colour], places, pause))
    return out


def _ratio_lines(times: dict[str, list[float]], unit: float, label: str) -> list[str]:
    lines = []
    for name in [n for n in times if n.endswith(" srgb")]:
        kind = name[: -len(" srgb")]
        srgb, raw = statistics.median(times[name]), statistics.median(times[f"{kind} raw"])
        lines.append(
            f"{label} {kind}: sRGB {srgb * unit:.1f} ms, raw {raw * unit:.1f} ms (medians), ratio {srgb / raw:.3f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="12000x16000", help="HEIGHTxWIDTH of the generated slide's level 0")
    parser.add_argument("--slide", help="a slide with an embedded profile instead of the generated one")
    parser.add_argument("--level", type=int, default=1, help="the level read whole (default 1)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=16, help="pan steps per path")
    parser.add_argument("--dwell", type=float, default=0.3, help="seconds before each pan move (default 0.3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shape = tuple(int(v) for v in args.shape.lower().split("x"))
        path = args.slide or _profiled_slide(shape, Path(tmp))
        slides = {colour: open_slide(path, colour=colour) for colour in COLOURS}
        srgb = slides["srgb"]
        if srgb.colour != "srgb":
            raise SystemExit(f"{path}: no ICC profile that can be applied")
        w, h = srgb.level_dimensions[args.level]
        print(f"{path}: backend {srgb.backend}, transform {srgb.colour_transform.engine}, {os.cpu_count()} cores")
        for name, ns in per_chunk(slides, args.rounds).items():
            print(f"per 1024 px chunk, one thread: {name} {ns:.2f} ns/px")
        print(f"level {args.level} ({w}x{h}, {w * h / 1e6:.0f} Mpx):")
        print("\n".join(_ratio_lines(level_reads(slides, args.level, args.rounds), 1e3, "  level read,")))
        print(f"pan steps at level 0 ({VIEW[1]}x{VIEW[0]} view, half-viewport moves, {args.steps - 1} a path):")
        print("\n".join(_ratio_lines(pan_steps(slides, args.rounds, args.steps, args.dwell), 1e3, "  pan step,")))
        for slide in slides.values():
            slide.close()


if __name__ == "__main__":
    main()
