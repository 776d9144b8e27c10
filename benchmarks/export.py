"""OME-Zarr export of the synthetic 2.4 Gpx sample against the work it cannot skip and the usual pipeline.

    python benchmarks/export.py [SLIDE] [--levels 2] [--rounds 3] [--workers 2] [--compression zstd] [--json OUT]

Each round runs, one after the other in fresh subprocesses (so each peak RSS is its own; the order
rotates from round to round, so a busy machine slows all of them alike):

* floor: what any export must do and nothing else. ``--workers`` threads take the 1024 px blocks of the
  level(s); each reads its JPEG tiles from the file and decodes them with imagecodecs (through tifffile's
  decode function, no checks) into a (y, x, c) block, copies it to (c, y, x) (the NGFF layout) and
  encodes it with the export's codec (Blosc-zstd level 1 by default).  Nothing is written.
* floor cuCIM: the same with the blocks decoded by raw cuCIM ``read_region`` (no tile checks), the
  decoder the export uses on this backend: export / this floor is the export's own overhead (tile checks,
  task handling, writes).
* export 0.5: ``export_ome_zarr`` with its defaults (NGFF 0.5 on Zarr v3, 1024 px chunks in 4096 px shards).
* export 0.4: the same with ``format="0.4"`` (NGFF 0.4 on Zarr v2, one file per chunk).
* ome-zarr-py: tifffile's Zarr store of the level(s) -> dask (c, y, x) -> ome-zarr-py ``write_multiscale``,
  NGFF 0.5 with the same codec, chunks and shards as export 0.5, ``--workers`` dask threads.

Times are taken inside each subprocess around the work (imports and opening the slide excluded).  Printed:
medians over the rounds of the wall time and MP/s, each as a ratio to the floor (target: export 0.5 >= 0.8);
the CPU time per megapixel (all threads and child processes), whose floor/x ratio is what the wall-clock
ratio tends to on an idle machine; the peak RSS of each subprocess tree; the files written per level.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_BLOCK = 1024
_SHARD = 4096
_RUNS = ("floor", "floor cuCIM", "export 0.5", "export 0.4", "ome-zarr-py")


# -- what runs in the subprocesses ---------------------------------------------------------------------------
def _cpu() -> float:
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _level_pages(path: str, levels: list[int]):
    """The TIFF pages of the slide's levels, found by size (tifffile's own view of the file)."""
    import tifffile

    from napari_wsi_io import open_slide

    with open_slide(path) as slide:
        sizes = [slide.level_dimensions[level] for level in levels]
    tif = tifffile.TiffFile(path)
    by_size = {(int(p.imagewidth), int(p.imagelength)): p for p in tif.pages if p.is_tiled}
    return tif, [by_size[size] for size in sizes]


def _block_codec(compression: str):
    """The export's codec for one block (None: no compression), Blosc kept to the calling thread."""
    import numcodecs.blosc

    from napari_wsi_io.export import parse_compression

    numcodecs.blosc.use_threads = False  # as in zarr and the export: one thread per block
    return parse_compression(compression).codec(1)


def _blocks(width: int, height: int):
    """(x, y, w, h) of the ``_BLOCK`` px blocks of a width x height image, row by row."""
    for y in range(0, height, _BLOCK):
        for x in range(0, width, _BLOCK):
            yield x, y, min(_BLOCK, width - x), min(_BLOCK, height - y)


def _encoded_size(codec, pixels) -> int:
    """Bytes of a (y, x, c) block once in the NGFF (c, y, x) layout and encoded."""
    import numpy as np

    planar = np.ascontiguousarray(pixels.transpose(2, 0, 1))
    return len(codec.encode(planar)) if codec is not None else planar.nbytes


