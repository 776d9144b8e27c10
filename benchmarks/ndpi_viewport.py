"""A 1920x1080 level-0 viewport read on a large NDPI, against the same read on an equal tiled JPEG TIFF.

The NDPI (levels as single JPEG strips with restart markers and McuStarts) and
the tiled TIFF (256 px JPEG tiles) have the same size, JPEG quality, chroma
subsampling and tissue-like content.  Viewports at the same random places are
read from both, interleaved, and the ratio of median times is printed: the
target is NDPI <= 2x the tiled TIFF.  Also shown: the NDPI read one restart
interval per decode call, the way a tile reader would take tifffile's
restart-interval "tiles".  Files are generated once into the cache directory
(``$NAPARI_WSI_IO_CACHE`` or the user cache).

    python benchmarks/ndpi_viewport.py [--repeat 30] [--subsampling 4:2:0]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from napari_wsi_io import open_slide
from napari_wsi_io.synthetic import _cache_dir, write_synthetic_slide
from napari_wsi_io.synthetic.ndpi import write_ndpi

SHAPE = (16384, 51200)  # (height, width): at least 50,000 px wide
VIEW = (1920, 1080)


def _files(subsampling: str):
    folder = _cache_dir()
    h, w = SHAPE
    ndpi = folder / f"viewport-{w}x{h}-{subsampling.replace(':', '')}-v1.ndpi"
    tiff = folder / f"viewport-{w}x{h}-v1.tif"
    for path, make in (
        (ndpi, lambda p: write_ndpi(p, SHAPE, subsampling=subsampling, tile_width=512, quality=80)),
        (tiff, lambda p: write_synthetic_slide(p, SHAPE, tile=256, quality=80)),
    ):
        if not path.exists():
            start = time.perf_counter()
            make(path)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s")
    return ndpi, tiff


def _per_interval(slide, x: int, y: int) -> None:
    """The viewport decoded one restart interval per call (the baseline the batched read replaces)."""
    tiles = slide.tiles[0]
    w, h = VIEW
    rows, cols = tiles.tile_range(y, x, h, w)
    for ty in rows:
        for tx in cols:
            tiles.decode(ty, tx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--subsampling", default="4:2:0", choices=("4:2:0", "4:2:2", "4:4:4"))
    args = parser.parse_args()
    ndpi_path, tiff_path = _files(args.subsampling)
    opened = []
    for _ in range(3):  # the first open also imports the backends
        start = time.perf_counter()
        ndpi = open_slide(ndpi_path)
        opened.append(time.perf_counter() - start)
    print(
        f"NDPI opened in {opened[0] * 1e3:.0f} ms (first, with imports), then {min(opened[1:]) * 1e3:.0f} ms: "
        f"{ndpi.vendor}, {ndpi.backend}, levels {ndpi.level_dimensions[:3]}..."
    )
    slides = {"ndpi": ndpi, "tiff": open_slide(tiff_path), "tiff-tifffile": open_slide(tiff_path, "tifffile")}
    print(f"tiled TIFF backend: {slides['tiff'].backend} ({slides['tiff'].fallback_reason or 'preferred'})")
    rng = np.random.default_rng(0)
    w, h = SHAPE[1], SHAPE[0]
    places = [(int(rng.integers(0, w - VIEW[0])), int(rng.integers(0, h - VIEW[1]))) for _ in range(args.repeat)]
    times: dict[str, list[float]] = {name: [] for name in (*slides, "ndpi-per-interval")}
    for slide in slides.values():  # warm up: imports, scratch buffers, page cache
        slide.read_level(0, *places[0], *VIEW)
    for i, (x, y) in enumerate(places):
        for name, slide in slides.items():
            start = time.perf_counter()
            slide.read_level(0, x, y, *VIEW)
            times[name].append(time.perf_counter() - start)
        if i < 5:  # slow: a few samples are enough
            start = time.perf_counter()
            _per_interval(ndpi, x, y)
            times["ndpi-per-interval"].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    for name, t in median.items():
        print(f"{name:>18}: median {t * 1e3:7.1f} ms per {VIEW[0]}x{VIEW[1]} viewport ({len(times[name])} reads)")
    print(f"ratio NDPI / tiled TIFF ({slides['tiff'].backend}): {median['ndpi'] / median['tiff']:.2f}  (target <= 2)")
    print(f"ratio NDPI / tiled TIFF (tifffile): {median['ndpi'] / median['tiff-tifffile']:.2f}")
    print(f"ratio per-interval decode / batched: {median['ndpi-per-interval'] / median['ndpi']:.1f}")


if __name__ == "__main__":
    main()
