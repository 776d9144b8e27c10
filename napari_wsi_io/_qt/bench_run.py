"""Starting, following and cancelling a benchmark run: its buttons, its progress bar and its worker.

The engine runs in napari's ``create_worker`` (see ``runner.run_until_cancelled``);
``RunControl`` turns the worker's events into signals the dock connects to.
"""

from __future__ import annotations

import threading
from functools import partial

from magicgui.widgets import Container, PushButton
from napari.qt.threading import create_worker
from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import QProgressBar

from .. import bench
from .runner import hold_full_collections, release_full_collections, run_until_cancelled

__all__ = ["FRAME_WAIT_MS", "RunControl", "format_eta"]

# The wait for the frame that shows a layer added in ``starting``: a frame under Xvfb's software GL takes
# 30-60 ms on a 960x640 window.  Drawn while the engine's threads start, the layer's turn (napari's add, then
# that frame) stalled the event loop 96-293 ms; drawn before, under 100 ms.
FRAME_WAIT_MS = 120


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA --"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"ETA {seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"ETA {minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours} h {minutes:02d} min"


class RunControl(QObject):
    """The Benchmark level / Benchmark all levels / Cancel buttons, the progress bar and the worker.

    Signals, all on the GUI thread:

    - ``starting``: the event-loop turn after the click, before the engine starts; the moment
      for slow GUI work that must neither hold up the click nor land mid-run.  A handler that
      changed what the canvas shows calls ``draw_first``: the engine then starts after napari's
      next frame has been drawn.
    - ``engine_starting``: just before the engine starts.
    - ``progressed(progress)``: each progress event of the engine.
    - ``returned(result)``: the ``BenchResult``, or None when cancelled.
    - ``failed(exception)``: what ended the run; before any progress, the engine refused the plan.
    - ``finished``: the run is over, its threads, processes and shared memory cleaned up.
    """

    starting = Signal()
    engine_starting = Signal()
    progressed = Signal(object)
    returned = Signal(object)
    failed = Signal(object)
    finished = Signal()

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.run_level_button = PushButton(text="Benchmark level")
        self.run_all_button = PushButton(text="Benchmark all levels")
        self.cancel_button = PushButton(text="Cancel")
        self.buttons = Container(
            widgets=[self.run_level_button, self.run_all_button, self.cancel_button], layout="horizontal", labels=False
        )
        self.buttons.margins = (0, 0, 0, 0)
        self.progress = QProgressBar()
        self._show_progress(0, 1, "idle")
        self.worker = None
        self.started = False  # a progress event arrived: the engine accepted the plan
        self._outcome = ""  # how the progress bar ends: done, cancelled, failed or not started
        self._cancel = threading.Event()
        # Deleting the dock (closing the viewer) cancels a run, which then cleans up in its thread.
        self._live_runs: list[threading.Event] = []
        self.destroyed.connect(partial(_set_all, self._live_runs))
        self._start_timer = QTimer(self)
        self._start_timer.setSingleShot(True)
        self._start_timer.setInterval(0)
        self._start_timer.timeout.connect(self._start_worker)
        self._engine_timer = QTimer(self)
        self._engine_timer.setSingleShot(True)
        self._engine_timer.setInterval(FRAME_WAIT_MS)
        self._engine_timer.timeout.connect(self._start_engine)
        self._draw_first = False
        self._set_running(False)

    def start(self, plan: bench.BenchPlan):
        """Set up a worker for ``plan``, started on the next event-loop turn; returns it."""
        self.started = False
        self._outcome = ""
        self._cancel = threading.Event()
        self._show_progress(0, 1, "starting...")
        self.worker = create_worker(
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
        self._set_running(True)
        self._start_timer.start()
        return self.worker

    def cancel(self) -> None:
        """Stop at the engine's next progress event (within ~0.2 s), cleanup included."""
        if self.worker is None:
            return
        self._cancel.set()
        self.cancel_button.enabled = False
        self.progress.setFormat("cancelling...")

    def draw_first(self) -> None:
        """From a ``starting`` handler: let napari draw what it changed before the engine starts."""
        self._draw_first = True

    def _start_worker(self) -> None:
        # Not in the click: the click returns at once, and what ``starting`` sets up is done
        # before the engine competes with the event loop for the CPU and the GIL.
        self._draw_first = False
        hold_full_collections()  # from here: a layer added in ``starting`` makes objects enough for a full collection
        self.starting.emit()
        if self._draw_first:
            self._engine_timer.start()
        else:
            self._start_engine()

    def _start_engine(self) -> None:
        self.engine_starting.emit()
        self.worker.start()

    def _show_progress(self, value: int, maximum: int, text: str) -> None:
        # QProgressBar.setValue repaints the window at once (the slide's canvas included); with
        # updates off the bar is painted with the next frame instead.
        self.progress.setUpdatesEnabled(False)
        self.progress.setRange(0, maximum)
        self.progress.setValue(value)
        self.progress.setFormat(text)
        self.progress.setUpdatesEnabled(True)

    def _on_progress(self, progress) -> None:
        self.started = True
        total = max(1, int(progress.total))
        text = f"%p%   {progress.done}/{progress.total}   {format_eta(progress.eta_s)}"
        self._show_progress(min(int(progress.done), total), total, text)
        self.progressed.emit(progress)

    def _on_returned(self, result) -> None:
        self._outcome = "cancelled" if result is None else "done"
        self.returned.emit(result)

    def _on_error(self, exc: BaseException) -> None:
        self._outcome = "failed" if self.started else "not started"
        self.failed.emit(exc)

    def _on_finished(self) -> None:
        self.worker = None
        self._live_runs.clear()
        release_full_collections()
        self._set_running(False)
        if self._outcome == "done":
            self.progress.setValue(self.progress.maximum())
        self.progress.setFormat(self._outcome or "cancelled")
        self.finished.emit()

    def _set_running(self, running: bool) -> None:
        self.run_level_button.enabled = not running
        self.run_all_button.enabled = not running
        self.cancel_button.enabled = running


def _set_all(events: list[threading.Event], *_) -> None:
    for event in events:
        event.set()
