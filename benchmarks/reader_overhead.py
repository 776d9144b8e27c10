"""Overhead of the lazy dask pyramid over raw cuCIM, on the gigapixel sample.

Prints the throughput of computing a whole level through the dask pyramid (dask,
threaded scheduler, one worker per core, into a preallocated array; the clock
starts once the arrays are built) divided by raw cuCIM ``read_region`` of the
same level with ``num_workers`` = cores.  The dask pyramid is measured twice: the
layer data the reader gives napari (through the bounded chunk cache) and
``pyramid()`` (no cache; what export and scripts use), both in 1024 px chunks.
All are measured in turn in one run; the median of ``--repeat`` runs is used.

    python benchmarks/reader_overhead.py [--level 2] [--repeat 5] [PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import dask
import dask.array as da
import numpy as np

from napari_wsi_io import open_slide, pyramid
from napari_wsi_io._reader import read_slide
from napari_wsi_io.synthetic import sample_slide_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="slide (default: the synthetic gigapixel sample)")
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    path = args.path or sample_slide_path()
    cores = os.cpu_count() or 1
    slide = open_slide(path, backend="cucim")
    w, h = slide.level_dimensions[args.level]
    mpx = w * h / 1e6
    print(f"{path}: level {args.level}, {w}x{h} ({mpx:.0f} Mpx), {cores} cores")

    def raw():
        return lambda: slide.read_cucim(args.level, 0, 0, w, h, num_workers=cores)

    def compute(level):
        def run() -> None:
            out = np.empty(level.shape, level.dtype)
            with dask.config.set(scheduler="threads", num_workers=cores):
                da.store(level, out, lock=False)

        return run

    def through_layer():
        # What napari gets from the reader, built fresh (its chunks are not in the cache) before the clock starts.
        os.environ["NAPARI_WSI_IO_BACKEND"] = "cucim"
        return compute(read_slide(path)[0][0][args.level])

    def through_pyramid():
        return compute(pyramid(open_slide(path, backend="cucim"))[args.level])  # fresh: nothing cached

    runs = (("raw cuCIM", raw), ("layer data", through_layer), ("pyramid()", through_pyramid))
    times: dict[str, list[float]] = {name: [] for name, _ in runs}
    for _ in range(args.repeat):
        for name, prepare in runs:
            run = prepare()
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
            del run
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, t in med.items():
        print(
            f"{name:>13}: {t:.3f} s median, {mpx / t:7.1f} MP/s  (runs: {', '.join(f'{x:.3f}' for x in times[name])})"
        )
    for name in ("layer data", "pyramid()"):
        ratio = med["raw cuCIM"] / med[name]
        print(f"{name} throughput / raw cuCIM throughput = {ratio:.2f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
