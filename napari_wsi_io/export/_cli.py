"""``napari-wsi-io convert SLIDE OUT.ome.zarr``: the export engine with a progress bar on stderr."""

from __future__ import annotations

import argparse
import sys
from contextlib import closing

from .._errors import SlideReadError
from ._codecs import COMPRESSIONS
from ._store import DEFAULT_CHUNK, DEFAULT_FORMAT, DEFAULT_SHARD, FORMATS

__all__ = ["add_parser", "run"]

_EPILOG = (
    "Writes OME-NGFF 0.5 on Zarr v3 in shards (or, with --format 0.4, NGFF 0.4 on Zarr v2), "
    "axes c, y, x in micrometre, one dataset per slide level, "
    "into OUT.partial-<random> and renames it to OUT when complete. "
    "Exit status: 0 done, 1 export failed, 2 bad slide or arguments, 130 interrupted."
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "convert",
        help="export a slide to OME-Zarr with bounded memory, locally or on a dask cluster",
        description="Export a slide, or some of its levels, to OME-Zarr.",
        epilog=_EPILOG,
    )
    p.add_argument("slide", help="the slide file, or its https:// or s3:// URL")
    p.add_argument("out", help="the OME-Zarr directory to write, e.g. slide.ome.zarr, or an s3:// URL")
    p.add_argument("--levels", default="all", help="'all' (default) or level numbers such as 0,2")
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help=f"chunk side in pixels (default {DEFAULT_CHUNK})")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=DEFAULT_FORMAT,
        help="NGFF version: 0.5 on Zarr v3 (default) or 0.4 on Zarr v2 for older readers",
    )
    p.add_argument(
        "--shard",
        default="auto",
        help=f"shard side in pixels, a multiple of --chunk, or 'none' (default {DEFAULT_SHARD} with --format 0.5; "
        "0.4 has no shards)",
    )
    p.add_argument(
        "--compression",
        default="zstd",
        help=f"{'|'.join(COMPRESSIONS)}, optionally with :LEVEL, e.g. zstd:3 or jpeg:85 (default zstd, level 1)",
    )
    p.add_argument(
        "--scheduler",
        default="threads",
        help="threads (default), processes, or the address of a running dask scheduler (tcp://host:8786)",
    )
    p.add_argument("--workers", type=int, default=None, help="threads or processes to use (default: CPU count)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it is an earlier Zarr store")
    p.add_argument("--backend", default=None, help="force a backend (cucim, tifffile, openslide, tiffslide)")
    p.add_argument(
        "--colour",
        choices=("raw", "srgb"),
        default="raw",
        help="raw: the pixels the file stores (default); srgb: rendered through the slide's ICC profile, if any "
        "(the profile is kept in the store's attributes either way)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ._engine import ExportError, export_steps

    steps = export_steps(
        args.slide,
        args.out,
        levels=args.levels,
        chunk=args.chunk,
        format=args.format,
        shard=args.shard,
        compression=args.compression,
        scheduler=args.scheduler,
        workers=args.workers,
        overwrite=args.overwrite,
        backend=args.backend,
        colour=args.colour,
    )
    bar = None
    try:
        with closing(steps):
            while True:
                try:
                    event = next(steps)
                except StopIteration as stop:
                    summary = stop.value
                    break
                if bar is None:
                    bar = tqdm(total=event.total, unit="px", unit_scale=True, file=sys.stderr, desc="convert")
                bar.update(event.done - bar.n)
    except SlideReadError:
        raise  # main() prints it and exits 2
    except FileExistsError:  # the engine's message also names the Python argument
        print(f"napari-wsi-io: error: {args.out} already exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    except (OSError, ExportError) as exc:  # a full disk, a lost worker...
        print(f"napari-wsi-io: export failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    print(summary)
    return 0
