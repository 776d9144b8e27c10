"""GPU (cuCIM, device="cuda", nvJPEG) against the best CPU strategy on one level of a generated slide.

    python benchmarks/gpu_check.py [--level 2] [--repeat 3] [--small] [PATH]

Measures, side by side in one run (best of ``--repeat``), a whole-level read by:

- CPU ``cucim``: cuCIM ``read_region`` of the level with ``num_workers`` = cores;
- CPU ``tifffile``: the fallback decoder, one band of tile rows per task on a thread pool;
- CPU ``pyramid``: the lazy dask pyramid stored into one array (threads scheduler);
- GPU ``cuslide`` and ``cuslide2`` (``ENABLE_CUSLIDE2=1``, in a child process, since cuCIM
  picks its plugin once per process): ``read_level_gpu`` into GPU memory, and the same
  plus the copy back to the host;

then prints best CPU time / GPU time (the goal is >= 3) and the GPU pixels against the
CPU read: largest and mean absolute difference and the share of identical values
(nvJPEG and libjpeg-turbo may round a little differently).  Without a GPU it says
"no GPU: <why>", measures the CPU side on the small sample and exits 0.

Needs numpy, tifffile, imagecodecs, cucim and, for the GPU, cupy; dask is optional.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from napari_wsi_io import open_slide
from napari_wsi_io.backends import cucim_plugin, gpu_problem
from napari_wsi_io.synthetic import GIGAPIXEL_SHAPE, SMALL_SHAPE, write_synthetic_slide

CORES = os.cpu_count() or 1
MATCH_MAX_DIFF, MATCH_MEAN_DIFF = 8, 0.5


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def tifffile_threads(path: str, level: int) -> np.ndarray:
    with open_slide(path, backend="tifffile") as slide:
        w, h = slide.level_dimensions[level]
        out = np.empty(slide.level_shape(level), slide.dtype)
        band = slide.level_tile_sizes[level][1]

        def read(y: int) -> None:
            rows = min(band, h - y)
            slide.read_level(level, 0, y, w, rows, out=out[y : y + rows])

        with ThreadPoolExecutor(CORES) as pool:
            list(pool.map(read, range(0, h, band)))
        return out


def dask_pyramid(path: str, level: int) -> np.ndarray | None:
    try:
        import dask
        import dask.array as da
    except ImportError:
        return None
    from napari_wsi_io import pyramid

    with open_slide(path, backend="cucim") as slide:
        array = pyramid(slide)[level]
        out = np.empty(array.shape, array.dtype)
        with dask.config.set(scheduler="threads", num_workers=CORES):
            da.store(array, out, lock=False)
        return out


def cpu_strategies(path: str, level: int, repeat: int) -> tuple[dict[str, float], np.ndarray]:
    times = {}
    with open_slide(path, backend="cucim") as slide:
        w, h = slide.level_dimensions[level]
        times["cpu cucim"], reference = best_of(repeat, lambda: slide.read_cucim(level, 0, 0, w, h, num_workers=CORES))
        cpu_check = slide.read_level(level, 0, 0, w, h)  # with the reader's tile checks
    assert np.array_equal(cpu_check, reference), "the checked CPU read differs from raw cuCIM"
    times["cpu tifffile"], fallback = best_of(repeat, lambda: tifffile_threads(path, level))
    assert np.array_equal(fallback, reference), "the fallback decoder differs from cuCIM on the CPU"
    if dask_pyramid(path, level) is not None:
        times["cpu pyramid"], _ = best_of(repeat, lambda: dask_pyramid(path, level))
    return times, reference


def gpu_child(path: str, level: int, repeat: int, reference_file: str) -> dict:
    """GPU timings and differences in this process (its cuCIM plugin is fixed by the environment)."""
    import cupy

    reference = np.load(reference_file)
    with open_slide(path, backend="cucim", device="cuda") as slide:
        w, h = slide.level_dimensions[level]
        slide.read_level_gpu(level, 0, 0, min(w, 512), min(h, 512))  # CUDA context and nvJPEG start-up

        workers = CORES
        try:
            slide.read_level_gpu(level, 0, 0, min(w, 2048), min(h, 2048), num_workers=workers)
        except Exception:  # a plugin that decodes on the GPU in one stream
            workers = 0

        def on_gpu():
            pixels = slide.read_level_gpu(level, 0, 0, w, h, num_workers=workers)
            cupy.cuda.Device().synchronize()
            return pixels

        seconds, pixels = best_of(repeat, on_gpu)
        to_host, host = best_of(repeat, lambda: cupy.asnumpy(on_gpu()))
        diff = np.abs(host.astype(np.int16) - reference.astype(np.int16))
        return {
            "plugin": slide.plugin or cucim_plugin(),
            "workers": workers,
            "gpu": seconds,
            "gpu+copy": to_host,
            "max_diff": int(diff.max()),
            "mean_diff": float(diff.mean()),
            "identical": float((diff == 0).mean()),
            "device": cupy.cuda.runtime.getDeviceProperties(0)["name"].decode(),
        }


def run_gpu(path: str, level: int, repeat: int, reference_file: str, cuslide2: bool) -> dict:
    env = dict(os.environ, ENABLE_CUSLIDE2="1" if cuslide2 else "0")
    argv = [sys.executable, __file__, path, "--level", str(level), "--repeat", str(repeat)]
    proc = subprocess.run([*argv, "--gpu-child", reference_file], capture_output=True, text=True, env=env, timeout=1800)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="slide (default: a generated 60000x40000 JPEG slide)")
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="generate the 4000x3000 slide instead")
    parser.add_argument("--gpu-child", metavar="REFERENCE.npy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gpu_child:
        print(json.dumps(gpu_child(args.path, args.level, args.repeat, args.gpu_child)))
        return 0
    problem = gpu_problem()
    if problem:
        print(f"no GPU: {problem}; measuring the CPU side on the small slide only")
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        path = args.path
        if path is None:
            shape = SMALL_SHAPE if args.small or problem else GIGAPIXEL_SHAPE
            print(f"writing a {shape[1]}x{shape[0]} synthetic slide...", flush=True)
            path = str(write_synthetic_slide(Path(tmp) / "slide.svs", shape, aperio=True))
        with open_slide(path) as slide:
            level = min(args.level, slide.level_count - 1)
            w, h = slide.level_dimensions[level]
            print(f"{path}: level {level}, {w}x{h} ({w * h / 1e6:.0f} Mpx), {CORES} CPU cores, backend {slide.backend}")
        times, reference = cpu_strategies(path, level, args.repeat)
        best_cpu = min(times, key=times.get)
        mpx = w * h / 1e6
        for name, seconds in times.items():
            print(f"{name:>18}: {seconds:7.3f} s  {mpx / seconds:8.1f} Mpx/s")
        if problem:
            print(f"best CPU strategy: {best_cpu}; GPU not measured ({problem})")
            return 0
        reference_file = str(Path(tmp) / "reference.npy")
        np.save(reference_file, reference)
        for cuslide2 in (False, True):
            result = run_gpu(path, level, args.repeat, reference_file, cuslide2)
            name = "cuslide2" if cuslide2 else "cuslide"
            if "error" in result:
                print(f"{'gpu ' + name:>18}: failed: {result['error']}")
                continue
            verdict = (
                "matches"
                if result["max_diff"] <= MATCH_MAX_DIFF and result["mean_diff"] <= MATCH_MEAN_DIFF
                else "DIFFERS"
            )
            for kind in ("gpu", "gpu+copy"):
                seconds = result[kind]
                print(
                    f"{kind + ' ' + result['plugin']:>18}: {seconds:7.3f} s  {mpx / seconds:8.1f} Mpx/s  "
                    f"best CPU ({best_cpu}) / this = {times[best_cpu] / seconds:.2f}  (goal >= 3)"
                )
            print(
                f"{'':>18}  on {result['device']}, num_workers={result['workers']}: pixels {verdict} the CPU read: "
                f"max |diff| {result['max_diff']}, "
                f"mean {result['mean_diff']:.4f}, identical {100 * result['identical']:.2f} %"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
