"""Slides that store channels in a real napari viewer: a layer per channel, each refreshed on its own."""

from __future__ import annotations

import numpy as np
import pytest
from test_channels import KINDS, expected

from napari_wsi_io.pyramid import display_state


def _colour(layer) -> tuple[int, int, int]:
    return tuple(int(round(v * 255)) for v in layer.colormap.colors[-1][:3])


@pytest.mark.parametrize("kind", ["ome16", "ome16-pages", "omef32", "qptiff8", "qptiff32", "ome-z"])
def test_channels_open_as_layers_with_their_names_colours_scale_and_pixels(make_napari_viewer, channel_slides, kind):
    names, colours, dtype, shape, levels, (t, z), mpp = KINDS[kind]
    viewer = make_napari_viewer()
    layers = viewer.open(str(channel_slides[kind]), plugin="napari-wsi-io")
    ref = expected(kind)
    assert [layer.name for layer in layers] == names
    for c, layer in enumerate(layers):
        assert layer.multiscale and not layer.rgb and layer.blending == "additive"
        assert _colour(layer) == colours[c]
        assert tuple(layer.scale)[-2:] == pytest.approx((mpp, mpp))
        assert [str(u) for u in layer.units][-2:] == ["micrometer", "micrometer"]
        assert [tuple(s[-2:]) for s in layer.level_shapes] == [r.shape[-2:] for r in ref]
        lo, hi = layer.contrast_limits
        assert ref[-1][:, :, c].min() <= lo < hi <= ref[-1][:, :, c].max()
        for level in (0, len(ref) - 1):
            data = layer.data[level]
            h, w = ref[level].shape[-2:]
            for y, x in ((0, 0), (h // 2, w // 3), (h - 64, w - 64)):
                lead = (z // 2,) if z > 1 else ()
                got = np.asarray(data[(*lead, slice(y, y + 64), slice(x, x + 64))])
                np.testing.assert_array_equal(got, ref[level][0, z // 2, c, y : y + 64, x : x + 64])


def test_each_channel_layer_listens_for_its_own_chunks(make_napari_viewer, channel_slides, qtbot):
    viewer = make_napari_viewer(show=True)
    layers = viewer.open(str(channel_slides["ome16"]), plugin="napari-wsi-io")
    states = [display_state(layer.data[0]) for layer in layers]
    assert len({id(s) for s in states}) == len(layers)  # a display pyramid per channel
    viewer.reset_view()
    qtbot.wait(300)
    # Every channel layer subscribed to its own pyramid (one listener each), not only the last one.
    qtbot.waitUntil(lambda: all(len(s._subscriptions) == 1 for s in states), timeout=5000)
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(float)
    assert shot.mean() > 20 and shot.std() > 10  # not black: contrast from the data, additive colours


def test_z_stack_has_a_slider_and_shows_the_chosen_plane(make_napari_viewer, channel_slides, qtbot):
    viewer = make_napari_viewer(show=True)
    layers = viewer.open(str(channel_slides["ome-z"]), plugin="napari-wsi-io")
    assert viewer.dims.ndim == 3 and viewer.dims.nsteps[0] == 3
    assert layers[0].scale[0] == pytest.approx(2.0)
    states = [display_state(layer.data[0]) for layer in layers]
    qtbot.waitUntil(lambda: all(len(s.states[0]._subscriptions) == 1 for s in states), timeout=5000)
    viewer.dims.set_current_step(0, 2)
    viewer.reset_view()
    qtbot.wait(300)
    ref = expected("ome-z")
    layer = layers[1]
    qtbot.waitUntil(lambda: layer._slice.image.raw.size > 1, timeout=5000)
    raw = np.asarray(layer._slice.image.raw)
    level = layer.data_level
    tile = ref[level][0, 2, 1]
    np.testing.assert_array_equal(raw, tile[: raw.shape[0], : raw.shape[1]])


@pytest.mark.parametrize("stored", ["", "-jxr"], ids=["raw", "jpegxr"])
def test_czi_fluorescence_and_brightfield_in_the_viewer(make_napari_viewer, czi_slides, qtbot, stored):
    from napari_wsi_io.synthetic.czi import expected_channel, expected_rgb

    viewer = make_napari_viewer(show=True)
    layers = viewer.open(str(czi_slides[f"fluo{stored}"]), plugin="napari-wsi-io")
    assert [layer.name for layer in layers] == ["DAPI", "FITC", "TRITC"]
    assert [_colour(layer) for layer in layers] == [(0, 0, 255), (0, 255, 0), (255, 0, 0)]
    assert viewer.dims.nsteps[0] == 3 and tuple(layers[0].scale) == pytest.approx((1.5, 0.325, 0.325))
    for c, layer in enumerate(layers):
        lo, hi = layer.contrast_limits
        assert 1100 <= lo < hi <= 6600
        for level in (0, len(layer.data) - 1):
            got = np.asarray(layer.data[level][2, 100:164, 300:364])
            want = expected_channel(300, 100, 64, 64, c, 2, width=2048, height=2048, level=level)
            np.testing.assert_array_equal(got, want)
    viewer.layers.clear()
    (layer,) = viewer.open(str(czi_slides[f"bgr24{stored}"]), plugin="napari-wsi-io")
    assert layer.rgb and tuple(layer.scale) == pytest.approx((0.25, 0.25))
    np.testing.assert_array_equal(
        np.asarray(layer.data[1][:50, :70]), expected_rgb(0, 0, 70, 50, width=3001, height=2003, level=1)
    )
    viewer.reset_view()
    qtbot.wait(300)
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(float)
    assert shot.std() > 10
