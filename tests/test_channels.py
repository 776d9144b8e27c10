"""Slides that store channels (OME-TIFF, QPTIFF): a layer per channel, named, coloured, in µm, exact pixels."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_wsi_io import SlideReadError, open_slide
from napari_wsi_io._reader import read_slide
from napari_wsi_io.pyramid import PlaneStack, display_state
from napari_wsi_io.synthetic._fluorescence import DEFAULT_CHANNELS
from napari_wsi_io.synthetic.ome import ome_planes, write_ome_tiff
from napari_wsi_io.synthetic.qptiff import qptiff_planes, write_qptiff

# kind: (channel names, colours, dtype, level 0 (h, w), levels, (t, z), mpp)
_OME6 = [n for n, _ in DEFAULT_CHANNELS]
_COLOURS6 = [c for _, c in DEFAULT_CHANNELS]
KINDS = {
    "ome16": (_OME6, _COLOURS6, np.uint16, (1100, 1500), 3, (1, 1), 0.4962),
    "ome16-pages": (_OME6, _COLOURS6, np.uint16, (1100, 1500), 3, (1, 1), 0.4962),
    "ome8": (_OME6, _COLOURS6, np.uint8, (700, 900), 3, (1, 1), 0.4962),
    "ome32": (_OME6, _COLOURS6, np.uint32, (700, 900), 2, (1, 1), 0.4962),
    "omef32": (_OME6, _COLOURS6, np.float32, (700, 900), 3, (1, 1), 0.4962),
    "ome-z": (["DAPI", "CD8"], [(0, 0, 255), (0, 255, 0)], np.uint16, (600, 800), 2, (1, 3), 0.4962),
    "ome-tz": (["a", "b"], [(0, 0, 255), (0, 255, 0)], np.uint16, (300, 400), 2, (2, 2), 0.4962),
    "qptiff8": (_OME6[:5], _COLOURS6[:5], np.uint8, (1000, 1400), 3, (1, 1), 0.4962),
    "qptiff32": (_OME6[:5], _COLOURS6[:5], np.float32, (600, 900), 3, (1, 1), 0.4962),
}


def expected(kind: str) -> list[np.ndarray]:
    """By level: (t, z, c, h, w) of what the file stores."""
    names, _, dtype, shape, levels, (t, z), _ = KINDS[kind]
    if kind.startswith("qptiff"):
        per_channel = qptiff_planes(shape, len(names), dtype=dtype, levels=levels)
        return [np.stack([p[level] for p in per_channel])[None, None] for level in range(levels)]
    return ome_planes(shape, len(names), z=z, t=t, dtype=dtype, levels=levels)


def _places(h: int, w: int) -> list[tuple[int, int, int, int]]:
    """Regions (y, x, h, w): corners, the middle and across chunk edges."""
    s = min(h, w, 300)
    return [(0, 0, s, s), (h - s, w - s, s, s), (h // 3, w // 2 - s // 2, s, s), (0, 0, h, w)]


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_layer_per_channel_named_coloured_in_microns_with_exact_pixels(channel_slides, kind):
    names, colours, dtype, shape, levels, (t, z), mpp = KINDS[kind]
    layers = read_slide(channel_slides[kind])
    ref = expected(kind)
    assert [m["name"] for _, m, _ in layers] == names
    lead = tuple(n for n in (t, z) if n > 1)
    for c, (data, meta, kind_) in enumerate(layers):
        assert kind_ == "image" and meta["multiscale"] and not meta["rgb"]
        assert meta["colormap"] == "#{:02x}{:02x}{:02x}".format(*colours[c])
        assert meta["blending"] == "additive"
        assert meta["scale"][-2:] == pytest.approx((mpp, mpp))
        assert meta["units"][-2:] == ("micrometer", "micrometer")
        assert [a.shape for a in data] == [(*lead, *r.shape[-2:]) for r in ref]
        assert all(a.dtype == dtype for a in data)
        # Contrast from the data: inside the stored values, far from the dtype's range for integers.
        values = ref[-1][:, :, c]
        lo, hi = meta["contrast_limits"]
        assert values.min() <= lo < hi <= values.max()
        if np.dtype(dtype).kind == "u" and np.dtype(dtype).itemsize > 1:
            assert hi - lo < np.iinfo(dtype).max / 8
        for level in (0, len(ref) - 1):
            for ti in range(t):
                for zi in range(z):
                    array = data[level][(ti, zi)[-len(lead) :]] if lead else data[level]
                    for y, x, h, w in _places(*ref[level].shape[-2:]):
                        got = np.asarray(array[y : y + h, x : x + w])
                        np.testing.assert_array_equal(got, ref[level][ti, zi, c, y : y + h, x : x + w])


def test_a_channel_region_reads_the_same_through_dask_and_without_it(channel_slides):
    """A view-sized region is one read: computed on its own it skips dask's scheduler, anything else uses it."""
    (data, _, _), *_ = read_slide(channel_slides["ome16"])
    region = data[0][100:400, 200:700]
    assert type(region).__name__ == "OneRead"
    ref = expected("ome16")[0][0, 0, 0, 100:400, 200:700]
    np.testing.assert_array_equal(np.asarray(region), ref)
    np.testing.assert_array_equal(region.compute(scheduler="synchronous"), ref)
    assert int((region[::2] + 1).sum().compute()) == int((ref[::2].astype(np.int64) + 1).sum())


