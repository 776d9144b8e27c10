"""The "WSI benchmark" dock: how fast the level on screen loads, measured next to the slide.

The engine (``napari_wsi_io.bench.engine.run_plan``) is a Qt-free generator; the
dock runs it with napari's ``create_worker`` and turns its progress events into
the progress bar, the live charts, the results table and the chunk overlay.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from functools import partial
from pathlib import Path

from magicgui.widgets import CheckBox, ComboBox, Container, LineEdit, PushButton, SpinBox
from napari.qt.threading import create_worker
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QFileDialog, QFrame, QLabel, QProgressBar, QScrollArea, QVBoxLayout, QWidget

from ..backends import BACKENDS, available_backends
from ..bench import engine
from .background import LatestOnly
from .charts import ChartTabs, ThemeColors
from .controls import CheckList, format_eta, parse_workers, plan_defaults
from .overlay import COLOR_BY, chunk_raster, ensure_overlay, level_shapes, show_raster
from .results_table import ResultsTable, best_record
from .runner import hold_full_collections, release_full_collections, run_until_cancelled
from .slide_layers import slide_layer_choices

__all__ = ["BenchmarkWidget"]

SCREEN = "screen"  # level choice: the level napari displays now
ALL = "all"
PLUGIN = "napari-wsi-io"
EXPORT_WIDGET = "Export to OME-Zarr"


class BenchmarkWidget(QWidget):
    """Benchmark a slide level from napari; napari passes the viewer as ``napari_viewer``."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.worker = None
        self.records: list = []
        self.result = None
        self.summary: dict | None = None
        self.notes: list[str] = []
        self.error: str | None = None
        self.overlay_layer = None
        self._cancel = threading.Event()
        # Closing the viewer deletes the dock: that cancels a run, which then cleans up in its thread.
        self._live_runs: list[threading.Event] = []
        self.destroyed.connect(partial(_set_all, self._live_runs))
        self._running_plan: engine.BenchPlan | None = None
        self._overlay_target = None
        self._overlay_shown: tuple = (None, None)  # (record, colour by) on the overlay layer
        self._latest = None
        self._started = False
        self._ready = True  # the status says what Benchmark level would do, until a run or a refusal
        self._views_timer = QTimer(self)
        self._views_timer.setSingleShot(True)
        self._views_timer.setInterval(300)
        self._views_timer.timeout.connect(self._refresh_views)
        self._overlay_job = LatestOnly(self._overlay_ready, name="wsi-overlay", parent=self)
        self._colors = ThemeColors.from_napari(self.viewer.theme)
        self._build_controls()
        self._build_layout()
        self._connect_viewer()
        self._set_running(False)
        self._show_ready()

    # -- construction --
    def _build_controls(self) -> None:
        defaults = plan_defaults()
        installed = set(available_backends())
        missing = {name: f"{name} is not installed" for name in BACKENDS if name not in installed}
        default_backends = list(defaults.get("backends", ["cucim"]))
        if "openslide" in installed and "openslide" not in default_backends:
            default_backends.append("openslide")  # so the table can show the speed-up over OpenSlide
        self.layer_combo = ComboBox(label="Slide", choices=self._slide_layer_choices, nullable=False)
        self.level_combo = ComboBox(label="Level", choices=self._level_choices)
        self.backends = CheckList("Backends", list(BACKENDS), default_backends, missing)
        self.strategies = CheckList("Strategies", list(engine.STRATEGIES), defaults.get("strategies", []), per_row=3)
        self.chunkings = CheckList("Chunks", list(engine.CHUNKINGS), defaults.get("chunkings", ["tiles"]))
        self.workers = LineEdit(label="Workers", value=", ".join(str(w) for w in defaults.get("workers", [1, 2])))
        self.workers.tooltip = f"worker counts to try, e.g. 1, 2, 4 (this machine has {os.cpu_count()} CPUs)"
        self.sink = ComboBox(label="Sink", choices=list(engine.SINKS), value=defaults.get("sink", "discard"))
        self.sink.tooltip = "discard: decode only; assemble: into one array in memory; zarr: into a temporary Zarr"
        sizes = [("aligned to the tiles (about 1024 px)", 0)] + [(f"{n} px", n) for n in (256, 512, 1024, 2048, 4096)]
        self.chunk_size = ComboBox(label="Chunk size", choices=sizes, value=defaults.get("chunk_size") or 0)
        self.chunk_size.tooltip = "side of the chunks of the rows, columns and tiles chunkings"
        self.repeats = SpinBox(label="Repeats", value=defaults.get("repeats", 1), min=1, max=50)
        self.show_overlay = CheckBox(text="chunks on the slide", value=True)
        self.color_by = ComboBox(choices=list(COLOR_BY), value=COLOR_BY[0])
        overlay_row = Container(
            widgets=[self.show_overlay, self.color_by], layout="horizontal", labels=False, label="Overlay"
        )
        overlay_row.margins = (0, 0, 0, 0)
        self.controls = Container(
            widgets=[
                self.layer_combo,
                self.level_combo,
                self.backends,
                self.strategies,
                self.chunkings,
                self.chunk_size,
                self.workers,
                self.sink,
                self.repeats,
                overlay_row,
            ]
        )
        self.run_level_button = PushButton(text="Benchmark level")
        self.run_all_button = PushButton(text="Benchmark all levels")
        self.cancel_button = PushButton(text="Cancel")
        self.save_results_button = PushButton(text="Save results...")
        self.save_charts_button = PushButton(text="Save charts...")
        self.export_button = PushButton(text="Export to OME-Zarr...")
        self.run_buttons = Container(
            widgets=[self.run_level_button, self.run_all_button, self.cancel_button], layout="horizontal", labels=False
        )
        self.file_buttons = Container(
            widgets=[self.save_results_button, self.save_charts_button, self.export_button],
            layout="horizontal",
            labels=False,
        )
        for row in (self.run_buttons, self.file_buttons):
            row.margins = (0, 0, 0, 0)
        self.run_level_button.changed.connect(lambda: self.run_benchmark(all_levels=False))
        self.run_all_button.changed.connect(lambda: self.run_benchmark(all_levels=True))
        self.cancel_button.changed.connect(self.cancel)
        self.save_results_button.changed.connect(self._ask_save_results)
        self.save_charts_button.changed.connect(self._ask_save_charts)
        self.export_button.changed.connect(self.open_export)
        self.layer_combo.changed.connect(self.level_combo.reset_choices)
        self.level_combo.changed.connect(self._show_ready)
        self.show_overlay.changed.connect(self._refresh_overlay)
        self.color_by.changed.connect(self._refresh_overlay)

    def _build_layout(self) -> None:
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.status = QLabel()
        self.status.setWordWrap(True)
        # Word-wrapped labels get one line in a crowded layout unless told otherwise.
        self.status.setMinimumHeight(3 * self.status.fontMetrics().lineSpacing())
        self.status.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self.charts = ChartTabs(self._colors)
        self.table = ResultsTable(highlight=self._colors.highlight)
        self.table.record_selected.connect(self._on_record_selected)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.controls.native)
        layout.addWidget(self.run_buttons.native)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.charts, stretch=2)
        layout.addWidget(self.table, stretch=1)
        layout.addWidget(self.file_buttons.native)
        # Scrollable, so the dock fits a laptop screen next to the slide.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(content)
        self._scroll = scroll
        self._fit_scroll_width()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def _fit_scroll_width(self) -> None:
        """No narrower than the controls: the scroll area only scrolls vertically."""
        content = self._scroll.widget()
        bar = self._scroll.verticalScrollBar().sizeHint().width()
        self._scroll.setMinimumWidth(content.minimumSizeHint().width() + bar)

    def showEvent(self, event) -> None:
        # napari's stylesheet and fonts apply once docked: the controls' minimum grows (by 20 px with Qt 6).
        self._fit_scroll_width()
        super().showEvent(event)

    def _connect_viewer(self) -> None:
        layers = self.viewer.layers.events
        for event in (layers.inserted, layers.removed, layers.reordered):
            event.connect(self._on_layers_changed)
        self.viewer.events.theme.connect(self._on_theme)
        # The displayed level changes while drawing after a zoom; refresh its label a moment later.
        self._screen_level_timer = QTimer(self)
        self._screen_level_timer.setSingleShot(True)
        self._screen_level_timer.setInterval(250)
        self._screen_level_timer.timeout.connect(self._refresh_screen_level_label)
        _camera(self.viewer).events.zoom.connect(self._on_zoom)
        self.destroyed.connect(
            partial(_disconnect_viewer, self.viewer, self._on_layers_changed, self._on_theme, self._on_zoom)
        )

    # -- choices --
    def _slide_layer_choices(self, *_) -> list[tuple[str, object]]:
        return slide_layer_choices(self.viewer)

    def screen_level(self) -> int | None:
        layer = self.layer_combo.value
        if layer is None:
            return None
        return int(layer.data_level) if layer.multiscale else 0

    def _screen_label(self) -> str:
        level = self.screen_level()
        return "level on screen" if level is None else f"level on screen (now {level})"

    def _level_choices(self, *_) -> list[tuple[str, object]]:
        choices = [(self._screen_label(), SCREEN), ("all levels", ALL)]
        layer = self.layer_combo.value
        if layer is not None:
            for i, (h, w) in enumerate(level_shapes(layer)):
                choices.append((f"level {i}: {w} x {h}", i))
        return choices

    def _refresh_screen_level_label(self) -> None:
        native = self.level_combo.native
        if native.count():
            native.setItemText(0, self._screen_label())
        self._show_ready()

    def _on_zoom(self, *_) -> None:
        self._screen_level_timer.start()

    def _on_layers_changed(self, event=None) -> None:
        self.layer_combo.reset_choices()
        self.level_combo.reset_choices()
        self._show_ready()

    # -- the plan --
    def build_plan(self, all_levels: bool = False) -> engine.BenchPlan:
        """The plan the controls describe; ValueError says what is missing."""
        layer = self.layer_combo.value
        if layer is None:
            raise ValueError("no slide layer: open a slide with napari-wsi-io first")
        choice = ALL if all_levels else self.level_combo.value
        if choice == ALL:
            levels = None
        elif choice == SCREEN:
            levels = [self.screen_level()]
        else:
            levels = [int(choice)]
        for name, picked in (
            ("backend", self.backends.value),
            ("strategy", self.strategies.value),
            ("chunking", self.chunkings.value),
        ):
            if not picked:
                raise ValueError(f"choose at least one {name}")
        return engine.BenchPlan(
            path=str(layer.metadata["path"]),
            levels=levels,
            backends=self.backends.value,
            strategies=self.strategies.value,
            chunkings=self.chunkings.value,
            workers=parse_workers(self.workers.value),
            sink=self.sink.value,
            repeats=int(self.repeats.value),
            chunk_size=int(self.chunk_size.value) or None,
        )

    # -- running --
    def run_benchmark(self, all_levels: bool = False):
        """Run the plan of the controls in a worker thread; returns the worker (None if refused).

        The engine checks the plan (opening the slide with each backend, memory for the
        ``assemble`` sink) before it measures anything; that happens in the worker too,
        because opening a slide on a slow disk must not freeze napari.  A plan it refuses
        ends the worker with the reason before any progress: shown as "Not started".
        """
        if self.worker is not None:
            return None
        try:
            plan = self.build_plan(all_levels)
        except ValueError as exc:
            self._refuse(str(exc))
            return None
        self.records, self.result, self.summary, self.error = [], None, None, None
        self.notes = []
        self._started = False
        self._ready = False
        self._running_plan = plan
        # The overlay layer appears with the first run, before the worker starts: adding a layer
        # costs napari 100-200 ms (controls, shaders), which would stall the event loop mid-run.
        if self.show_overlay.value:
            self.overlay_layer = ensure_overlay(self.viewer, self.layer_combo.value, self.overlay_layer)
        self.table.set_records([])
        self.charts.update_records([])
        self._cancel = threading.Event()
        levels = "all levels" if plan.levels is None else f"level {plan.levels[0]}"
        self._set_status(f"Benchmarking {levels} of {Path(plan.path).name}...")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("starting...")
        worker = create_worker(
            run_until_cancelled,
            plan,
            self._cancel,
            _start_thread=False,
            _connect={
                "yielded": self._on_progress,
                "returned": self._on_returned,
                "errored": self._on_error,
                "finished": self._on_finished,
            },
        )
        self._live_runs.append(self._cancel)
        self.worker = worker
        self._set_running(True)
        hold_full_collections()
        worker.start()
        return worker

    def cancel(self) -> None:
        """Stop at the engine's next progress event (within ~0.2 s), cleanup included."""
        if self.worker is None:
            return
        self._cancel.set()
        self.cancel_button.enabled = False
        self.progress.setFormat("cancelling...")
        self._set_status("Cancelling...")

    def _on_progress(self, progress) -> None:
        self._started = True
        total = max(1, int(progress.total))
        # QProgressBar.setValue repaints at once; with updates off it is painted with the next frame.
        self.progress.setUpdatesEnabled(False)
        self.progress.setRange(0, total)
        self.progress.setValue(min(int(progress.done), total))
        self.progress.setFormat(f"%p%   {progress.done}/{progress.total}   {format_eta(progress.eta_s)}")
        self.progress.setUpdatesEnabled(True)
        if progress.message:
            self.status.setText(progress.message)
        if progress.record is not None:
            self.records.append(progress.record)
            self._latest = progress.record
            # Records can finish in bursts: redraw once for a burst (the GIL is busy with the run).
            if not self._views_timer.isActive():
                self._views_timer.start()

    def _refresh_views(self) -> None:
        # The overlay waits for the end: each napari layer update costs the event loop ~50 ms.
        self.table.set_records(self.records)
        self.charts.update_records(self.records, timeline_record=self._latest)

    def _on_returned(self, result) -> None:
        if result is None:
            self._set_status(f"Cancelled after {len(self.records)} records." + self._notes_text())
            return
        self._views_timer.stop()
        self.result = result
        self.records = list(result.records)
        self.notes = list(dict.fromkeys([*self.notes, *result.notes]))
        self.summary = engine.summary(result)
        best = self.summary.get("best") if self.summary else None
        if best is None:
            best = best_record(self.records)
        self._set_status(self._summary_text(best) + self._notes_text())
        self.table.set_records(self.records, best)
        row = self.table.best_row()
        if row is not None:  # scrolled to, not selected: a selection would hide its highlight
            self.table.scrollToItem(self.table.item(row, 0))
        # Both are drawn in background threads and shown when ready; the overlay after the chart,
        # so that the two updates of the GUI do not land in the same moment.
        self.charts.update_records(self.records, best)
        if best is not None:
            self._overlay_target = best
            self._overlay_after_charts()

    def _overlay_after_charts(self) -> None:
        if self.charts.busy:
            QTimer.singleShot(50, self._overlay_after_charts)
        else:
            self._refresh_overlay()

    def _on_error(self, exc: BaseException) -> None:
        from napari.utils.notifications import show_error

        self.error = str(exc)
        what = "Error" if self._started else "Not started"
        self._set_status(f"{what}: {exc}", error=True)
        show_error(f"Benchmark {what.lower()}: {exc}")

    def _on_finished(self) -> None:
        if self.result is None and self._views_timer.isActive():  # cancelled or failed: show what finished
            self._views_timer.stop()
            self._refresh_views()
        self.worker = None
        self._running_plan = None
        self._live_runs.clear()
        release_full_collections()
        self._set_running(False)
        if self.error is not None:
            self.progress.setFormat("failed" if self._started else "not started")
        elif self.result is None:
            self.progress.setFormat("cancelled")
        else:
            self.progress.setValue(self.progress.maximum())
            self.progress.setFormat("done")

    def _refuse(self, reason: str) -> None:
        from napari.utils.notifications import show_error

        self.error = reason
        self._ready = False
        self._set_status(f"Not started: {reason}", error=True)
        show_error(f"Benchmark not started: {reason}")

    # -- text --
    def ready_text(self) -> str:
        """What pressing Benchmark level would do, or how to get a slide to benchmark."""
        if self.layer_combo.value is None:
            return "Open a slide (File > Open, or File > Open Sample > napari WSI IO) to benchmark it."
        choice = self.level_combo.value
        if choice == ALL:
            return "Press Benchmark level to time all levels."
        if choice == SCREEN:
            return f"Press Benchmark level to time level {self.screen_level()}, the level on screen."
        return f"Press Benchmark level to time level {choice}."

    def _show_ready(self, *_) -> None:
        """Keep the status on what a click would do until the first run or refusal replaces it."""
        if self._ready and hasattr(self, "status"):  # the combo boxes change before the status exists
            self._set_status(self.ready_text())

    def _summary_text(self, best) -> str:
        if best is None:
            return f"Done: {len(self.records)} records."
        text = f"Done: {len(self.records)} records. Fastest on level {best.level}: {best.label}, {best.mpix_per_s:.1f} MP/s"
        frac = best.fraction_of_limit
        if frac is not None:
            text += f", {100 * frac:.0f}% of the decode limit"
        speedup = (self.summary or {}).get("speedup_vs_openslide")
        if speedup:
            text += f", {speedup:.2f}x OpenSlide"
        return text + "."

    def _notes_text(self) -> str:
        return "".join(f"\nNote: {n}" for n in self.notes)

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {_error_color(self.viewer.theme)};" if error else "")

    def _set_running(self, running: bool) -> None:
        self.run_level_button.enabled = not running
        self.run_all_button.enabled = not running
        self.cancel_button.enabled = running
        self.controls.enabled = not running
        has_result = self.result is not None and not running
        self.save_results_button.enabled = has_result
        self.save_charts_button.enabled = bool(self.records) and not running

    # -- overlay --
    def _on_record_selected(self, record) -> None:
        self.charts.show_timeline(record)
        self._show_overlay(record)

    def _show_overlay(self, record) -> None:
        self._overlay_target = record
        self._refresh_overlay()

    def _refresh_overlay(self, *_) -> None:
        """Paint the chunks of ``_overlay_target`` off the GUI thread; ``_overlay_ready`` shows them."""
        record = self._overlay_target
        layer = self.layer_combo.value
        if not self.show_overlay.value:
            if self.overlay_layer is not None and self.overlay_layer in self.viewer.layers:
                self.overlay_layer.visible = False
            return
        if record is None or layer is None or not record.tasks:
            return
        shape = level_shapes(layer)[record.level]
        self._overlay_job.submit(_paint_chunks, record, shape, self.color_by.value, layer)

    def _overlay_ready(self, result) -> None:
        record, rgba, factor, color_by, layer = result
        if layer not in self.viewer.layers or not self.show_overlay.value:
            self._overlay_target = None  # nothing to show it on
            return
        self.overlay_layer = ensure_overlay(self.viewer, layer, self.overlay_layer)
        show_raster(self.overlay_layer, layer, record, rgba, factor, color_by)
        self.overlay_layer.visible = True
        self._overlay_shown = (record, color_by)

    @property
    def busy(self) -> bool:
        """A run, a chart render or an overlay painting is under way."""
        return (
            self.worker is not None
            or self.charts.busy
            or self._overlay_job.busy
            or self._views_timer.isActive()
            or self._overlay_pending()
        )

    def _overlay_pending(self) -> bool:
        """The overlay still has to show its target record."""
        target = self._overlay_target
        if target is None or not target.tasks or not self.show_overlay.value or self.layer_combo.value is None:
            return False
        shown_record, shown_color = self._overlay_shown
        return shown_record is not target or shown_color != self.color_by.value

    # -- files --
    def save_results(self, path: str | os.PathLike) -> Path:
        """The last complete run as JSON, or CSV when ``path`` ends in .csv."""
        if self.result is None:
            raise ValueError("no finished benchmark to save")
        path = Path(path)
        if path.suffix.lower() == ".csv":
            engine.save_csv(self.result, path)
        else:
            engine.save_json(self.result, path)
        return path

    def save_charts(self, path: str | os.PathLike) -> Path:
        return self.charts.save_png(path)

    def _ask_save_results(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save benchmark results", "benchmark.json", "JSON (*.json);;CSV (*.csv)"
        )
        if path:
            try:
                saved = self.save_results(path)
            except (OSError, ValueError) as exc:
                self._set_status(f"Could not save results: {exc}", error=True)
                return
            self._set_status(f"Results saved to {saved}")

    def _ask_save_charts(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save benchmark charts", "benchmark.png", "PNG (*.png)")
        if path:
            try:
                saved = self.save_charts(path)
            except (OSError, ValueError) as exc:
                self._set_status(f"Could not save charts: {exc}", error=True)
                return
            self._set_status(f"Charts saved to {saved}")

    def open_export(self):
        """Dock the OME-Zarr export widget (once); returns it, or None when it is not available."""
        from napari.utils.notifications import show_error

        try:
            if importlib.util.find_spec("napari_wsi_io._qt.export_widget") is None:
                raise ModuleNotFoundError("napari_wsi_io._qt.export_widget is not part of this installation")
            _, widget = self.viewer.window.add_plugin_dock_widget(PLUGIN, EXPORT_WIDGET)
        except Exception as exc:  # an optional dock must not break this one
            message = f"OME-Zarr export is not available: {exc}"
            self._set_status(message, error=True)
            show_error(message)
            return None
        return widget

    # -- theme --
    def _on_theme(self, *_) -> None:
        self._colors = ThemeColors.from_napari(self.viewer.theme)
        self.charts.set_colors(self._colors)
        self.table.highlight = self._colors.highlight
        self.table.set_records(self.records, self.table.best)


def _camera(viewer):
    """``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before."""
    scene = getattr(viewer, "scene", None)
    return viewer.camera if scene is None else scene.camera


def _error_color(theme_id: str) -> str:
    from napari.utils.theme import get_theme

    theme = get_theme(theme_id)
    return theme.warning.as_hex() if theme.type == "dark" else theme.error.as_hex()


def _set_all(events: list[threading.Event], *_) -> None:
    for event in events:
        event.set()


def _disconnect_viewer(viewer, on_layers, on_theme, on_zoom, *_) -> None:
    for emitter in (viewer.layers.events.inserted, viewer.layers.events.removed, viewer.layers.events.reordered):
        emitter.disconnect(on_layers)
    viewer.events.theme.disconnect(on_theme)
    _camera(viewer).events.zoom.disconnect(on_zoom)


def _paint_chunks(record, level_shape: tuple[int, int], color_by: str, layer) -> tuple:
    """Runs off the GUI thread: the RGBA raster of ``record``'s chunks."""
    rgba, factor = chunk_raster(record.tasks, level_shape, color_by)
    return record, rgba, factor, color_by, layer
