"""Take ``resources/dock.png``: the "WSI benchmark" dock next to a slide, after a real run.

Run it under a display, e.g. headless, with the binding the demo uses:

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv-pyqt6/bin/python benchmarks/screenshot.py

It opens the synthetic sample slide in napari through the plugin, docks the
benchmark widget from the manifest at the width ``napari-wsi-io demo`` gives it,
benchmarks the level on screen with the widget's own button and saves a
screenshot of the whole window.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from _viewer import run_event_loop

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    _quiet_startup_notices()
    viewer, layer, widget = _open_slide_and_dock(args)
    failed = _run_benchmark(widget, args, layer)
    if failed:
        return failed
    _show_spread_record(widget)
    _wait_while_busy(widget)
    # Keep the slide layer selected so its controls, not the overlay's, show on the left.
    viewer.layers.selection.active = layer
    run_event_loop(1.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.out), canvas_only=False, flash=False)
    print(f"{widget.status.text()}\nsaved {args.out}", file=sys.stderr)
    viewer.close()
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "dock.png")
    parser.add_argument("--gigapixel", action="store_true", help="use the 60000x40000 sample (else 4000x3000)")
    parser.add_argument("--level", default="screen", help="level to benchmark: 'screen' or a number")
    parser.add_argument("--strategies", default="serial,threads,processes,cucim")
    parser.add_argument("--workers", default="1, 2")
    parser.add_argument("--chunk-size", type=int, default=256, help="0 = aligned to the tiles")
    parser.add_argument("--size", default="1800x1100", help="window size WxH")
    parser.add_argument("--zoom", type=float, default=1.3, help="zoom relative to the whole slide in view")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the run")
    return parser.parse_args(argv)


def _quiet_startup_notices() -> None:
    """Startup notices (the Qt binding, system theme detection) would cover part of the picture."""
    import warnings

    warnings.filterwarnings("ignore", message="System theme detection")
    try:  # napari has no public switch for the Qt binding notice
        import napari._qt.qt_main_window as main_window

        main_window.SHOW_QT_WARNING = False
    except (ImportError, AttributeError):
        pass


def _open_slide_and_dock(args: argparse.Namespace):
    """The sample slide in a viewer of ``--size``, the benchmark dock beside it, zoomed by ``--zoom``."""
    import napari

    from napari_wsi_io._qt.demo import narrow_dock
    from napari_wsi_io.synthetic import sample_slide_path

    path = sample_slide_path(small=not args.gigapixel)
    viewer = napari.Viewer(title="napari-wsi-io: WSI benchmark")
    width, height = (int(v) for v in args.size.split("x"))
    viewer.window.resize(width, height)
    layer = viewer.open(str(path), plugin="napari-wsi-io")[0]
    dock, widget = viewer.window.add_plugin_dock_widget("napari-wsi-io", "WSI benchmark")
    narrow_dock(dock)
    viewer.reset_view()
    run_event_loop(0.5)
    viewer.reset_view()  # the dock took room from the canvas
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.zoom *= args.zoom
    run_event_loop(1.5)  # let napari pick and load the level it displays
    print(f"slide {path.name}: benchmarking level {args.level} (on screen: {layer.data_level})", file=sys.stderr)
    return viewer, layer, widget


def _run_benchmark(widget, args: argparse.Namespace, layer) -> int:
    """Set the dock's fields from ``args``, click its run button and wait; 1 on a timeout or failure."""
    widget.strategies.value = [s.strip() for s in args.strategies.split(",") if s.strip()]
    widget.workers.value = args.workers
    widget.chunk_size.value = args.chunk_size
    if args.level != "screen":
        widget.level_combo.value = int(args.level)
    widget.run_level_button.native.click()
    qt_workers = _watch_worker_processes(widget.worker)
    _wait_while_busy(widget, time.monotonic() + args.timeout)
    if widget.worker is not None:
        widget.cancel()
        print("the benchmark did not finish in time", file=sys.stderr)
        return 1
    if widget.error:
        print(f"the benchmark failed: {widget.error}", file=sys.stderr)
        return 1
    print(f"worker processes seen: {len(qt_workers)}, with Qt loaded: {sum(qt_workers.values())}", file=sys.stderr)
    return 0


def _show_spread_record(widget) -> None:
    """Select the fastest record that spread chunks over several workers, when the fastest did not.

    The overlay shows the selected configuration; one that read with one worker or in one call says less.
    """
    table = widget.table

    def spread(record) -> bool:
        return record.strategy != "decode-limit" and len({t.worker for t in record.tasks}) > 1

    if not spread(table.best):
        rows = [r for r in range(table.rowCount()) if spread(table.record_at(r))]
        if rows:
            table.selectRow(max(rows, key=lambda r: table.record_at(r).mpix_per_s))


def _wait_while_busy(widget, deadline: float = math.inf) -> None:
    from qtpy.QtWidgets import QApplication

    while widget.busy and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)


def _watch_worker_processes(worker) -> dict[int, bool]:
    """Child processes seen during the run -> whether they have Qt mapped (they must not)."""
    import psutil

    seen: dict[int, bool] = {}

    def look(_progress) -> None:
        for proc in psutil.Process().children(recursive=True):
            try:
                maps = Path(f"/proc/{proc.pid}/maps").read_text()
            except OSError:
                continue
            seen[proc.pid] = "libQt5" in maps or "libQt6" in maps

    if worker is not None:
        worker.yielded.connect(look)
    return seen


if __name__ == "__main__":
    sys.exit(main())
