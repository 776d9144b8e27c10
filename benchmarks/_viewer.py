"""Qt event-loop helpers shared by the benchmark scripts that drive a napari viewer."""

from __future__ import annotations


def run_event_loop(seconds: float) -> None:
    """Let the viewer run (draw, load, prefetch) for ``seconds``: a nested loop, not a busy wait."""
    from qtpy.QtCore import QEventLoop, QTimer

    if seconds <= 0:
        return
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec_()
