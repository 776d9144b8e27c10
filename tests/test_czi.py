"""Zeiss CZI through libCZI: brightfield as RGB in the right order, fluorescence as a layer per channel."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from napari_wsi_io import SlideReadError, open_slide
from napari_wsi_io._reader import napari_get_reader, read_slide

pytest.importorskip("pylibCZIrw")

from napari_wsi_io.synthetic.czi import expected_channel, expected_rgb  # noqa: E402

# kind: (width, height, dtype, stored levels, z planes, mpp)
KINDS = {
    "bgr24": (3001, 2003, np.uint8, 3, 1, 0.25),
    "bgr48": (2048, 1536, np.uint16, 1, 1, 0.25),
    "fluo": (2048, 2048, np.uint16, 2, 3, 0.325),
    "fluo-zstd": (3000, 2000, np.uint16, 1, 1, 0.325),
}
# A JPEG XR file -> the raw one it was rewritten from.
JPEGXR = {"bgr24-jxr": "bgr24", "bgr48-jxr": "bgr48", "fluo-jxr": "fluo"}
KINDS.update({jxr: KINDS[raw] for jxr, raw in JPEGXR.items()})
NAMES, COLOURS = ["DAPI", "FITC", "TRITC"], ["#0000ff", "#00ff00", "#ff0000"]


def _regions(w: int, h: int) -> list[tuple[int, int, int, int]]:
    s = min(w, h, 257)
    return [(0, 0, s, s), (w - s, h - s, s, s), (min(w // 3, w - s), min(h // 2, h - s), s, s)]


def _expected(kind: str, x, y, w, h, level: int, c: int = 0, z: int = 0) -> np.ndarray:
    width, height, dtype, stored, _, _ = KINDS[kind]
    args = {"width": width, "height": height, "level": level}
    if kind.startswith("bgr"):
        return expected_rgb(x, y, w, h, dtype, **args)
    return expected_channel(x, y, w, h, c, z, dtype, **args)


@pytest.mark.parametrize("kind", ["bgr24", "bgr48", "bgr24-jxr", "bgr48-jxr"])
def test_brightfield_czi_is_one_rgb_layer_in_rgb_order(czi_slides, kind):
    width, height, dtype, stored, _, mpp = KINDS[kind]
    assert callable(napari_get_reader(str(czi_slides[kind])))
    (data, meta, _), *rest = read_slide(czi_slides[kind])
    assert not rest and meta["rgb"] and meta["metadata"]["backend"] == "czi"
    assert meta["scale"] == pytest.approx((mpp, mpp)) and meta["units"] == ("micrometer", "micrometer")
    assert data[0].shape == (height, width, 3) and data[0].dtype == dtype
    assert data[-1].shape[0] <= 1024 or max(data[-1].shape[:2]) <= 1024  # computed levels below the stored ones
    for level in range(stored):
        h, w = data[level].shape[:2]
        for x, y, rw, rh in _regions(w, h):
            got = np.asarray(data[level][y : y + rh, x : x + rw])
            np.testing.assert_array_equal(got, _expected(kind, x, y, rw, rh, level))


@pytest.mark.parametrize("kind", ["fluo", "fluo-zstd", "fluo-jxr"])
def test_fluorescence_czi_is_a_layer_per_channel(czi_slides, kind):
    width, height, dtype, stored, z, mpp = KINDS[kind]
    layers = read_slide(czi_slides[kind])
    assert [m["name"] for _, m, _ in layers] == NAMES
    assert [m["colormap"] for _, m, _ in layers] == COLOURS
    for c, (data, meta, _) in enumerate(layers):
        assert meta["blending"] == "additive" and not meta["rgb"]
        assert meta["scale"][-2:] == pytest.approx((mpp, mpp))
        lead = (z,) if z > 1 else ()
        assert data[0].shape == (*lead, height, width)
        if z > 1:
            assert meta["scale"][0] == pytest.approx(1.5)
        lo, hi = meta["contrast_limits"]
        assert 1100 <= lo < hi <= 6600  # the data's range, not the dtype's
        for level in range(stored):
            level_data = data[level]
            h, w = level_data.shape[-2:]
            for zi in range(z):
                plane = level_data[zi] if z > 1 else level_data
                for x, y, rw, rh in _regions(w, h):
                    got = np.asarray(plane[y : y + rh, x : x + rw])
                    np.testing.assert_array_equal(got, _expected(kind, x, y, rw, rh, level, c, zi))


def test_czi_without_pyramid_computes_its_coarser_levels(czi_slides):
    with open_slide(czi_slides["fluo-zstd"]) as slide:
        assert slide.layout.factors == [1, 2, 4]  # none stored: halvings until 1024 px
        assert slide.level_dimensions == ((3000, 2000), (1500, 1000), (750, 500))
        coarse = slide.plane((0, 0, 0)).read_level(2, 0, 0, 750, 500)
        full = expected_channel(0, 0, 3000, 2000, 0)
        assert coarse.shape == (500, 750) and set(np.unique(coarse)) <= set(np.unique(full))  # subsampled


def _entries(path):
    import os

    from napari_wsi_io.backends._czi_directory import read_directory

    fd = os.open(path, os.O_RDONLY)
    try:
        return read_directory(str(path), fd)
    finally:
        os.close(fd)


def test_truncated_czi_is_a_clear_error(czi_slides, tmp_path):
    data = czi_slides["fluo"].read_bytes()
    cut = tmp_path / "cut.czi"
    cut.write_bytes(data[: len(data) - 5000])  # the directory (at the end) is cut
    with pytest.raises(SlideReadError, match=rf"cannot read {cut}: damaged CZI: .*ZISRAWDIRECTORY.* past the end"):
        open_slide(cut)


def test_czi_subblock_running_past_its_segment_names_the_channel(czi_slides, tmp_path):
    path = tmp_path / "subblock.czi"
    path.write_bytes(czi_slides["fluo"].read_bytes())
    entry = next(e for e in _entries(path) if e.index("C") == 2 and e.zoom == 1)
    with open(path, "r+b") as f:  # the subblock's DataSize: 1 GB
        f.seek(entry.position + 32 + 8)
        f.write(struct.pack("<q", 1 << 30))
    with pytest.raises(SlideReadError, match=rf"cannot read {path}: channel 2 \('TRITC'\), z=\d, subblock at"):
        open_slide(path)


def test_czi_naming_more_channels_than_stored_shows_the_rest_and_says_so(tmp_path):
    from napari_wsi_io.synthetic.czi import write_czi_fluorescence

    path = write_czi_fluorescence(tmp_path / "two.czi", 512, 512, channels=["DAPI", "FITC"])
    from pylibCZIrw import czi as pyczi

    with pyczi.open_czi(str(path)) as doc:
        xml = doc.raw_metadata
    extra = '<Channel Id="Channel:2" Name="Cy5"><PixelType>Gray16</PixelType></Channel></Channels>'
    with pyczi.edit_czi(str(path)) as editor, editor.edit_session() as builder:
        builder.set_xml(xml.replace("</Channels>", extra, 1))
    with pytest.warns(UserWarning, match=r"channel 2 \('Cy5'\) is named in the CZI metadata but no subblock"):
        layers = read_slide(path)
    assert [m["name"] for _, m, _ in layers] == ["DAPI", "FITC"]


@pytest.mark.parametrize("kind", ["fluo-zstd", "bgr24", "fluo-jxr", "bgr24-jxr"])
def test_subblocks_decode_to_the_stored_pixels_for_the_decode_limit(czi_slides, kind):
    """The benchmark's decode limit decodes each subblock with imagecodecs (zstd with libCZI's hi-lo bytes)."""
    import os

    from napari_wsi_io.backends._czi_subblocks import decode_subblock, subblock_data

    path = str(czi_slides[kind])
    fd = os.open(path, os.O_RDONLY)
    try:
        for entry in [e for e in _entries(path) if e.zoom == 1][:4]:
            pixels = decode_subblock(entry, subblock_data(path, fd, entry))
            (x, _, w), (y, _, h) = entry.dims["X"], entry.dims["Y"]
            if kind.startswith("bgr24"):
                want = expected_rgb(x + 5000, y - 1200, w, h)[..., ::-1]  # stored B, G, R; the scene at (-5000, 1200)
            else:
                want = expected_channel(x, y, w, h, entry.index("C"), entry.index("Z"))[..., None]
            np.testing.assert_array_equal(pixels, want)
    finally:
        os.close(fd)


def _decoded(path) -> list:
    """Every subblock's directory entry and its pixels as the decode limit decodes them."""
    import os

    from napari_wsi_io.backends._czi_directory import read_directory
    from napari_wsi_io.backends._czi_subblocks import decode_subblock, subblock_data

    fd = os.open(path, os.O_RDONLY)
    try:
        return [(e, decode_subblock(e, subblock_data(str(path), fd, e))) for e in read_directory(str(path), fd)]
    finally:
        os.close(fd)


