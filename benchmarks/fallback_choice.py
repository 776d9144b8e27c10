"""Why the fallback backend is our tifffile/imagecodecs decoder and not tiffslide.

Reads one whole level of a JPEG slide and of a deflate slide in 1024-px chunks
on a thread pool (one thread per core), with each fallback candidate, and
prints the throughput ratios measured side by side in one run.

    python benchmarks/fallback_choice.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tifffile

from napari_wsi_io import open_slide
from napari_wsi_io.synthetic import write_synthetic_slide

CANDIDATES = ("tifffile", "tiffslide")


def read_level(slide, level: int, chunk: int = 1024, workers: int = os.cpu_count() or 1) -> None:
    w, h = slide.level_dimensions[level]
    out = np.empty(slide.level_shape(level), slide.dtype)
    regions = [(x, y, min(chunk, w - x), min(chunk, h - y)) for y in range(0, h, chunk) for x in range(0, w, chunk)]

    def one(region):
        x, y, rw, rh = region
        out[y : y + rh, x : x + rw] = slide.read_level(level, x, y, rw, rh)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, regions))


def make_slides(folder: Path) -> dict[str, Path]:
    jpeg = write_synthetic_slide(folder / "jpeg.svs", (8192, 12288), aperio=True)
    pixels = tifffile.imread(jpeg, key=0)
    deflate = folder / "deflate.tif"
    tifffile.imwrite(deflate, pixels, tile=(256, 256), compression="zlib", photometric="rgb")
    return {"jpeg": jpeg, "deflate": deflate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind, path in make_slides(Path(tmp)).items():
            slides = {name: open_slide(path, backend=name) for name in CANDIDATES}
            w, h = slides["tifffile"].dimensions
            times: dict[str, list[float]] = {name: [] for name in CANDIDATES}
            for _ in range(args.repeat):
                for name, slide in slides.items():
                    start = time.perf_counter()
                    read_level(slide, 0)
                    times[name].append(time.perf_counter() - start)
            best = {name: statistics.median(t) for name, t in times.items()}
            rates = ", ".join(f"{name} {w * h / 1e6 / t:.0f} MP/s" for name, t in best.items())
            print(
                f"{kind:8} level 0 {w}x{h}: {rates}; tifffile/tiffslide = {best['tiffslide'] / best['tifffile']:.2f}x"
            )


if __name__ == "__main__":
    main()
