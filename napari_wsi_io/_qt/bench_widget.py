"""The "WSI benchmark" dock: how fast the level on screen loads, measured next to the slide.

Three parts, each in a module of its own: the form (``bench_form``: which slide, level,
backends... and the plan they describe), the run control (``bench_run``: the buttons,
the progress bar and the worker that runs the Qt-free engine) and the results
(``bench_results``: table, charts, chunk overlay).  The dock lays them out, says in its
status line what happens, and follows the viewer (layers, zoom, theme).
"""

from __future__ import annotations

import importlib.util
import os
from functools import partial
from pathlib import Path

from magicgui.widgets import Container, PushButton
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QFileDialog, QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from .bench_form import BenchForm
from .bench_results import BenchResults
from .bench_run import RunControl
from .charts import ThemeColors

__all__ = ["BenchmarkWidget"]

PLUGIN = "napari-wsi-io"
EXPORT_WIDGET = "Export to OME-Zarr"


class BenchmarkWidget(QWidget):
    """Benchmark a slide level from napari; napari passes the viewer as ``napari_viewer``.

    Its parts are ``form``, ``run_control`` and ``results``; their controls, buttons,
    progress bar, table and charts are attributes of the dock too (``widget.level_combo``,
    ``widget.run_level_button``...), as scripts and tests use them.
    """

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.error: str | None = None
        self._ready = True  # the status says what Benchmark level would do, until a run or a refusal
        self.form = BenchForm(napari_viewer)
        self.run_control = RunControl(self)
        self.results = BenchResults(napari_viewer, self.form, ThemeColors.from_napari(napari_viewer.theme), self)
        self._expose_parts()
        self._build_file_buttons()
        self._build_layout()
        self._connect_parts()
        self._connect_viewer()
        self._set_running(False)
        self._show_ready()

    # -- construction --
    def _expose_parts(self) -> None:
        form, run, results = self.form, self.run_control, self.results
        self.layer_combo = form.layer_combo
        self.level_combo = form.level_combo
        self.backends = form.backends
        self.strategies = form.strategies
        self.chunkings = form.chunkings
        self.chunk_size = form.chunk_size
        self.workers = form.workers
        self.sink = form.sink
        self.repeats = form.repeats
        self.show_overlay = form.show_overlay
        self.color_by = form.color_by
        self.build_plan = form.build_plan
        self.run_level_button = run.run_level_button
        self.run_all_button = run.run_all_button
        self.cancel_button = run.cancel_button
        self.progress = run.progress
        self.table = results.table
        self.charts = results.charts

    def _build_file_buttons(self) -> None:
        self.save_results_button = PushButton(text="Save results...")
        self.save_charts_button = PushButton(text="Save charts...")
        self.export_button = PushButton(text="Export to OME-Zarr...")
        self.file_buttons = Container(
            widgets=[self.save_results_button, self.save_charts_button, self.export_button],
            layout="horizontal",
            labels=False,
        )
        self.file_buttons.margins = (0, 0, 0, 0)
        self.save_results_button.changed.connect(self._ask_save_results)
        self.save_charts_button.changed.connect(self._ask_save_charts)
        self.export_button.changed.connect(self.open_export)

    def _build_layout(self) -> None:
        self.status = QLabel()
        self.status.setWordWrap(True)
        # Word-wrapped labels get one line in a crowded layout unless told otherwise.
        self.status.setMinimumHeight(3 * self.status.fontMetrics().lineSpacing())
        self.status.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.form.native)
        layout.addWidget(self.run_control.buttons.native)
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

    def _connect_parts(self) -> None:
        self.run_level_button.changed.connect(lambda: self.run_benchmark(all_levels=False))
        self.run_all_button.changed.connect(lambda: self.run_benchmark(all_levels=True))
        self.cancel_button.changed.connect(self.cancel)
        self.level_combo.changed.connect(self._show_ready)
        self.run_control.starting.connect(self._prepare_run)
        self.run_control.engine_starting.connect(self.results.clear_charts)
        self.run_control.progressed.connect(self._on_progress)
        self.run_control.returned.connect(self._on_returned)
        self.run_control.failed.connect(self._on_error)
        self.run_control.finished.connect(self._on_finished)

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

    # -- the state of the last run --
    @property
    def worker(self):
        """The napari worker of the run under way, or None."""
        return self.run_control.worker

    @property
    def records(self) -> list:
        return self.results.records

    @property
    def result(self):
        """The ``BenchResult`` of the last complete run, or None."""
        return self.results.result

    @property
    def summary(self) -> dict | None:
        return self.results.summary

    @property
    def busy(self) -> bool:
        """A run, a chart render or an overlay painting is under way."""
        return self.run_control.worker is not None or self.results.busy

    # -- following the viewer --
    def screen_level(self) -> int | None:
        return self.form.screen_level()

    def _refresh_screen_level_label(self) -> None:
        self.form.refresh_screen_level_label()
        self._show_ready()

    def _on_zoom(self, *_) -> None:
        self._screen_level_timer.start()

    def _prepare_run(self) -> None:
        if self.results.prepare_overlay():
            self.run_control.draw_first()

    def _on_layers_changed(self, event=None) -> None:
        self.form.refresh_layers()
        self._show_ready()

    def _on_theme(self, *_) -> None:
        self.results.set_colors(ThemeColors.from_napari(self.viewer.theme))

    # -- running --
    def run_benchmark(self, all_levels: bool = False):
        """Run the plan of the controls in a worker thread; returns the worker (None if refused).

        The engine checks the plan (opening the slide with each backend, memory for the
        ``assemble`` sink) before it measures anything; that happens in the worker too,
        because opening a slide on a slow disk must not freeze napari.  A plan it refuses
        ends the worker with the reason before any progress: shown as "Not started".
        """
        if self.run_control.worker is not None:
            return None
        try:
            plan = self.form.build_plan(all_levels)
        except ValueError as exc:
            self._refuse(str(exc))
            return None
        self.error = None
        self._ready = False
        self.results.clear()
        levels = "all levels" if plan.levels is None else f"level {plan.levels[0]}"
        self._set_status(f"Benchmarking {levels} of {Path(plan.path).name}...")
        self._set_running(True)
        return self.run_control.start(plan)

    def cancel(self) -> None:
        """Stop at the engine's next progress event (within ~0.2 s), cleanup included."""
        if self.run_control.worker is not None:
            self.run_control.cancel()
            self._set_status("Cancelling...")

    def _on_progress(self, progress) -> None:
        if progress.message:
            self.status.setText(progress.message)
        self.results.add_progress(progress)

    def _on_returned(self, result) -> None:
        if result is None:
            self._set_status(f"Cancelled after {len(self.records)} records." + self.results.notes_text())
            return
        self.results.show_result(result)
        self._set_status(self.results.summary_text() + self.results.notes_text())

    def _on_error(self, exc: BaseException) -> None:
        from napari.utils.notifications import show_error

        self.error = str(exc)
        what = "Error" if self.run_control.started else "Not started"
        self._set_status(f"{what}: {exc}", error=True)
        show_error(f"Benchmark {what.lower()}: {exc}")

    def _on_finished(self) -> None:
        if self.result is None:
            self.results.show_unfinished()
        self._set_running(False)

    def _refuse(self, reason: str) -> None:
        from napari.utils.notifications import show_error

        self.error = reason
        self._ready = False
        self._set_status(f"Not started: {reason}", error=True)
        show_error(f"Benchmark not started: {reason}")

    def _set_running(self, running: bool) -> None:
        self.form.enabled = not running
        self.save_results_button.enabled = self.result is not None and not running
        self.save_charts_button.enabled = bool(self.records) and not running

    # -- the status line --
    def ready_text(self) -> str:
        """What pressing Benchmark level would do, or how to get a slide to benchmark."""
        return self.form.ready_text()

    def _show_ready(self, *_) -> None:
        """Keep the status on what a click would do until the first run or refusal replaces it."""
        if self._ready:
            self._set_status(self.ready_text())

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {_error_color(self.viewer.theme)};" if error else "")

    # -- files --
    def save_results(self, path: str | os.PathLike) -> Path:
        """The last complete run as JSON, or CSV when ``path`` ends in .csv."""
        return self.results.save_results(path)

    def save_charts(self, path: str | os.PathLike) -> Path:
        return self.charts.save_png(path)

    def _ask_save_results(self) -> None:
        self._ask_save("results", "benchmark.json", "JSON (*.json);;CSV (*.csv)", self.save_results)

    def _ask_save_charts(self) -> None:
        self._ask_save("charts", "benchmark.png", "PNG (*.png)", self.save_charts)

    def _ask_save(self, what: str, name: str, formats: str, save) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Save benchmark {what}", name, formats)
        if not path:
            return
        try:
            saved = save(path)
        except (OSError, ValueError) as exc:
            self._set_status(f"Could not save {what}: {exc}", error=True)
            return
        self._set_status(f"{what.capitalize()} saved to {saved}")

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


def _camera(viewer):
    """``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before."""
    scene = getattr(viewer, "scene", None)
    return viewer.camera if scene is None else scene.camera


def _error_color(theme_id: str) -> str:
    from napari.utils.theme import get_theme

    theme = get_theme(theme_id)
    return theme.warning.as_hex() if theme.type == "dark" else theme.error.as_hex()


def _disconnect_viewer(viewer, on_layers, on_theme, on_zoom, *_) -> None:
    for emitter in (viewer.layers.events.inserted, viewer.layers.events.removed, viewer.layers.events.reordered):
        emitter.disconnect(on_layers)
    viewer.events.theme.disconnect(on_theme)
    _camera(viewer).events.zoom.disconnect(on_zoom)
