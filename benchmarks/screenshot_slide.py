"""Screenshot of napari showing the synthetic gigapixel sample, for the README.

xvfb-run -a -s "-screen 0 1920x1200x24" python benchmarks/screenshot_slide.py resources/slide.png
"""

from __future__ import annotations

import sys
import warnings

warnings.filterwarnings("ignore", message="napari support for the PyQt5 backend")
import napari  # noqa: E402
from napari._qt.dialogs.qt_notification import NapariQtNotification  # noqa: E402
from qtpy.QtWidgets import QApplication  # noqa: E402

from napari_wsi_io.synthetic import sample_slide_path  # noqa: E402


def main(out: str) -> None:
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    layers = viewer.open(str(sample_slide_path()), plugin="napari-wsi-io")
    _, associated = viewer.window.add_plugin_dock_widget("napari-wsi-io", "Associated images")
    associated.image.value = "label"
    associated.open()  # the label over the slide's top-left corner
    viewer.layers.selection.active = layers[0]
    for _ in range(20):
        QApplication.processEvents()
    viewer.reset_view()  # once the dock has taken its width from the canvas
    for _ in range(50):
        QApplication.processEvents()
    # napari's own start-up toasts (e.g. the PyQt5 deprecation) would cover the slide.
    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
    QApplication.processEvents()
    viewer.screenshot(out, canvas_only=False, flash=False)
    print(f"{out}: {layers[0].name}, backend {layers[0].metadata['backend']}")
    viewer.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "resources/slide.png")
