"""``napari-wsi-io info|bench|convert|demo``: the engine from scripts and servers."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from ._errors import SlideReadError

__all__ = ["build_parser", "main"]

# Subcommands that live beside their engine: each module has add_parser(subparsers).
_SUBCOMMAND_MODULES = ("napari_wsi_io.bench._cli", "napari_wsi_io.export._cli")


_DESCRIPTION = (
    "Whole-slide images read with cuCIM: describe a slide, measure how fast its levels load, "
    "convert it to OME-Zarr, or open the napari demo."
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def _info(args: argparse.Namespace) -> int:
    from .backends import open_slide

    with open_slide(args.path, backend=args.backend) as slide:
        mpp = f"{slide.mpp[0]:.4f} x {slide.mpp[1]:.4f} µm/px" if slide.mpp else "unknown"
        print(f"file:       {slide.path}")
        print(f"vendor:     {slide.vendor}")
        backend = slide.backend + (f" (fallback: {slide.fallback_reason})" if slide.fallback_reason else "")
        print(f"backend:    {backend}")
        if getattr(slide, "plugin", None):
            print(f"cuCIM:      {slide.plugin} plugin, device {slide.device}")
        print(f"mpp:        {mpp}")
        print(f"associated: {', '.join(slide.associated_images) or 'none'}")
        print(f"ICC:        {_icc_line(slide)}")
        print(f"{'level':>5} {'width':>8} {'height':>8} {'downsample':>10} {'tile':>10}")
        for i, ((w, h), d, (tw, th)) in enumerate(
            zip(slide.level_dimensions, slide.level_downsamples, slide.level_tile_sizes)
        ):
            print(f"{i:>5} {w:>8} {h:>8} {d:>10.3f} {f'{tw}x{th}':>10}")
    return 0


def _icc_line(slide) -> str:
    from .backends import colour_metadata

    if not slide.icc_profile:
        return "none (the pixels are shown as stored)"
    name = colour_metadata(slide)["icc_profile_description"] or "unnamed"
    shown = "napari shows sRGB" if slide.colour == "srgb" else "not applied (NAPARI_WSI_IO_COLOUR=raw)"
    return f"{name!r}, {len(slide.icc_profile)} bytes: {shown}; bench and convert read raw unless --colour srgb"


def _demo(args: argparse.Namespace) -> int:
    # Async slicing leaves the GUI thread only uploads and draws: shorter stalls (benchmarks/pan.py); this process only.
    os.environ.setdefault("NAPARI_ASYNC", "1")
    # napari 0.9 recommends PyQt6 and shows a deprecation notice over the canvas with PyQt5.
    if "QT_API" not in os.environ and importlib.util.find_spec("PyQt6") is not None:
        os.environ["QT_API"] = "pyqt6"
    import napari

    from ._qt.demo import closed_by_sigint, lay_out
    from .synthetic import sample_slide_path

    print("preparing the synthetic sample slide (first run only takes a few seconds)...", file=sys.stderr)
    path = sample_slide_path(small=args.small)
    viewer = napari.Viewer(title="napari-wsi-io demo")
    layers = viewer.open(str(path), plugin="napari-wsi-io")
    viewer.layers.selection.active = layers[0]
    dock, _ = viewer.window.add_plugin_dock_widget("napari-wsi-io", "WSI benchmark")
    lay_out(viewer, dock)
    with closed_by_sigint(viewer, dock.window()) as interrupted:
        print(f"napari is open with {path} ({path.stat().st_size / 1e6:.0f} MB); Ctrl-C closes it", file=sys.stderr)
        napari.run()
    _join_chunk_workers()
    if interrupted:
        raise KeyboardInterrupt
    return 0


def _join_chunk_workers(timeout_s: float = 10.0) -> None:
    """Let background chunk reads end before the interpreter does.

    A daemon thread still inside cuCIM when Python finalises aborts the process
    ("terminate called without an active exception"); the workers exit one second after their last job.
    """
    from ._prefetch import workers

    pool = workers()
    pool.drop()
    for thread in pool.threads():
        thread.join(timeout_s)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="napari-wsi-io", description=_DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    info = sub.add_parser("info", help="levels, tiles, mpp, vendor and backend of a slide")
    info.add_argument("path")
    info.add_argument("--backend", default=None, help="force a backend (cucim, tifffile, openslide, tiffslide)")
    info.set_defaults(func=_info)
    for name in _SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    demo = sub.add_parser("demo", help="open napari with the synthetic gigapixel slide and the benchmark dock")
    demo.add_argument("--small", action="store_true", help="use the small sample slide")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SlideReadError as exc:
        print(f"napari-wsi-io: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # bad argument values found after parsing
        print(f"napari-wsi-io: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("napari-wsi-io: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
