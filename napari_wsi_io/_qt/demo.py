"""The window ``napari-wsi-io demo`` opens: the slide fitted to a screen-sized canvas, the dock beside it.

napari opens at its saved or default size (1089x633 px on a first run), where the
benchmark dock would leave the slide a strip of canvas; the demo uses the screen.
"""

from __future__ import annotations

import signal
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import QDockWidget

__all__ = ["REFIT_MS", "closed_by_sigint", "lay_out", "narrow_dock"]

# A window manager maximises the window some time after it is shown; refit the slide to the
# canvas while that settles, not later, when a resize comes from the user.
REFIT_MS = 3000


def lay_out(viewer, dock: QDockWidget) -> None:
    """Size the window to the screen, give the dock a sensible width and fit the slide to the canvas."""
    window = dock.window()
    window.setGeometry(window.screen().availableGeometry())  # without a window manager (Xvfb) maximising does nothing
    window.showMaximized()
    narrow_dock(dock)
    _Refit(viewer, window, parent=window)


def narrow_dock(dock: QDockWidget) -> None:
    """The dock at the width its controls ask for (it scrolls vertically): the rest of the window is canvas."""
    width = max(dock.sizeHint().width(), dock.minimumSizeHint().width())
    dock.window().resizeDocks([dock], [width], Qt.Orientation.Horizontal)


class _Refit(QObject):
    """Fit the view after the window's resizes of the first ``REFIT_MS`` milliseconds."""

    def __init__(self, viewer, window, parent) -> None:
        super().__init__(parent)
        self._window = window
        self._viewer = weakref.ref(viewer)  # a closed viewer must not be kept alive by its window's filter
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._fit)
        window.installEventFilter(self)
        QTimer.singleShot(REFIT_MS, self._stop)
        self._timer.start()

    def eventFilter(self, obj, event) -> bool:
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Show, QEvent.Type.WindowStateChange):
            self._timer.start()
        return False

    def _fit(self) -> None:
        viewer = self._viewer()
        if viewer is not None:
            viewer.reset_view()

    def _stop(self) -> None:
        with suppress(RuntimeError):  # the window, and this with it, may be gone by now
            self._window.removeEventFilter(self)


@contextmanager
def closed_by_sigint(viewer, window) -> Iterator[list[bool]]:
    """While inside, Ctrl-C in the terminal closes the viewer; the list yielded becomes ``[True]`` when it did.

    Qt's event loop runs in C++ and Python handles signals only between bytecodes, so a
    timer wakes the interpreter a few times a second; the handler defers the closing to
    the event loop, where closing a window is safe.  The previous handler is put back on
    the way out (the handler holds the viewer).
    """
    interrupted: list[bool] = []
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:  # started in the background: Ctrl-C is not for us
        yield interrupted
        return

    def handler(signum, frame) -> None:
        if not interrupted:
            interrupted.append(True)
            QTimer.singleShot(0, viewer.close)

    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(200)
    signal.signal(signal.SIGINT, handler)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
        with suppress(RuntimeError):  # the window, the timer's parent, may be gone
            wake.stop()
