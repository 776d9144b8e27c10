import dask.array as da
import npe2
import numpy as np
import pytest
from qt_free import run_without_qt

from napari_wsi_io import SlideReadError
from napari_wsi_io._reader import napari_get_reader


@pytest.fixture(autouse=True, scope="module")
def _discover_plugins():
    # napari discovers plugins at start-up; plain npe2 needs to be told to.
    npe2.PluginManager.instance().discover()


def test_reader_declines_other_files_quietly(tmp_path, recwarn):
    png = tmp_path / "image.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert napari_get_reader(str(png)) is None
    assert napari_get_reader(str(tmp_path)) is None
    assert napari_get_reader([str(png), str(png)]) is None
    assert napari_get_reader(str(tmp_path / "missing.zarr")) is None
    assert len(recwarn) == 0


def test_reader_takes_tiffs_by_suffix_or_header(slides, tmp_path):
    assert callable(napari_get_reader(str(slides["svs"])))
    assert callable(napari_get_reader([str(slides["jpeg"])]))
    renamed = tmp_path / "slide.bin"
    renamed.write_bytes(slides["lzw"].read_bytes())
    assert callable(napari_get_reader(str(renamed)))


def test_npe2_read_gives_one_multiscale_rgb_layer_in_microns(slides):
    layers = npe2.read([str(slides["svs"])], stack=False, plugin_name="napari-wsi-io")
    data, meta, kind = layers[0]
    assert kind == "image"
    assert meta["name"] == "aperio"
    assert meta["multiscale"] and meta["rgb"]
    assert meta["scale"] == pytest.approx((0.2520, 0.2520))
    assert meta["units"] == ("micrometer", "micrometer")
    assert meta["contrast_limits"] == (0, 255)
    assert meta["metadata"]["backend"] in ("cucim", "tifffile")
    assert [lvl["width"] for lvl in meta["metadata"]["levels"]] == [4000, 2000, 1000]
    assert [a.shape for a in data] == [(3000, 4000, 3), (1500, 2000, 3), (750, 1000, 3)]
    assert all(a.dtype == np.uint8 for a in data)
    assert all(isinstance(a, da.Array) for a in data)
    assert meta["cache"] is False  # napari's unbounded dask cache stays off; ours is bounded
    # Chunks sit on tile edges.
    for a in data:
        for sizes, n in zip(a.chunks[:2], a.shape):
            assert all(c % 256 == 0 for c in sizes[:-1]) and sum(sizes) == n
    # Associated images are opened on request, not with the slide.
    assert len(layers) == 1
    assert meta["metadata"]["associated_images"] == ["thumbnail", "label", "macro"]


def test_associated_layers_sit_side_by_side_over_the_slide_corner(slides):
    from napari_wsi_io import open_slide
    from napari_wsi_io._reader import associated_layers

    layers = associated_layers(slides["svs"])
    assert [m["name"] for _, m, _ in layers] == ["aperio thumbnail", "aperio label", "aperio macro"]
    quarter = 3000 * 0.2520 / 4  # a quarter of the slide's height, in micrometres
    right = 0.0
    for data, meta, kind in layers:
        assert kind == "image"
        with open_slide(slides["svs"]) as slide:
            np.testing.assert_array_equal(data, slide.read_associated(meta["metadata"]["associated_image"]))
        assert data.shape[0] * meta["scale"][0] == pytest.approx(quarter)
        assert meta["translate"] == pytest.approx((0.0, right))
        right += data.shape[1] * meta["scale"][1]
    assert right <= 4000 * 0.2520 + 1e-6  # all inside the slide's width
    (label, meta, _) = associated_layers(slides["svs"], ["label"])[0]
    assert meta["name"] == "aperio label" and meta["translate"][1] == pytest.approx(layers[1][1]["translate"][1])
    np.testing.assert_array_equal(label, layers[1][0])


def test_reader_error_names_the_file(bad_slides):
    reader = napari_get_reader(str(bad_slides["random"]))
    with pytest.raises(SlideReadError, match=f"cannot read {bad_slides['random']}: not a TIFF file"):
        reader(str(bad_slides["random"]))


def test_gray16_is_a_single_channel_layer(slides):
    data, meta, _ = npe2.read([str(slides["gray16"])], stack=False, plugin_name="napari-wsi-io")[0]
    assert not meta["rgb"]
    assert meta["contrast_limits"] == (0, 65535)
    assert data[0].dtype == np.uint16 and data[0].ndim == 2


def test_npe2_read_in_a_script_imports_no_qt(slides):
    """napari's reader command (napari.yaml) sets up the viewer, but a script reading through it loads no Qt."""
    run_without_qt(
        "import npe2; npe2.PluginManager.instance().discover();"
        f"layers = npe2.read([{str(slides['svs'])!r}], stack=False, plugin_name='napari-wsi-io');"
        "assert len(layers) == 1 and layers[0][1]['multiscale']"
    )
