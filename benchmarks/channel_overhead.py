"""Overhead of a channel layer over the backend's own read of that channel (issue 19: target >= 0.9).

On an 8-channel 16-bit OME-TIFF (16384 x 8192 px, deflate, pyramid in SubIFDs; written once into the sample
cache from pre-encoded tiles, ``synthetic.ome.write_big_ome_tiff``), one channel's data as napari gets it from
the reader (``npe2.read``: the channel's own display pyramid over its ``PlaneSlide``) is read against the
backend reading the same channel's pixels itself (``PlaneSlide.read_level``), in interleaved rounds, as
``benchmarks/reader_overhead.py`` does for RGB:

* a region (2048 x 2048 px of level 0, a different place each round, on the layer's 1024 px grid of cached
  chunks, so both decode the same tiles): ``np.asarray(layer[y:y+h, x:x+w])`` (dask, threaded) and the same
  slice as the viewer makes it (``slicing_in_frame``: read at once, the chunks waited for) against the
  backend's own read of it, ``read_level`` (one call);
* a whole level (``--level``, default 2): ``layer.compute()``, ``np.asarray(layer)`` and ``da.store`` against
  the thread-pool read of the level.

Each ratio is the backend's median time over the layer's (>= 0.9: the layer costs at most 10 %).  Before
each run the prefetch guesses of the one before are dropped (a view queues its neighbours, which would
otherwise decode during the next run on a 2-core machine).

    python benchmarks/channel_overhead.py [--level 2] [--repeat 5] [--channel 3] [PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import dask
import dask.array as da
import npe2
import numpy as np

from napari_wsi_io import open_slide
from napari_wsi_io.pyramid import slicing_in_frame
from napari_wsi_io.synthetic import _cache_dir
from napari_wsi_io.synthetic.ome import write_big_ome_tiff

_REGION = 2048
_PIECE = 1024


def sample_path() -> str:
    path = _cache_dir() / "channels-8x16384x8192-u16.ome.tif"
    if not path.exists():
        write_big_ome_tiff(path)
    return str(path)


def threaded_read(plane, level: int, x: int, y: int, w: int, h: int, cores: int) -> np.ndarray:
    """The backend's read of a region, in 1024 px pieces over ``cores`` threads, into one array."""
    out = np.empty((h, w), plane.dtype)
    pieces = [(px, py) for py in range(y, y + h, _PIECE) for px in range(x, x + w, _PIECE)]

    def read(piece) -> None:
        px, py = piece
        pw, ph = min(_PIECE, x + w - px), min(_PIECE, y + h - py)
        out[py - y : py - y + ph, px - x : px - x + pw] = plane.read_level(level, px, py, pw, ph)

    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(read, pieces))
    return out


def _settle() -> None:
    """Drop the prefetch guesses an earlier run queued, let the decodes in flight end and empty the chunk cache:
    each run on its own, decoding what it reads (a region read earlier would come from the cache)."""
    from napari_wsi_io._cache import tile_cache
    from napari_wsi_io._prefetch import workers

    workers().drop()
    deadline = time.perf_counter() + 2.0
    while workers().pending() and time.perf_counter() < deadline:
        time.sleep(0.005)
    time.sleep(0.01)
    tile_cache().clear()


def _runs(path: str, channel: int, level: int, cores: int):
    npe2.PluginManager.instance().discover()
    layers = npe2.read([path], stack=False, plugin_name="napari-wsi-io")
    data = layers[channel][0]
    plane = open_slide(path).plane((channel, 0, 0))
    w0, h0 = plane.level_dimensions[0]
    w, h = plane.level_dimensions[level]
    rng = np.random.default_rng(0)

    def region():  # a fresh place each call (nothing cached from an earlier round), on the 1024 px chunk grid
        x, y = int(rng.integers(0, (w0 - _REGION) // _PIECE)), int(rng.integers(0, (h0 - _REGION) // _PIECE))
        return x * _PIECE, y * _PIECE

    def store():
        out = np.empty((h, w), data[level].dtype)
        da.store(data[level], out, lock=False)

    def in_frame():  # as the viewer slices it (``_qt.prerender``): read at once, chunks waited for
        x, y = region()
        with slicing_in_frame(coarse=False):
            return np.asarray(data[0][y : y + _REGION, x : x + _REGION])

    return {
        "region: backend": lambda: plane.read_level(0, *region(), _REGION, _REGION),
        "region: layer": lambda: np.asarray(data[0][(s := region())[1] : s[1] + _REGION, s[0] : s[0] + _REGION]),
        "region: layer in a frame": in_frame,
        "level: backend threads": lambda: threaded_read(plane, level, 0, 0, w, h, cores),
        "level: layer .compute()": data[level].compute,
        "level: layer asarray": lambda: np.asarray(data[level]),
        "level: layer da.store": store,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="an OME-TIFF with channels (default: the 8-channel sample)")
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--channel", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    path = args.path or sample_path()
    cores = os.cpu_count() or 1
    runs = _runs(path, args.channel, args.level, cores)
    times: dict[str, list[float]] = {name: [] for name in runs}
    with dask.config.set(scheduler="threads", num_workers=cores):
        for _ in range(args.repeat):
            for name, run in runs.items():  # interleaved: a change of load hits every run alike
                _settle()
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"{path}: channel {args.channel}, {cores} cores, medians of {args.repeat} interleaved rounds")
    for name, t in med.items():
        print(f"{name:>26}: {t * 1000:8.1f} ms  (runs: {', '.join(f'{v * 1000:.0f}' for v in times[name])})")
    for kind, backend in (("region", "region: backend"), ("level", "level: backend threads")):
        base = med[backend]
        for name, t in med.items():
            if name.startswith(f"{kind}: layer"):
                print(f"{name}: backend time / layer time = {base / t:.2f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
