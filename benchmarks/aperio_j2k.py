"""Aperio SVS by tile compression: open time and the cuCIM path's cost over raw cuCIM.

Writes (or reuses, in DIR) four Aperio-layout slides of the same size: JPEG,
JPEG 2000 33005 (RGB), 33003 with full- and with half-width chroma.  For each it
prints which backend ``open_slide`` chose, the median time to open it, and the
median time to read a region of level 0 through the reader, through raw cuCIM
``read_region`` (no tile checks) and through OpenSlide; the runs are
interleaved, each read on a region of its own (cuCIM caches tiles).
"reader / raw cuCIM" is what the reader's tile header checks cost (target
<= 1.05); 33003 files also decode one tile twice when they open (cuCIM's
colours checked against OpenSlide's conversion).  The J2K tiles are lossless,
so they decode several times slower than a scanner's lossy ones.

    python benchmarks/aperio_j2k.py [--shape 1440 2400] [--region 256] [--repeat 5] [DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

KINDS = {
    "JPEG": None,
    "J2K 33005": (33005, "full"),
    "J2K 33003 full": (33003, "full"),
    "J2K 33003 half": (33003, "half"),
}


def write_files(directory: Path, shape: tuple[int, int]) -> dict[str, Path]:
    paths = {}
    for kind, spec in KINDS.items():
        path = directory / f"{kind.replace(' ', '-')}-{shape[1]}x{shape[0]}.svs"
        if not path.exists():  # existing files let another version of the reader be timed on the same slides
            from napari_wsi_io.synthetic import write_synthetic_slide
            from napari_wsi_io.synthetic.aperio import write_aperio_j2k

            if spec is None:
                write_synthetic_slide(path, shape, tile=256, aperio=True, min_level_side=512)
            else:
                write_aperio_j2k(path, shape, compression=spec[0], chroma=spec[1], min_level_side=512)
        paths[kind] = path
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", help="where the slides are written (default: a temporary folder)")
    parser.add_argument("--shape", type=int, nargs=2, default=(1440, 2400), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--region", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import openslide

    from napari_wsi_io import SlideReadError, open_slide

    directory = Path(args.dir or tempfile.mkdtemp(prefix="aperio-j2k-"))
    directory.mkdir(parents=True, exist_ok=True)
    paths = write_files(directory, tuple(args.shape))
    side = args.region
    height, width = args.shape
    # Each read gets a region of its own (cuCIM caches tiles): reader and raw cuCIM swap theirs every run.
    spots = [(x, y) for y in range(0, height - side + 1, side) for x in range(0, width - side + 1, side)]
    if len(spots) < 3 * args.repeat:
        parser.error(f"{len(spots)} regions of {side} px fit; --repeat {args.repeat} needs {3 * args.repeat}")
    print(f"{directory}: level 0 {width}x{height}, regions of {side}x{side}, {args.repeat} runs")
    for kind, path in paths.items():
        times: dict[str, list[float]] = {"open": [], "reader": [], "raw cuCIM": [], "OpenSlide": []}
        backend, why = "?", ""
        try:
            for repeat in range(args.repeat):
                start = time.perf_counter()
                slide = open_slide(path)
                times["open"].append(time.perf_counter() - start)
                backend, why = slide.backend, getattr(slide, "fallback_reason", None) or ""
                reference = openslide.OpenSlide(path)
                a, b, c = spots[3 * repeat : 3 * repeat + 3]
                a, b = (a, b) if repeat % 2 else (b, a)
                runs = {
                    "reader": lambda s=slide, p=a: s.read_level(0, *p, side, side),
                    "OpenSlide": lambda r=reference, p=c: np.asarray(r.read_region(p, 0, (side, side))),
                }
                if backend == "cucim":
                    runs["raw cuCIM"] = lambda s=slide, p=b: s.read_cucim(0, *p, side, side)
                order = list(runs.items())
                for name, run in order if repeat % 2 else order[::-1]:
                    start = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - start)
                slide.close()
                reference.close()
        except SlideReadError as exc:
            print(f"{kind:>15}: {exc}")
            continue
        med = {k: statistics.median(v) for k, v in times.items() if v}
        line = f"{kind:>15}: {backend:<8} open {1e3 * med['open']:6.1f} ms, read {1e3 * med['reader']:6.1f} ms"
        if "raw cuCIM" in med:
            line += f", raw cuCIM {1e3 * med['raw cuCIM']:6.1f} ms (reader / raw cuCIM = {med['reader'] / med['raw cuCIM']:.2f})"
        line += f", OpenSlide {1e3 * med['OpenSlide']:6.1f} ms"
        print(line + (f"  [{why}]" if why else ""))


if __name__ == "__main__":
    main()
