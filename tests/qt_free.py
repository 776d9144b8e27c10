"""Run code in a fresh interpreter and fail if it loaded Qt: what a script that never opens napari's GUI does."""

from __future__ import annotations

import subprocess
import sys

QT_MODULES = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6")


def run_without_qt(code: str, also: tuple[str, ...] = ("magicgui",)) -> str:
    """Run ``code`` (statements); fail if it imported Qt, napari's Qt part or a top-level module in ``also``.

    Returns what ``code`` printed.
    """
    banned = QT_MODULES + also
    check = (
        f"{code}\nimport sys\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {banned!r} or m.startswith(('napari.qt', 'napari._qt'))]\n"
        "print('loaded:', bad)\nsys.exit(bool(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
