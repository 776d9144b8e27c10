"""Leica SCN, Ventana BIF, Philips TIFF: does each open right, and how long does opening take?

Writes one slide per vendor layout (``napari_wsi_io.synthetic``), checks the layout
against OpenSlide 4 (vendor, level sizes, mpp, associated images, a level-0 region), then
times ``open_slide`` (auto backend) and ``openslide.OpenSlide``, runs interleaved, each
counting its median.  ``python benchmarks/vendor_open.py [--width 8000] [--rounds 15]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import openslide

from napari_wsi_io import open_slide
from napari_wsi_io.synthetic.bif import write_bif
from napari_wsi_io.synthetic.philips import write_philips
from napari_wsi_io.synthetic.scn import write_scn


def _origin(osl, vendor: str) -> tuple[int, int]:
    if vendor == "leica":  # OpenSlide draws the main image inside the collection
        return int(osl.properties["openslide.bounds-x"]), int(osl.properties["openslide.bounds-y"])
    return 0, 0


def _opens_right(path: Path, vendor: str) -> tuple[bool, str]:
    osl = openslide.OpenSlide(str(path))
    with open_slide(path) as slide:
        ox, oy = _origin(osl, vendor)
        ref = np.asarray(osl.read_region((ox + 512, oy + 512), 0, (1024, 768)))[..., :3].astype(np.int16)
        diff = float(np.abs(slide.read_level(0, 512, 512, 1024, 768) - ref).mean())
        checks = {
            "vendor": osl.properties["openslide.vendor"] == slide.vendor == vendor,
            "mpp": slide.mpp is not None and abs(slide.mpp[0] - float(osl.properties["openslide.mpp-x"])) < 1e-6,
            "associated": sorted(slide.associated_images) == sorted(osl.associated_images),
            "pixels": diff < 3,
        }
        if vendor != "leica":
            checks["levels"] = list(slide.level_dimensions) == list(osl.level_dimensions)
        failed = [k for k, ok in checks.items() if not ok]
        return not failed, f"backend {slide.backend}, {slide.level_count} levels, mean diff {diff:.2f}" + (
            f", WRONG: {', '.join(failed)}" if failed else ""
        )


def _time(fn, rounds: int) -> tuple[float, float]:
    ours, theirs = [], []
    for _ in range(rounds):  # interleaved, so the machine's load hits both alike
        for sink, opener in ((ours, fn[0]), (theirs, fn[1])):
            start = time.perf_counter()
            opener()
            sink.append(time.perf_counter() - start)
    return statistics.median(ours), statistics.median(theirs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    shape = (args.width * 3 // 4, args.width)
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "leica": write_scn(Path(tmp) / "slide.scn", shape=shape, levels=4),
            "ventana": write_bif(Path(tmp) / "slide.bif", shape=shape, levels=4),
            "ventana overlapping": write_bif(Path(tmp) / "overlap.bif", shape=shape, levels=4, overlap=(3, 2)),
            "philips": write_philips(Path(tmp) / "slide.tiff", shape=shape, levels=5),
        }
        for name, path in files.items():
            vendor = name.split()[0]
            right, detail = _opens_right(path, vendor)

            def ours(path=path):
                open_slide(path).close()

            def theirs(path=path):
                openslide.OpenSlide(str(path)).close()

            ours(), theirs()  # warm: imports, page cache
            t_ours, t_theirs = _time((ours, theirs), args.rounds)
            print(
                f"{name:20s} {path.name:11s} opens right: {'yes' if right else 'NO'} ({detail}); "
                f"open {t_ours * 1e3:.1f} ms vs OpenSlide {t_theirs * 1e3:.1f} ms (ratio {t_ours / t_theirs:.2f})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
