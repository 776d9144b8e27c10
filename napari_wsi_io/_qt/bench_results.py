"""What a benchmark run measured, shown three ways: the results table, the charts, the chunks on the slide.

Charts and the chunk overlay are drawn off the GUI thread (``LatestOnly``) and shown
when ready, so that a run never holds up napari's event loop for long.
"""

from __future__ import annotations

import os
from pathlib import Path

from qtpy.QtCore import QObject, QTimer

from .. import bench
from .background import LatestOnly
from .bench_form import BenchForm
from .charts import ChartTabs, ThemeColors
from .overlay import chunk_raster, ensure_overlay, level_shapes, show_raster
from .results_table import ResultsTable, best_record

__all__ = ["BenchResults"]


class BenchResults(QObject):
    """The records of the current run in the table and the charts; a chosen record's chunks over the slide.

    ``form`` says which slide layer the overlay goes on, whether to show it and how to colour it.
    """

    def __init__(self, viewer, form: BenchForm, colors: ThemeColors, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.form = form
        self.records: list = []
        self.result = None
        self.summary: dict | None = None
        self.notes: list[str] = []
        self.table = ResultsTable(highlight=colors.highlight)
        self.charts = ChartTabs(colors)
        self.table.record_selected.connect(self._on_record_selected)
        self._latest = None  # the newest record, whose timeline the charts show during a run
        self._views_timer = QTimer(self)
        self._views_timer.setSingleShot(True)
        self._views_timer.setInterval(300)
        self._views_timer.timeout.connect(self._refresh_views)
        self.overlay_layer = None
        self._overlay_target = None  # the record whose chunks the overlay is to show
        self._overlay_shown: tuple = (None, None)  # (record, colour by) on the overlay layer
        self._overlay_job = LatestOnly(self._overlay_ready, name="wsi-overlay", parent=self)
        form.show_overlay.changed.connect(self.refresh_overlay)
        form.color_by.changed.connect(self.refresh_overlay)

    @property
    def busy(self) -> bool:
        """A chart render or an overlay painting is under way, or records wait to be shown."""
        return self.charts.busy or self._overlay_job.busy or self._views_timer.isActive() or self._overlay_pending()

    # -- during a run --
    def clear(self) -> None:
        """Forget the last run and empty the table (the charts follow in ``clear_charts``)."""
        self.records, self.result, self.summary, self.notes = [], None, None, []
        self.table.set_records([])

    def prepare_overlay(self) -> bool:
        """Add the overlay layer if it is missing, on the turn between the click and the engine's start;
        True if it was added (napari is to draw it before the engine starts).

        Adding a layer costs napari 45-100 ms of CPU and then a frame: in the click it would delay the
        click's answer, mid-run it would compete with the engine.
        """
        layer = self.form.layer_combo.value
        if not self.form.show_overlay.value or layer is None:
            return False
        before = self.overlay_layer
        self.overlay_layer = ensure_overlay(self.viewer, layer, self.overlay_layer)
        return self.overlay_layer is not before

    def clear_charts(self) -> None:
        """Empty the charts as the engine starts: their render thread would compete with the overlay's add."""
        self.charts.update_records([])

    def add_progress(self, progress) -> None:
        if progress.record is None:
            return
        self.records.append(progress.record)
        self._latest = progress.record
        # Records can finish in bursts: redraw once for a burst (the GIL is busy with the run).
        if not self._views_timer.isActive():
            self._views_timer.start()

    def _refresh_views(self) -> None:
        # The overlay waits for the end: each napari layer update costs the event loop ~50 ms.
        self.table.set_records(self.records)
        self.charts.update_records(self.records, timeline_record=self._latest)

    def show_unfinished(self) -> None:
        """After a cancelled or failed run: show the records that finished."""
        if self._views_timer.isActive():
            self._views_timer.stop()
            self._refresh_views()

    # -- at the end --
    def show_result(self, result) -> None:
        """The whole run: every record in the table and the charts, the fastest one's chunks on the slide."""
        self._views_timer.stop()
        self.result = result
        self.records = list(result.records)
        self.notes = list(dict.fromkeys([*self.notes, *result.notes]))
        self.summary = bench.summary(result)
        best = self.best()
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

    def best(self):
        """The fastest record of the finished run (the engine's pick, else the highest MP/s), or None."""
        best = self.summary.get("best") if self.summary else None
        return best if best is not None else best_record(self.records)

    def summary_text(self) -> str:
        best = self.best()
        if best is None:
            return f"Done: {len(self.records)} records."
        text = f"Done: {len(self.records)} records. Fastest on level {best.level}: {best.label}, {best.mpix_per_s:.1f} MP/s"
        if best.mb_per_s:
            text += f" ({best.mb_per_s:.0f} MB/s)"
        frac = best.fraction_of_limit
        if frac is not None:
            text += f", {100 * frac:.0f}% of the decode limit"
        speedup = (self.summary or {}).get("speedup_vs_openslide")
        if speedup:
            text += f", {speedup:.2f}x OpenSlide"
        return text + "."

    def notes_text(self) -> str:
        return "".join(f"\nNote: {n}" for n in self.notes)

    # -- the overlay --
    def _overlay_after_charts(self) -> None:
        if self.charts.busy:
            QTimer.singleShot(50, self._overlay_after_charts)
        else:
            self.refresh_overlay()

    def _on_record_selected(self, record) -> None:
        self.charts.show_timeline(record)
        self._overlay_target = record
        self.refresh_overlay()

    def refresh_overlay(self, *_) -> None:
        """Paint the chunks of ``_overlay_target`` off the GUI thread; ``_overlay_ready`` shows them."""
        record = self._overlay_target
        layer = self.form.layer_combo.value
        if not self.form.show_overlay.value:
            if self.overlay_layer is not None and self.overlay_layer in self.viewer.layers:
                self.overlay_layer.visible = False
            return
        if record is None or layer is None or not record.tasks:
            return
        shape = level_shapes(layer)[record.level]
        self._overlay_job.submit(_paint_chunks, record, shape, self.form.color_by.value, layer)

    def _overlay_ready(self, result) -> None:
        record, rgba, factor, color_by, layer = result
        if layer not in self.viewer.layers or not self.form.show_overlay.value:
            self._overlay_target = None  # nothing to show it on
            return
        self.overlay_layer = ensure_overlay(self.viewer, layer, self.overlay_layer)
        show_raster(self.overlay_layer, layer, record, rgba, factor, color_by)
        self.overlay_layer.visible = True
        self._overlay_shown = (record, color_by)

    def _overlay_pending(self) -> bool:
        """The overlay still has to show its target record."""
        target, form = self._overlay_target, self.form
        if target is None or not target.tasks or not form.show_overlay.value or form.layer_combo.value is None:
            return False
        shown_record, shown_color = self._overlay_shown
        return shown_record is not target or shown_color != form.color_by.value

    # -- theme and files --
    def set_colors(self, colors: ThemeColors) -> None:
        self.charts.set_colors(colors)
        self.table.highlight = colors.highlight
        self.table.set_records(self.records, self.table.best)

    def save_results(self, path: str | os.PathLike) -> Path:
        """The last complete run as JSON, or CSV when ``path`` ends in .csv."""
        if self.result is None:
            raise ValueError("no finished benchmark to save")
        path = Path(path)
        if path.suffix.lower() == ".csv":
            bench.save_csv(self.result, path)
        else:
            bench.save_json(self.result, path)
        return path


def _paint_chunks(record, level_shape: tuple[int, int], color_by: str, layer) -> tuple:
    """Runs off the GUI thread: the RGBA raster of ``record``'s chunks."""
    rgba, factor = chunk_raster(record.tasks, level_shape, color_by)
    return record, rgba, factor, color_by, layer
