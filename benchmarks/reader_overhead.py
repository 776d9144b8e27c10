"""Overhead of the lazy dask pyramid over raw cuCIM, on the gigapixel sample.

Prints the throughput of reading a whole level through the dask pyramid divided by
raw cuCIM ``read_region`` of the same level with ``num_workers`` = cores.  The
layer data that ``npe2.read`` returns (through the bounded chunk cache) is built
once and then read again every round, three ways, as users and plugins do:
``level.compute()``, ``np.asarray(level)``, and ``da.store`` into a preallocated
array (threaded scheduler, one worker per core).  ``pyramid()`` (no cache; what
export and scripts use), built fresh each round, is measured with ``da.store``.
All are measured in turn in each round (interleaved); the median of ``--repeat``
rounds is used.

    python benchmarks/reader_overhead.py [--level 2] [--repeat 5] [PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import dask
import dask.array as da
import npe2
import numpy as np

from napari_wsi_io import open_slide, pyramid
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
    times = _interleaved(_runs(slide, path, args.level, cores), args.repeat)
    _print(times, mpx)


def _store(level, cores: int):
    """A run that reads ``level`` with ``da.store`` into a preallocated array, one thread per core."""

    def run() -> None:
        out = np.empty(level.shape, level.dtype)
        with dask.config.set(scheduler="threads", num_workers=cores):
            da.store(level, out, lock=False)

    return run


def _runs(slide, path, level: int, cores: int) -> tuple:
    """(name, prepare) pairs; ``prepare()`` returns the run to time (what it builds is not timed)."""
    w, h = slide.level_dimensions[level]
    # What napari gets from the reader, built once; every round reads it again.
    os.environ["NAPARI_WSI_IO_BACKEND"] = "cucim"
    npe2.PluginManager.instance().discover()
    layer = npe2.read([str(path)], stack=False, plugin_name="napari-wsi-io")[0][0][level]

    def raw():
        return lambda: slide.read_cucim(level, 0, 0, w, h, num_workers=cores)

    def layer_compute():
        return layer.compute

    def layer_asarray():
        return lambda: np.asarray(layer)

    def through_pyramid():
        return _store(pyramid(open_slide(path, backend="cucim"))[level], cores)  # fresh: nothing cached

    return (
        ("raw cuCIM", raw),
        ("layer .compute()", layer_compute),
        ("layer asarray", layer_asarray),
        ("layer da.store", lambda: _store(layer, cores)),
        ("pyramid()", through_pyramid),
    )


def _interleaved(runs: tuple, repeat: int) -> dict[str, list[float]]:
    """Seconds of every run in each of ``repeat`` rounds, the runs in turn within a round."""
    times: dict[str, list[float]] = {name: [] for name, _ in runs}
    for _ in range(repeat):
        for name, prepare in runs:
            run = prepare()
            start = time.perf_counter()
            out = run()
            times[name].append(time.perf_counter() - start)
            del run, out
    return times


def _print(times: dict[str, list[float]], mpx: float) -> None:
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, t in med.items():
        print(
            f"{name:>16}: {t:.3f} s median, {mpx / t:7.1f} MP/s  (runs: {', '.join(f'{x:.3f}' for x in times[name])})"
        )
    for name in list(med)[1:]:
        ratio = med["raw cuCIM"] / med[name]
        print(f"{name} throughput / raw cuCIM throughput = {ratio:.2f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
