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
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)

    import warnings

    import napari

    # Startup notices (the Qt binding, system theme detection) would cover part of the picture;
    # napari has no public switch for the first one.
    warnings.filterwarnings("ignore", message="System theme detection")
    try:
        import napari._qt.qt_main_window as main_window

        main_window.SHOW_QT_WARNING = False
    except (ImportError, AttributeError):
        pass
    from qtpy.QtCore import QEventLoop, QTimer
    from qtpy.QtWidgets import QApplication

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

    def settle(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec_()

    settle(500)
    viewer.reset_view()  # the dock took room from the canvas
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.zoom *= args.zoom
    settle(1500)  # let napari pick and load the level it displays
    widget.strategies.value = [s.strip() for s in args.strategies.split(",") if s.strip()]
    widget.workers.value = args.workers
    widget.chunk_size.value = args.chunk_size
    if args.level != "screen":
        widget.level_combo.value = int(args.level)
    print(f"slide {path.name}: benchmarking level {args.level} (on screen: {layer.data_level})", file=sys.stderr)
    widget.run_level_button.native.click()
    qt_workers = _watch_worker_processes(widget.worker)
    deadline = time.monotonic() + args.timeout
    while widget.busy and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)
    if widget.worker is not None:
        widget.cancel()
        print("the benchmark did not finish in time", file=sys.stderr)
        return 1
    if widget.error:
        print(f"the benchmark failed: {widget.error}", file=sys.stderr)
        return 1
    print(f"worker processes seen: {len(qt_workers)}, with Qt loaded: {sum(qt_workers.values())}", file=sys.stderr)
    # The overlay shows the fastest configuration; when that read the level with one worker
    # or in one call, show the fastest one that spread chunks over several workers instead.
    table = widget.table

    def spread(record) -> bool:
        return record.strategy != "decode-limit" and len({t.worker for t in record.tasks}) > 1

    if not spread(table.best):
        rows = [r for r in range(table.rowCount()) if spread(table.record_at(r))]
        if rows:
            table.selectRow(max(rows, key=lambda r: table.record_at(r).mpix_per_s))
    while widget.busy:
        QApplication.processEvents()
        time.sleep(0.02)
    # Keep the slide layer selected so its controls, not the overlay's, show on the left.
    viewer.layers.selection.active = layer
    settle(1000)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.out), canvas_only=False, flash=False)
    print(f"{widget.status.text()}\nsaved {args.out}", file=sys.stderr)
    viewer.close()
    return 0


def _watch_worker_processes(worker) -> dict[int, bool]:
    """Child processes seen during the run -> whether they have Qt mapped (they must not)."""
    from pathlib import Path

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
