"""An export opened in napari with napari-ome-zarr, the reader people use for OME-Zarr: colours and scale."""

from __future__ import annotations

import numpy as np
import pytest

from napari_wsi_io import open_slide
from napari_wsi_io.export import export_ome_zarr

pytest.importorskip("napari_ome_zarr")


@pytest.mark.parametrize("ngff", ["0.5", "0.4"])
def test_napari_ome_zarr_shows_three_coloured_channels_at_the_slide_scale(make_napari_viewer, slides, tmp_path, ngff):
    out = tmp_path / f"v{ngff}.ome.zarr"
    export_ome_zarr(slides["svs"], out, levels="1,2", chunk=256, format=ngff)
    viewer = make_napari_viewer()
    layers = viewer.open(str(out), plugin="napari-ome-zarr")
    assert [layer.colormap.name for layer in layers] == ["red", "green", "blue"]
    with open_slide(slides["svs"]) as slide:
        mpp_x, mpp_y = slide.mpp
        w, h = slide.level_dimensions[2]
        expected = slide.read_level(2, 0, 0, w, h)
        # level 1 of the slide is the first dataset: its pixel is 2 level-0 pixels wide
        for channel, layer in enumerate(layers):
            assert layer.multiscale and len(layer.data) == 2
            np.testing.assert_allclose(layer.scale, [2 * mpp_y, 2 * mpp_x])
            np.testing.assert_array_equal(np.asarray(layer.data[1]), expected[..., channel])