@pytest.mark.parametrize("kind", sorted(JPEGXR))
def test_jpegxr_czi_stores_every_subblock_as_jpegxr_that_decodes_to_the_raw_pixels(czi_slides, kind):
    """Compression 4 in every entry, the pyramid subblocks' too; the decode limit's imagecodecs decode gives the
    raw file's stored pixels (B, G, R for colour, 8 and 16 bits), subblock by subblock."""
    raw, jxr = _decoded(czi_slides[JPEGXR[kind]]), _decoded(czi_slides[kind])
    assert {e.compression for e, _ in raw} == {0} and {e.compression for e, _ in jxr} == {4}
    assert any(e.zoom < 1 for e, _ in jxr) == (kind != "bgr48-jxr") and len(jxr) == len(raw)  # pyramid tiles too
    for (a, pixels_a), (b, pixels_b) in zip(raw, jxr):
        assert (b.pixel_type, b.pyramid_type, b.dims) == (a.pixel_type, a.pyramid_type, a.dims)
        np.testing.assert_array_equal(pixels_b, pixels_a)


@pytest.mark.parametrize("kind", ["bgr24", "fluo"])
def test_lossy_jpegxr_czi_shows_what_its_subblocks_decode_to(czi_slides, tmp_path, kind):
    """Scanners store lossy JPEG XR: level 0 is the subblocks as jxrlib itself decodes them (imagecodecs), in place."""
    from napari_wsi_io.synthetic.czi_jpegxr import with_jpegxr_subblocks

    path = with_jpegxr_subblocks(czi_slides[kind], tmp_path / f"{kind}-lossy.czi", quality=0.8)
    full = [(e, pixels) for e, pixels in _decoded(path) if e.zoom == 1]
    raw = dict(((e.index("C"), e.index("Z"), e.dims["X"][0], e.dims["Y"][0]), p) for e, p in _decoded(czi_slides[kind]))
    assert any(not np.array_equal(p, raw[e.index("C"), e.index("Z"), e.dims["X"][0], e.dims["Y"][0]]) for e, p in full)
    with open_slide(path) as slide:
        x0, y0 = slide.layout.x0, slide.layout.y0
        for e, pixels in full:
            plane = slide if not slide.channels else slide.plane(_plane_key(slide, e))
            x, y, w, h = e.dims["X"][0] - x0, e.dims["Y"][0] - y0, e.dims["X"][1], e.dims["Y"][1]
            want = pixels[..., ::-1] if slide.samples == 3 else pixels  # stored B, G, R
            np.testing.assert_array_equal(plane.read_level(0, x, y, w, h).reshape(want.shape), want)