def _time_blocks(block, tasks: list[tuple], workers: int, pixels: int) -> dict:
    """``block(*task)`` for every task on ``workers`` threads, timed; the result of a floor run."""
    from concurrent.futures import ThreadPoolExecutor

    start, cpu = time.perf_counter(), _cpu()
    with ThreadPoolExecutor(workers) as pool:
        encoded = sum(pool.map(lambda t: block(*t), tasks))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu_s": _cpu() - cpu, "pixels": pixels, "output_bytes": encoded}


def _read_block(fd: int, page, x: int, y: int, w: int, h: int):
    """A (y, x, c) block assembled from the page's JPEG tiles, read with pread and decoded by tifffile."""
    import numpy as np

    th, tw = int(page.tilelength), int(page.tilewidth)
    cols = -(-int(page.imagewidth) // tw)
    pixels = np.empty((h, w, page.samplesperpixel), page.dtype)
    for ty in range(y // th, (y + h - 1) // th + 1):
        for tx in range(x // tw, (x + w - 1) // tw + 1):
            i = ty * cols + tx
            data = os.pread(fd, int(page.databytecounts[i]), int(page.dataoffsets[i]))
            tile = page.decode(data, i, jpegtables=page.jpegtables)[0]
            tile = tile.reshape(tile.shape[-3:])
            y0, x0 = max(y, ty * th), max(x, tx * tw)
            y1, x1 = min(y + h, (ty + 1) * th), min(x + w, (tx + 1) * tw)
            pixels[y0 - y : y1 - y, x0 - x : x1 - x] = tile[y0 - ty * th : y1 - ty * th, x0 - tx * tw : x1 - tx * tw]
    return pixels


def floor(path: str, levels: list[int], compression: str, workers: int) -> dict:
    tif, pages = _level_pages(path, levels)
    codec = _block_codec(compression)
    fd = os.open(path, os.O_RDONLY)

    def block(page, x: int, y: int, w: int, h: int) -> int:
        return _encoded_size(codec, _read_block(fd, page, x, y, w, h))

    tasks = [(page, *b) for page in pages for b in _blocks(int(page.imagewidth), int(page.imagelength))]
    pixels = sum(int(p.imagewidth) * int(p.imagelength) for p in pages)
    return _time_blocks(block, tasks, workers, pixels)


def floor_cucim(path: str, levels: list[int], compression: str, workers: int) -> dict:
    from napari_wsi_io import open_slide

    codec = _block_codec(compression)
    slide = open_slide(path)
    if slide.backend != "cucim":
        raise SystemExit(f"floor cuCIM: the slide opens with {slide.backend}, not cuCIM")

    def block(level: int, x: int, y: int, w: int, h: int) -> int:
        return _encoded_size(codec, slide.read_cucim(level, x, y, w, h))

    tasks = [(level, *b) for level in levels for b in _blocks(*slide.level_dimensions[level])]
    pixels = sum(w * h for level in levels for w, h in [slide.level_dimensions[level]])
    return _time_blocks(block, tasks, workers, pixels)


def export(path: str, out: str, levels: list[int], compression: str, workers: int, ngff: str) -> dict:
    import zarr  # noqa: F401 -- imported before timing: zarr and cuCIM each pull in cupy, seconds of CPU

    from napari_wsi_io import open_slide
    from napari_wsi_io.export import export_ome_zarr

    open_slide(path).close()
    cpu = _cpu()
    s = export_ome_zarr(path, out, levels=levels, compression=compression, workers=workers, format=ngff)
    return {"seconds": s.seconds, "cpu_s": _cpu() - cpu, "pixels": s.pixels, "output_bytes": s.output_bytes}


def ome_zarr_pipeline(path: str, out: str, levels: list[int], compression: str, workers: int) -> dict:
    import dask
    import dask.array as da
    import zarr
    from ome_zarr.format import FormatV05
    from ome_zarr.writer import write_multiscale

    from napari_wsi_io.export import parse_compression

    tif, pages = _level_pages(path, levels)
    serializer, compressors = parse_compression(compression).codecs_v3(1)
    start, cpu = time.perf_counter(), _cpu()
    pyramid = []
    for page in pages:
        source = zarr.open_array(page.aszarr(), mode="r")
        pyramid.append(da.from_zarr(source, chunks=(_BLOCK, _BLOCK, page.samplesperpixel)).transpose(2, 0, 1))
    group = zarr.open_group(out, mode="w", zarr_format=3)
    options = {"chunks": (3, _BLOCK, _BLOCK), "shards": (3, _SHARD, _SHARD), "compressor": compressors or []}
    with dask.config.set(scheduler="threads", num_workers=workers):
        write_multiscale(pyramid, group, fmt=FormatV05(), axes=["c", "y", "x"], storage_options=options)
    seconds = time.perf_counter() - start
    pixels = sum(int(p.imagewidth) * int(p.imagelength) for p in pages)
    return {"seconds": seconds, "cpu_s": _cpu() - cpu, "pixels": pixels, "output_bytes": _tree_size(Path(out))}


def _child(argv: list[str]) -> None:
    kind, path, out, levels, compression, workers = argv[:6]
    levels_list, workers_n = [int(v) for v in levels.split(",")], int(workers)
    if kind == "floor":
        result = floor(path, levels_list, compression, workers_n)
    elif kind == "floor cuCIM":
        result = floor_cucim(path, levels_list, compression, workers_n)
    elif kind.startswith("export"):
        result = export(path, out, levels_list, compression, workers_n, kind.split()[1])
    else:
        result = ome_zarr_pipeline(path, out, levels_list, compression, workers_n)
    print(json.dumps(result))


# -- the parent: interleaved rounds, RSS polling, the table -------------------------------------------------
def _tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _tree_rss(proc) -> int:
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_child(kind: str, slide: Path, out: Path, levels: str, compression: str, workers: int) -> dict:
    import psutil

    args = [sys.executable, __file__, "--child", kind, str(slide), str(out), levels, compression, str(workers)]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, _tree_rss(watched))
        time.sleep(0.02)
    out_text, err = child.communicate()
    if child.returncode:
        raise SystemExit(f"{kind} failed ({child.returncode}): {err.strip().splitlines()[-3:]}")
    result = json.loads(out_text.strip().splitlines()[-1])
    result["peak_rss"] = peak
    if out.exists():
        result["files_per_level"] = [
            sum(1 for p in level.rglob("*") if p.is_file() and p.name not in ("zarr.json", ".zarray", ".zattrs"))
            for level in sorted((d for d in out.iterdir() if d.is_dir()), key=lambda d: (len(d.name), d.name))
        ]
        shutil.rmtree(out)
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(argv[1:])
        return 0
    from napari_wsi_io.synthetic import sample_slide_path

    args = _parse_args(argv)
    path = Path(args.slide) if args.slide else sample_slide_path()
    runs = [r for r in _RUNS if r not in args.skip]
    _print_setup(path, args)
    rows = _rows(_run_rounds(path, runs, args))
    _add_floor_ratios(rows)
    _print_table(rows)
    _print_targets(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("slide", nargs="?", help="slide file (default: the synthetic 2.4 Gpx sample)")
    parser.add_argument("--levels", default="2", help="level(s) to export, e.g. 2 or 1,2 (default 2: 150 MP)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compression", default="zstd")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=_RUNS, help="runs to leave out")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--tmp", help="where the exports are written (default: the system temporary directory)")
    return parser.parse_args(argv)


def _print_setup(path: Path, args: argparse.Namespace) -> None:
    from napari_wsi_io import open_slide

    with open_slide(path) as slide:
        levels = [int(v) for v in args.levels.split(",")]
        sizes = ", ".join(f"{w}x{h}" for w, h in (slide.level_dimensions[level] for level in levels))
        print(f"{path.name}: level(s) {args.levels} ({sizes}), backend {slide.backend}")
    print(
        f"{args.workers} workers, compression {args.compression}, {args.rounds} rounds interleaved, cpus {os.cpu_count()}"
    )


def _run_rounds(path: Path, runs: list[str], args: argparse.Namespace) -> dict[str, list[dict]]:
    """Every run in each round, in an order that rotates from round to round; each run's results."""
    results: dict[str, list[dict]] = {run: [] for run in runs}
    with tempfile.TemporaryDirectory(prefix="wsi-export-bench-", dir=args.tmp) as tmp:
        for r in range(args.rounds):
            order = runs[r % len(runs) :] + runs[: r % len(runs)]
            line = []
            for run in order:
                out = Path(tmp) / f"{run.replace(' ', '-')}.ome.zarr"
                result = run_child(run, path, out, args.levels, args.compression, args.workers)
                results[run].append(result)
                line.append(f"{run} {result['seconds']:.2f} s")
            print(f"round {r + 1}: " + " | ".join(line), flush=True)
    return results


def _rows(results: dict[str, list[dict]]) -> dict[str, dict]:
    """Each run's medians over the rounds, its peak RSS and output; the rounds themselves under "rounds"."""
    rows = {}
    for run, rs in results.items():
        seconds = statistics.median(r["seconds"] for r in rs)
        rows[run] = {
            "seconds": seconds,
            "mp_s": rs[0]["pixels"] / 1e6 / seconds,
            "cpu_ms_per_mp": statistics.median(r["cpu_s"] * 1e3 / (r["pixels"] / 1e6) for r in rs),
            "peak_rss_mb": max(r["peak_rss"] for r in rs) / 2**20,
            "files_per_level": rs[0].get("files_per_level"),
            "output_mb": rs[0]["output_bytes"] / 1e6,
            "rounds": rs,
        }
    return rows


def _add_floor_ratios(rows: dict[str, dict]) -> None:
    """Each run's throughput and CPU time as ratios to the floor's (nan without a floor run)."""
    base = rows.get("floor")
    for row in rows.values():
        ratio = base["seconds"] / row["seconds"] if base else float("nan")
        cpu_ratio = base["cpu_ms_per_mp"] / row["cpu_ms_per_mp"] if base else float("nan")
        row["throughput_over_floor"], row["cpu_floor_over_run"] = ratio, cpu_ratio


def _print_table(rows: dict[str, dict]) -> None:
    print(
        f"{'':14} {'median s':>9} {'MP/s':>7} {'x floor':>8} {'CPU ms/MP':>10} {'CPU floor/x':>12} "
        f"{'peak RSS':>9} {'output':>8}  files per level"
    )
    for run, row in rows.items():
        files = "-" if row["files_per_level"] is None else ", ".join(map(str, row["files_per_level"]))
        print(
            f"{run:14} {row['seconds']:>9.2f} {row['mp_s']:>7.1f} {row['throughput_over_floor']:>8.2f} "
            f"{row['cpu_ms_per_mp']:>10.2f} {row['cpu_floor_over_run']:>12.2f} {row['peak_rss_mb']:>6.0f} MB "
            f"{row['output_mb']:>5.0f} MB  {files}"
        )


def _print_targets(rows: dict[str, dict]) -> None:
    if "floor" in rows and "export 0.5" in rows:
        e = rows["export 0.5"]
        text = f"export 0.5 / floor: throughput {e['throughput_over_floor']:.2f} (target >= 0.8), CPU {e['cpu_floor_over_run']:.2f}"
        if "ome-zarr-py" in rows:
            text += f"; export 0.5 / ome-zarr-py pipeline: {rows['ome-zarr-py']['seconds'] / e['seconds']:.1f}x"
        if "floor cuCIM" in rows:
            own = rows["floor cuCIM"]["seconds"] / e["seconds"]
            text += f"; export 0.5 / floor cuCIM: {own:.2f}"
        print(text)


if __name__ == "__main__":
    sys.exit(main())
