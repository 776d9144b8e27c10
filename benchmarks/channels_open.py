"""Time to open a 40-channel QPTIFF of 1 gigapixel per channel (issue 19: at most 1 s).

The file (32768 x 32768 px per channel, 8-bit, deflate, pyramid down to 1024 px: 240 pages) is written once into
the sample cache from pre-encoded tiles (``synthetic.qptiff.write_big_qptiff``, a few seconds).  Timed, in
interleaved rounds: ``open_slide`` (the metadata: every channel's pages described and checked) and the reader
(``read_slide``: the 40 layers napari gets, with contrast limits from each channel's coarsest level).

    python benchmarks/channels_open.py [--repeat 5] [--channels 40] [--side 32768]
"""

from __future__ import annotations

import argparse
import statistics
import time

from napari_wsi_io import open_slide
from napari_wsi_io._reader import read_slide
from napari_wsi_io.synthetic import _cache_dir
from napari_wsi_io.synthetic.qptiff import write_big_qptiff

TARGET_S = 1.0


def sample_path(side: int, channels: int) -> str:
    path = _cache_dir() / f"qptiff-{channels}x{side}.qptiff"
    if not path.exists():
        write_big_qptiff(path, side, channels)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--channels", type=int, default=40)
    parser.add_argument("--side", type=int, default=32768)
    args = parser.parse_args()
    path = sample_path(args.side, args.channels)
    read_slide(path)  # imports and the page cache, untimed
    runs = {
        "open_slide (metadata)": lambda: open_slide(path).close(),
        "read_slide (the layers)": lambda: read_slide(path),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    print(f"{path}: {args.channels} channels of {args.side} x {args.side} px, medians of {args.repeat} rounds")
    for name, t in times.items():
        med = statistics.median(t)
        print(
            f"{name:>24}: {med:.3f} s = {med / TARGET_S:.2f} of the 1 s target (runs: {', '.join(f'{v:.3f}' for v in t)})"
        )


if __name__ == "__main__":
    main()