def test_z_and_t_are_slider_axes_with_the_z_spacing(channel_slides):
    (data, meta, _), _ = read_slide(channel_slides["ome-z"])
    assert isinstance(data[0], PlaneStack) and data[0].shape == (3, 600, 800)
    assert meta["scale"] == pytest.approx((2.0, 0.4962, 0.4962))
    assert meta["units"] == ("micrometer", "micrometer", "micrometer")
    assert meta["metadata"]["channel"]["z"] == 3
    # The sliders' plane is the display pyramid of that plane: its slices feed the cache and prefetch.
    state = display_state(data[0])
    assert state is not None and len(state.states) == 3
    (data, meta, _), _ = read_slide(channel_slides["ome-tz"])
    assert data[0].shape == (2, 2, 300, 400) and meta["scale"][:2] == pytest.approx((1.0, 2.0))
    whole = np.asarray(data[1][:, 1])  # a slice along a slider axis reads each plane
    np.testing.assert_array_equal(whole, expected("ome-tz")[1][:, 1, 0])


def test_each_channel_reads_only_its_own_pages(channel_slides):
    with open_slide(channel_slides["ome16"]) as slide:
        assert slide.backend == "tifffile" and slide.channels is not None
        plane = slide.plane((3, 0, 0))
        assert plane.samples == 1 and plane.level_dimensions == slide.level_dimensions
        offsets = {int(o) for o in plane.tiles[0].offsets}
        assert not offsets & {int(o) for o in slide.plane((2, 0, 0)).tiles[0].offsets}
        np.testing.assert_array_equal(plane.read_level(1, 10, 20, 30, 40), expected("ome16")[1][0, 0, 3, 20:60, 10:40])


def test_a_channel_without_a_colour_takes_the_fluorescence_palette(tmp_path):
    path = write_ome_tiff(tmp_path / "nocolour.ome.tif", shape=(256, 256), channels=(("x", None), ("y", None)))
    layers = read_slide(path)
    assert [m["colormap"] for _, m, _ in layers] == ["#0000ff", "#00ff00"]


def test_brightfield_ome_tiff_stays_one_rgb_layer(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (512, 768, 3), np.uint8)
    path = tmp_path / "rgb.ome.tif"
    tifffile.imwrite(path, rgb, photometric="rgb", tile=(256, 256), metadata={"axes": "YXS"})
    layers = read_slide(path)
    assert len(layers) == 1 and layers[0][1]["rgb"]
    np.testing.assert_array_equal(np.asarray(layers[0][0][0]), rgb)


# -- bad input: a clear error naming the file and the channel, or the channel shown missing --


def test_qptiff_channel_of_another_size_is_an_error_naming_the_channel(tmp_path):
    path = write_qptiff(tmp_path / "sizes.qptiff", shape=(400, 500), sizes={3: (400, 480)})
    with pytest.raises(SlideReadError, match=rf"cannot read {path}: QPTIFF: channel 3 \('PanCK'\) is 480x400 px"):
        open_slide(path)


def _rewrite_ome(path, old: str, new: str) -> None:
    xml = tifffile.tiffcomment(path)
    assert old in xml
    tifffile.tiffcomment(path, xml.replace(old, new).encode())