def _plane_key(slide, entry):
    return slide.layout.meta.plane_key(entry.index("C"), entry.index("T"), entry.index("Z"))


def _crop(array, rgb: bool, x: int, y: int, w: int, h: int) -> np.ndarray:
    """Region (x, y, w, h) of a layer's level: (y, x, 3) for RGB, (..., y, x) for a channel."""
    return np.asarray(array[y : y + h, x : x + w] if rgb else array[..., y : y + h, x : x + w])


@pytest.mark.parametrize("kind", sorted(JPEGXR))
def test_jpegxr_czi_reads_as_the_raw_file_it_was_made_from(czi_slides, kind):
    """libCZI decodes the JPEG XR subblocks losslessly: open_slide and npe2.read give the raw file's pixels,
    levels, names and colours, at level 0 and the coarsest level of every plane."""
    import npe2

    raw_path, jxr_path = czi_slides[JPEGXR[kind]], czi_slides[kind]
    with open_slide(raw_path) as raw, open_slide(jxr_path) as jxr:
        assert jxr.backend == raw.backend == "czi"
        assert jxr.level_dimensions == raw.level_dimensions and jxr.layout.factors == raw.layout.factors
        for key in list(raw.layout.plane_levels) if raw.channels else [None]:
            a, b = (s if key is None else s.plane(key) for s in (raw, jxr))
            for level in (0, a.level_count - 1):
                for x, y, w, h in _regions(*a.level_dimensions[level]):
                    np.testing.assert_array_equal(b.read_level(level, x, y, w, h), a.read_level(level, x, y, w, h))
    npe2.PluginManager.instance().discover()
    layers = [npe2.read([str(p)], stack=False, plugin_name="napari-wsi-io") for p in (raw_path, jxr_path)]
    assert len(layers[1]) == len(layers[0])
    for (a, meta_a, _), (b, meta_b, _) in zip(*layers):
        for key in ("colormap", "rgb", "scale", "contrast_limits", "blending"):
            assert meta_b.get(key) == meta_a.get(key), key
        rgb = meta_a["rgb"]
        assert (meta_a["name"], meta_b["name"]) == ((raw_path.stem, jxr_path.stem) if rgb else (meta_a["name"],) * 2)
        assert [level.shape for level in b] == [level.shape for level in a]
        for level in (0, len(a) - 1):
            h, w = a[level].shape[:2] if rgb else a[level].shape[-2:]
            for region in _regions(w, h):
                np.testing.assert_array_equal(_crop(b[level], rgb, *region), _crop(a[level], rgb, *region))


