"""An NDPI slide inside a real napari viewer: pixels on screen, a corrupt restart interval as a notification."""

import numpy as np
import tifffile

from napari_wsi_io.synthetic.ndpi import write_ndpi


def test_ndpi_shows_and_a_corrupt_interval_is_a_notification(make_napari_viewer, qtbot, tmp_path):
    from napari.utils.notifications import notification_manager

    path = write_ndpi(tmp_path / "slide.ndpi", (1024, 2048), tile_width=256, min_level_side=256)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        offset, count = page.dataoffsets[8 * 20 + 4], page.databytecounts[8 * 20 + 4]  # row 20, column 4
    with open(path, "r+b") as f:
        f.seek(offset + count // 2)
        f.write(b"\xff\xc4\x00\x00")
    viewer = make_napari_viewer(show=True)
    layer = viewer.open(str(path), plugin="napari-wsi-io")[0]
    assert layer.metadata["vendor"] == "hamamatsu" and layer.metadata["backend"] == "tifffile"
    mpp = layer.scale[0]
    viewer.camera.center = (164 * mpp, 1100 * mpp)  # level 0 around x 1024-1280, y 160-168
    viewer.camera.zoom = 1 / mpp
    expected = f"cannot read {path}: level 0, tile (4, 20)"

    def notified():
        return any(expected in str(n.message) for n in notification_manager.records)

    qtbot.waitUntil(notified, timeout=5000)
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(float)
    assert shot.std() > 10  # the other intervals are drawn
    assert len(np.unique(shot.reshape(-1, 3) // 16, axis=0)) > 20