def test_ome_xml_naming_a_channel_the_file_does_not_store_shows_it_missing(tmp_path):
    path = write_ome_tiff(tmp_path / "more.ome.tif", shape=(256, 320), levels=2)
    extra = '<Channel ID="Channel:0:6" SamplesPerPixel="1" Name="Ki67"><LightPath/></Channel>'
    _rewrite_ome(path, 'SizeC="6"', 'SizeC="7"')
    _rewrite_ome(path, "<TiffData", extra + "<TiffData")
    with pytest.warns(UserWarning, match=r"channel 6 \('Ki67'\) is named in the OME-XML but the file stores no image"):
        layers = read_slide(path)
    assert [m["name"] for _, m, _ in layers] == _OME6  # the six stored channels, each whole
    np.testing.assert_array_equal(np.asarray(layers[5][0][0]), ome_planes((256, 320), 6, levels=2)[0][0, 0, 5])


def test_ome_xml_whose_planes_do_not_match_the_pages_is_an_error(tmp_path):
    path = write_ome_tiff(tmp_path / "z.ome.tif", shape=(128, 128), z=2, channels=(("a", None), ("b", None)), levels=1)
    _rewrite_ome(path, 'SizeZ="2"', 'SizeZ="3"')
    with pytest.raises(SlideReadError, match=rf"cannot read {path}: channel 0 \('a'\) has no image for t=0, z=2"):
        open_slide(path)
    path = write_ome_tiff(tmp_path / "notiffdata.ome.tif", shape=(128, 128), channels=(("a", None),), levels=1)
    xml = tifffile.tiffcomment(path)
    tifffile.tiffcomment(path, xml[: xml.index("<TiffData")].encode() + xml[xml.index("</Pixels>") :].encode())
    with pytest.raises(SlideReadError, match=rf"cannot read {path}: the OME-XML names 1 plane but does not map"):
        read_slide(path)


def _patch_tag(path, page: int, code: int, value: int) -> None:
    """Overwrite a SHORT tag value in place (as conftest's ``patch_tag``; imported by name it may be another conftest's)."""
    import struct

    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[page].tags[code]
        fmt, offset = ("<H" if tag.dtype == 3 else "<I"), tag.valueoffset
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(fmt, value))


def _corrupt_tile(path, page: int, tile: int) -> None:
    """Replace the second half of one tile with random bytes."""
    with tifffile.TiffFile(path) as tif:
        offset, count = tif.pages[page].dataoffsets[tile], tif.pages[page].databytecounts[tile]
    with open(path, "r+b") as f:
        f.seek(offset + count // 2)
        f.write(np.random.default_rng(0).integers(0, 256, count - count // 2 - 2, dtype=np.uint8).tobytes())


def test_damaged_channel_page_names_the_channel(tmp_path):
    path = write_qptiff(tmp_path / "damaged.qptiff", shape=(300, 400), levels=2)
    _patch_tag(path, 2, 259, 34999)  # channel 2's compression: unknown
    with pytest.raises(SlideReadError, match=rf"cannot read {path}: channel 2 \('CD8'\): level 0: unsupported"):
        open_slide(path)


def test_damaged_channel_tile_names_the_channel_and_opening_still_works(tmp_path):
    path = write_qptiff(tmp_path / "tile.qptiff", shape=(300, 400), levels=2, tile=128, compression="zlib")
    with tifffile.TiffFile(path) as tif:  # channel 1's level 1 page, the coarsest (sampled for the contrast)
        page = next(
            i for i, p in enumerate(tif.pages) if "ReducedResolution" in p.description and "CD3" in p.description
        )
    _corrupt_tile(path, page, 0)
    with pytest.warns(UserWarning, match=rf"cannot read {path}: channel 1 \('CD3'\): level 1, tile \(0, 0\)"):
        layers = read_slide(path)
    assert len(layers) == 5
    with open_slide(path) as slide, pytest.raises(SlideReadError, match=r"channel 1 \('CD3'\): level 1, tile \(0, 0\)"):
        slide.plane((1, 0, 0)).read_level(1, 0, 0, 8, 8)


@pytest.mark.slow
def test_a_40_channel_gigapixel_qptiff_opens_within_a_second(tmp_path):
    """Issue 19: 40 channels of 1 Gpx each (240 pages), its layers and their contrast limits in at most 1 s."""
    import time

    from napari_wsi_io.synthetic.qptiff import write_big_qptiff

    path = write_big_qptiff(tmp_path / "forty.qptiff", 32768, 40)
    layers = read_slide(path)  # imports, page cache
    assert len(layers) == 40 and layers[0][0][0].shape == (32768, 32768)
    times = []
    for _ in range(5):  # the best of five: a loaded machine slows some runs, not the reader
        start = time.perf_counter()
        read_slide(path)
        times.append(time.perf_counter() - start)
    assert min(times) <= 1.0, times
