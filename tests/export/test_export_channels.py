"""Exporting a slide that stores channels: NGFF 0.5 with a c axis (and z), channel names, colours and windows."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from export_helpers import read_image

from napari_wsi_io import open_slide
from napari_wsi_io._reader import read_slide
from napari_wsi_io.export import export_ome_zarr


def _planes(path, level: int) -> np.ndarray:
    """(t, c, z, y, x) of a level as the reader reads each plane."""
    with open_slide(path) as slide:
        t_count, z_count = slide.channels.sizes
        w, h = slide.level_dimensions[level]
        return np.stack(
            [
                np.stack(
                    [
                        np.stack([slide.plane((ch.index, t, z)).read_level(level, 0, 0, w, h) for z in range(z_count)])
                        for ch in slide.channels.channels
                    ]
                )
                for t in range(t_count)
            ]
        )


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("ome16", {}),
        ("ome-z", {}),
        ("qptiff32", {}),
        ("ome-tz", {"format": "0.4"}),
        ("ome8", {"scheduler": "processes"}),
    ],
)
def test_channels_export_with_their_axes_names_colours_and_pixels(channel_slides, tmp_path, kind, options):
    path = channel_slides[kind]
    out = tmp_path / f"{kind}.ome.zarr"
    export_ome_zarr(path, out, chunk=256, **options)
    node, levels = read_image(out)
    layers = read_slide(path)
    with open_slide(path) as slide:
        t_count, z_count = slide.channels.sizes
        mpp = slide.mpp
    axes = [a["name"] for a in node.metadata["axes"]]
    assert axes == ["t"] * (t_count > 1) + ["c"] + ["z"] * (z_count > 1) + ["y", "x"]
    assert node.metadata["channel_names"] == [m["name"] for _, m, _ in layers]
    colours = [[round(v * 255) for v in cmap[-1]] for cmap in node.metadata["colormap"]]
    assert ["#{:02x}{:02x}{:02x}".format(*c) for c in colours] == [m["colormap"] for _, m, _ in layers]
    windows = [tuple(w) for w in node.metadata["contrast_limits"]]
    assert windows == [tuple(float(v) for v in m["contrast_limits"]) for _, m, _ in layers]
    for level, data in enumerate(levels):
        want = _planes(path, level)
        want = want.reshape([n for n, keep in zip(want.shape, (t_count > 1, True, z_count > 1, True, True)) if keep])
        np.testing.assert_array_equal(data, want)
    attrs = zarr.open_group(out, mode="r").attrs
    multiscales = attrs.get("ome", attrs)["multiscales"][0]
    scale = multiscales["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale[-2:] == pytest.approx([mpp[1], mpp[0]])
    if z_count > 1:
        assert scale[axes.index("z")] == pytest.approx(2.0)
        assert node.metadata["axes"][axes.index("z")]["unit"] == "micrometer"


def test_czi_channels_export_too(czi_slides, tmp_path):
    out = tmp_path / "czi.ome.zarr"
    export_ome_zarr(czi_slides["fluo"], out)
    node, levels = read_image(out)
    assert node.metadata["channel_names"] == ["DAPI", "FITC", "TRITC"]
    assert levels[0].shape == (3, 3, 2048, 2048)
    np.testing.assert_array_equal(levels[1][:, 1], _planes(czi_slides["fluo"], 1)[0, :, 1])
