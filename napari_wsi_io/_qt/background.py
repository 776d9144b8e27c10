"""Work the GUI thread must not do while a benchmark runs: rendering charts, painting the overlay.

On two busy cores one matplotlib draw takes 50-200 ms, more than the 100 ms the
event loop may stall.  ``LatestOnly`` runs such a function in a thread and hands
the result back on the GUI thread.  Requests that arrive while one runs replace
each other: only the newest is worth computing, and every result is shown until
the next one arrives.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable

from qtpy.QtCore import QObject, Signal

__all__ = ["LatestOnly", "lower_thread_priority"]

RENDER_NICENESS = 10


def lower_thread_priority(increment: int) -> None:
    """Make the calling thread, and the threads and processes it starts, yield the CPU to napari.

    Linux schedules threads one by one, so the GUI thread keeps its priority; elsewhere
    the call would lower the whole process, so it does nothing.  Raising niceness
    cannot be undone without privileges: only for threads that end with their work.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))


class LatestOnly(QObject):
    """Runs ``func(*args)`` off the GUI thread; ``on_result(result)`` or ``on_error(exc)`` run on the GUI thread."""

    _finished = Signal(object, object)  # (result, exception)

    def __init__(
        self,
        on_result: Callable[[object], None],
        on_error: Callable[[BaseException], None] | None = None,
        name: str = "napari-wsi-io-render",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._on_result, self._on_error, self._name = on_result, on_error, name
        self._pending: tuple | None = None
        self._thread: threading.Thread | None = None
        self._finished.connect(self._deliver)

    @property
    def busy(self) -> bool:
        return self._thread is not None or self._pending is not None

    def submit(self, func: Callable, *args) -> None:
        self._pending = (func, args)
        if self._thread is None:
            self._start_next()

    def _start_next(self) -> None:
        func, args = self._pending
        self._pending = None
        self._thread = threading.Thread(target=self._run, args=(func, args), name=self._name, daemon=True)
        self._thread.start()

    def _run(self, func: Callable, args: tuple) -> None:
        lower_thread_priority(RENDER_NICENESS)
        try:
            result, error = func(*args), None
        except Exception as exc:  # shown by on_error on the GUI thread
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the widget was deleted meanwhile
            self._finished.emit(result, error)

    def _deliver(self, result, error) -> None:
        self._thread = None
        if self._pending is not None:  # start the newer request first; this result is shown meanwhile
            self._start_next()
        if error is None:
            self._on_result(result)
        elif self._on_error is not None:
            self._on_error(error)
        else:
            raise error