@pytest.mark.parametrize("rgb", [False, True], ids=["fluorescence", "brightfield"])
def test_a_czi_with_several_scenes_shows_every_scene_in_place(tmp_path, rgb):
    """Scenes (an Axioscan's tissue sections) are composed where they lie, the glass between them background."""
    import warnings

    from pylibCZIrw import czi as pyczi

    path = str(tmp_path / "scenes.czi")
    if rgb:  # BGR24, stored B, G, R
        first = np.broadcast_to(np.array([10, 120, 230], np.uint8), (256, 384, 3))
        second = np.broadcast_to(np.array([200, 60, 5], np.uint8), (200, 256, 3))
        glass = 255
    else:
        first, second, glass = np.full((256, 384, 1), 1000, np.uint16), np.full((200, 256, 1), 2000, np.uint16), 0
    with pyczi.create_czi(path, exist_ok=True) as w:
        w.write(np.ascontiguousarray(first), location=(-500, 100), plane={"C": 0}, scene=0)
        w.write(np.ascontiguousarray(second), location=(1000, 400), plane={"C": 0}, scene=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing left out, nothing to warn about
        slide = open_slide(path)
    with slide:
        assert slide.dimensions == (1756, 500)
        assert slide.properties["zeiss.scenes"] == "0: 0,0,384x256; 1: 1500,300,256x200"
        want = np.full((500, 1756, first.shape[-1]), glass, first.dtype)
        want[:256, :384], want[300:, 1500:] = first, second
        if rgb:
            want = want[..., ::-1]
        got = slide.read_region((0, 0), 0, (1756, 500))
        np.testing.assert_array_equal(got.reshape(want.shape), want)
