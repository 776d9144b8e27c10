"""The reader inside a real napari viewer."""

import numpy as np
import pytest


def test_open_sample_through_plugin_shows_pixels(make_napari_viewer, slides, qtbot):
    viewer = make_napari_viewer(show=True)
    layers = viewer.open(str(slides["svs"]), plugin="napari-wsi-io")
    layer = layers[0]
    assert layer.multiscale and layer.rgb
    assert tuple(layer.scale) == pytest.approx((0.2520, 0.2520))
    assert [str(u) for u in layer.units] == ["micrometer", "micrometer"]
    assert len(layers) == 1  # label, macro and thumbnail: on request (tests/_qt/test_associated_widget.py)
    viewer.reset_view()
    qtbot.wait(200)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    rgb = shot[..., :3].astype(float)
    # Not blank: tissue colours and background both on screen.
    assert rgb.std() > 10
    assert len(np.unique(rgb.reshape(-1, 3) // 16, axis=0)) > 20


def test_sample_data_contribution_opens(make_napari_viewer, monkeypatch, tmp_path):
    monkeypatch.setenv("NAPARI_WSI_IO_CACHE", str(tmp_path))
    viewer = make_napari_viewer()
    viewer.open_sample("napari-wsi-io", "small")
    assert viewer.layers[0].data[0].shape == (3000, 4000, 3)


def test_bad_file_raises_a_clear_error_in_napari(make_napari_viewer, bad_slides):
    viewer = make_napari_viewer()
    with pytest.raises(Exception, match=f"cannot read {bad_slides['truncated']}"):
        viewer.open(str(bad_slides["truncated"]), plugin="napari-wsi-io")
    assert len(viewer.layers) == 0


def test_corrupt_tile_is_a_notification_and_the_rest_stays_visible(make_napari_viewer, corrupt_slide, qtbot):
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer(show=True)
    layer = viewer.open(str(corrupt_slide), plugin="napari-wsi-io")[0]
    mpp = layer.scale[0]
    # Level 0 around the damaged tile (column 5, row 0: x 1280-1536, y 0-256).
    viewer.camera.center = (300 * mpp, 1408 * mpp)
    viewer.camera.zoom = 1 / mpp
    expected = f"cannot read {corrupt_slide}: level 0, tile (5, 0)"

    def notified():
        return any(expected in str(n.message) for n in notification_manager.records)

    # The message names level 0, so napari read level 0 there.
    qtbot.waitUntil(notified, timeout=5000)
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
    assert shot.std() > 10  # the neighbouring tiles are drawn
