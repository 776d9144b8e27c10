"""Every benchmarked configuration in a sortable table; the best one highlighted."""

from __future__ import annotations

from collections.abc import Sequence

from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QBrush, QColor, QFont
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from ..bench.records import best_record, openslide_speedups

__all__ = ["COLUMNS", "ResultsTable", "best_record", "openslide_speedups"]

COLUMNS = (
    "backend",
    "strategy",
    "chunk",
    "workers",
    "level",
    "size",
    "seconds",
    "MP/s",
    "MB/s",
    "% of limit",
    "vs OpenSlide",
    "peak RSS MB",
    "repeat",
    "max diff",
)
_SORT_KEY = Qt.UserRole + 1
_RECORD_INDEX = Qt.UserRole + 2


class _Item(QTableWidgetItem):
    """Sorts by a number when it has one, not by the displayed text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a, b = self.data(_SORT_KEY), other.data(_SORT_KEY)
        if a is None or b is None:
            return super().__lt__(other)
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


def _cells(record, speedup: float | None) -> list[tuple[str, object]]:
    """(text, sort key) per column."""
    frac = record.fraction_of_limit
    return [
        (record.backend, record.backend),
        (record.strategy, record.strategy),
        (record.chunk, record.chunk),
        (str(record.workers), record.workers),
        (str(record.level), record.level),
        (f"{record.width} x {record.height}", record.width * record.height),
        (f"{record.seconds:.3f}", record.seconds),
        (f"{record.mpix_per_s:.1f}", record.mpix_per_s),
        ("" if record.mb_per_s is None else f"{record.mb_per_s:.0f}", record.mb_per_s or -1.0),
        ("" if frac is None else f"{100 * frac:.0f}%", -1.0 if frac is None else frac),
        ("" if speedup is None else f"{speedup:.2f}x", -1.0 if speedup is None else speedup),
        (f"{record.peak_rss_mb:.0f}", record.peak_rss_mb),
        (str(record.repeat), record.repeat),
        ("" if record.max_abs_diff is None else str(record.max_abs_diff), record.max_abs_diff),
    ]


class ResultsTable(QTableWidget):
    """Rows are records; ``record_selected`` says which one the user clicked."""

    record_selected = Signal(object)

    def __init__(self, highlight: str = "#4560c4", parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.setMinimumHeight(140)
        self.records: list = []
        self.best = None
        self.highlight = highlight
        self.itemSelectionChanged.connect(self._on_selection)

    def set_records(self, records: Sequence, best=None) -> None:
        """Show ``records``; ``best`` (default: highest MP/s) is highlighted.

        While a run goes on the list only grows: rows already shown are kept and only
        their speed-up and highlight change, so an update costs little on the GUI thread.
        """
        records = list(records)
        known = len(self.records)
        grows = len(records) >= known and all(a is b for a, b in zip(records, self.records))
        self.blockSignals(True)
        self.setSortingEnabled(False)
        if not grows:
            self.setRowCount(0)
            known = 0
        self.records = records
        self.setRowCount(len(records))
        speedups = openslide_speedups(records)
        for index in range(known, len(records)):  # unsorted: new rows come last, in order
            for col, (text, key) in enumerate(_cells(records[index], speedups[index])):
                item = _Item(text)
                item.setData(_SORT_KEY, key)
                item.setData(_RECORD_INDEX, index)
                if col >= 3:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.setItem(index, col, item)
        speedup_col = COLUMNS.index("vs OpenSlide")
        previous, self.best = self.best, best if best is not None else best_record(records)
        for row in range(len(records)):
            index = self.item(row, 0).data(_RECORD_INDEX)
            text, key = _cells(records[index], speedups[index])[speedup_col]
            self.item(row, speedup_col).setText(text)
            self.item(row, speedup_col).setData(_SORT_KEY, key)
            record = records[index]
            if record is self.best or (record is previous and grows):
                self._style_row(row, record is self.best)
        self.setSortingEnabled(True)
        self.blockSignals(False)

    def _style_row(self, row: int, best: bool) -> None:
        font = QFont(self.font())
        font.setBold(best)
        brush = QBrush(QColor(self.highlight)) if best else QBrush()
        for col in range(self.columnCount()):
            item = self.item(row, col)
            item.setBackground(brush)
            item.setFont(font)
            item.setToolTip("fastest configuration" if best else "")

    def record_at(self, row: int):
        item = self.item(row, 0)
        return None if item is None else self.records[item.data(_RECORD_INDEX)]

    def best_row(self) -> int | None:
        """The table row (after any sorting) of the highlighted record."""
        for row in range(self.rowCount()):
            if self.best is not None and self.record_at(row) is self.best:
                return row
        return None

    def row_is_highlighted(self, row: int) -> bool:
        item = self.item(row, 0)
        return item is not None and item.font().bold()

    def _on_selection(self) -> None:
        rows = {index.row() for index in self.selectedIndexes()}
        if len(rows) == 1:
            record = self.record_at(rows.pop())
            if record is not None:
                self.record_selected.emit(record)
