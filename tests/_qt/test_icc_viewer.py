"""A slide with an embedded ICC profile in a real napari viewer: sRGB on screen, as ImageCms renders it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from napari_wsi_io import open_slide
from napari_wsi_io.pyramid import display_state
from napari_wsi_io.synthetic import write_synthetic_slide
from napari_wsi_io.synthetic.icc import adobe_rgb_profile, with_icc_profile

ICC = adobe_rgb_profile()


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return write_synthetic_slide(tmp_path_factory.mktemp("icc") / "plain.svs", (1100, 1500), aperio=True)


@pytest.fixture(scope="module")
def adobe(plain):
    return with_icc_profile(plain, plain.with_name("adobe.svs"), ICC)


def imagecms_srgb(raw: np.ndarray) -> np.ndarray:
    profile = ImageCms.ImageCmsProfile(io.BytesIO(ICC))
    transform = ImageCms.buildTransform(
        profile, ImageCms.createProfile("sRGB"), "RGB", "RGB", ImageCms.getDefaultIntent(profile)
    )
    return np.asarray(ImageCms.applyTransform(Image.fromarray(np.ascontiguousarray(raw)), transform))


def _shown_at_level0(viewer, layer, qtbot, y: float, x: float) -> tuple[np.ndarray, int, int]:
    """Centre level 0 at 1:1 on (y, x); wait for its pixels (not a coarse stand-in); the tile and its origin."""
    mpp = layer.scale[-1]
    viewer.camera.zoom = 1 / mpp
    viewer.camera.center = (y * mpp, x * mpp)

    def ready() -> bool:
        chunks = display_state(layer.data[0])
        scale = np.asarray(layer._transforms["tile2data"].scale)[:2]
        return layer.loaded and not chunks.provisional and not chunks.refreshes_due and np.allclose(scale, 1)

    qtbot.waitUntil(lambda: layer.data_level == 0 and ready(), timeout=10000)
    tile = np.asarray(layer._slice.image.raw)
    y0, x0 = (int(round(v)) for v in np.asarray(layer._transforms["tile2data"].translate)[:2])
    return tile, y0, x0


def test_the_layer_shows_srgb_like_imagecms(make_napari_viewer, adobe, qtbot):
    viewer = make_napari_viewer(show=True)
    [layer] = viewer.open(str(adobe), plugin="napari-wsi-io")
    assert layer.metadata["colour"] == "srgb" and layer.metadata["icc_profile"] == ICC
    tile, y0, x0 = _shown_at_level0(viewer, layer, qtbot, 550, 750)
    with open_slide(adobe, colour="raw") as raw:
        stored = raw.read_level(0, x0, y0, tile.shape[1], tile.shape[0])
    np.testing.assert_array_equal(tile, imagecms_srgb(stored))
    assert np.abs(tile.astype(int) - stored).mean() > 1
    value = layer.get_value((600, 800))[1]  # what napari reports under the cursor
    np.testing.assert_array_equal(value, imagecms_srgb(stored)[600 - y0, 800 - x0])


def test_the_setting_shows_the_raw_pixels(make_napari_viewer, adobe, plain, qtbot, monkeypatch):
    monkeypatch.setenv("NAPARI_WSI_IO_COLOUR", "raw")
    viewer = make_napari_viewer(show=True)
    [layer] = viewer.open(str(adobe), plugin="napari-wsi-io")
    assert layer.metadata["colour"] == "raw" and layer.metadata["icc_profile"] == ICC
    tile, y0, x0 = _shown_at_level0(viewer, layer, qtbot, 550, 750)
    with open_slide(plain) as original:
        np.testing.assert_array_equal(tile, original.read_level(0, x0, y0, tile.shape[1], tile.shape[0]))


def test_a_slide_without_a_profile_is_unchanged(make_napari_viewer, plain, qtbot):
    viewer = make_napari_viewer(show=True)
    [layer] = viewer.open(str(plain), plugin="napari-wsi-io")
    assert layer.metadata["colour"] == "raw" and layer.metadata["icc_profile"] is None
    tile, y0, x0 = _shown_at_level0(viewer, layer, qtbot, 550, 750)
    with open_slide(plain, colour="raw") as original:
        np.testing.assert_array_equal(tile, original.read_level(0, x0, y0, tile.shape[1], tile.shape[0]))


def test_a_broken_profile_is_one_notice_naming_the_file(make_napari_viewer, plain, tmp_path):
    from napari.utils.notifications import notification_manager

    broken = with_icc_profile(plain, tmp_path / "broken.svs", b"\0" * 200)
    viewer = make_napari_viewer(show=True)
    with notification_manager:  # napari.run() installs these hooks: a warning becomes a notification
        [layer] = viewer.open(str(broken), plugin="napari-wsi-io")
        viewer.layers.clear()
        viewer.open(str(broken), plugin="napari-wsi-io")  # again: no second notice
    notices = [str(n.message) for n in notification_manager.records if str(broken) in str(n.message)]
    assert len(notices) == 1 and "a damaged ICC profile" in notices[0] and "raw pixels" in notices[0]
    assert layer.metadata["colour"] == "raw"
