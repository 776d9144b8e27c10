"""Hamamatsu NDPI: levels, metadata and pixels as OpenSlide reads them, restart-interval access, damage."""

from __future__ import annotations

import shutil
import struct

import npe2
import numpy as np
import openslide
import pytest
import tifffile

from napari_wsi_io import SlideReadError, open_slide
from napari_wsi_io._reader import slide_layers
from napari_wsi_io.synthetic.ndpi import write_ndpi

SHAPE = (768, 1536)  # (height, width): 6 x 96 restart intervals of 256 x 8 px at level 0


@pytest.fixture(scope="module")
def ndpi(tmp_path_factory):
    return write_ndpi(tmp_path_factory.mktemp("ndpi") / "slide.ndpi", SHAPE, tile_width=256, min_level_side=192)


@pytest.fixture
def copy(ndpi, tmp_path):
    path = tmp_path / "damaged.ndpi"
    shutil.copy(ndpi, path)
    return path


def _oracle(path):
    return openslide.OpenSlide(str(path))


def test_levels_metadata_and_macro_as_openslide_reads_them(ndpi):
    oracle = _oracle(ndpi)
    with open_slide(ndpi) as slide:
        assert slide.vendor == oracle.properties["openslide.vendor"] == "hamamatsu"
        assert slide.backend == "tifffile" and "NDPI" in slide.fallback_reason
        # OpenSlide adds levels it scales down from the smallest JPEG in decoding; ours are the stored ones.
        n = slide.level_count
        assert slide.level_dimensions == ((1536, 768), (768, 384), (384, 192))
        assert oracle.level_dimensions[:n] == slide.level_dimensions
        assert all(w < slide.level_dimensions[-1][0] for w, _ in oracle.level_dimensions[n:])
        assert slide.level_tile_sizes[0] == (256, 8)
        assert slide.mpp == pytest.approx(
            (float(oracle.properties["openslide.mpp-x"]), float(oracle.properties["openslide.mpp-y"]))
        )
        assert slide.mpp[0] == pytest.approx(0.4545, rel=1e-6)
        assert slide.associated_images == tuple(oracle.associated_images) == ("macro",)
        ours = {k: v for k, v in slide.properties.items() if k.startswith("hamamatsu.")}
        theirs = {k: v for k, v in oracle.properties.items() if k.startswith("hamamatsu.")}
        assert ours == theirs
        assert ours["hamamatsu.SourceLens"] == "20" and ours["hamamatsu.XOffsetFromSlideCentre"] == "1234567"
        assert slide.properties["openslide.objective-power"] == oracle.properties["openslide.objective-power"]
        macro = slide.read_associated("macro")
        np.testing.assert_array_equal(macro, np.asarray(oracle.associated_images["macro"])[..., :3])


def test_pixels_match_openslide(ndpi):
    oracle = _oracle(ndpi)
    with open_slide(ndpi) as slide:
        for level, (w, h) in enumerate(slide.level_dimensions):
            ours = slide.read_level(level, 0, 0, w, h).astype(int)
            theirs = np.asarray(oracle.read_region((0, 0), level, (w, h)))[..., :3]
            diff = np.abs(ours - theirs)
            # OpenSlide decodes each restart interval alone, we decode runs of them: chroma upsampling differs
            # in the first and last column of an interval, nowhere else.
            assert diff.max() <= 24 and diff.mean() < 0.2, (level, diff.max(), diff.mean())
            inner, tw = np.ones(w, bool), slide.level_tile_sizes[level][0]
            inner[tw - 1 :: tw] = inner[tw::tw] = False
            assert diff[:, inner].max() == 0
        # A region crossing interval and MCU-row edges, in level-0 coordinates, as OpenSlide takes it.
        region = slide.read_region((200 * 2, 13 * 2), 1, (300, 37)).astype(int)
        theirs = np.asarray(oracle.read_region((400, 26), 1, (300, 37)))[..., :3]
        assert np.abs(region - theirs).max() <= 24


def test_regions_and_intervals_agree_with_the_whole_level(ndpi):
    with open_slide(ndpi) as slide:
        whole = slide.read_level(0, 0, 0, *slide.dimensions)
        for x, y, w, h in [(0, 0, 1, 1), (255, 7, 2, 2), (250, 3, 700, 500), (1000, 760, 536, 8), (1535, 767, 1, 1)]:
            np.testing.assert_array_equal(slide.read_level(0, x, y, w, h), whole[y : y + h, x : x + w])
        tiles = slide.tiles[0]
        assert (tiles.rows, tiles.cols) == (96, 6)
        np.testing.assert_array_equal(tiles.decode(5, 3), whole[40:48, 768:1024])
        # Each interval alone is a JPEG the structural checks pass and libjpeg decodes.
        data = tiles.raw(95, 5)
        tiles.check(95, 5, data)
        assert data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")


def test_napari_reader_gives_the_ndpi_pyramid_in_microns(ndpi):
    npe2.PluginManager.instance().discover()
    data, meta, kind = npe2.read([str(ndpi)], stack=False, plugin_name="napari-wsi-io")[0]
    assert kind == "image" and meta["rgb"] and meta["multiscale"]
    assert meta["metadata"]["vendor"] == "hamamatsu" and meta["metadata"]["backend"] == "tifffile"
    assert "NDPI" in meta["metadata"]["fallback_reason"]
    assert meta["metadata"]["associated_images"] == ["macro"]
    assert meta["scale"] == pytest.approx((0.4545, 0.4545), rel=1e-6)
    assert [a.shape for a in data] == [(768, 1536, 3), (384, 768, 3), (192, 384, 3)]
    layers = slide_layers(ndpi)
    with open_slide(ndpi) as slide:
        np.testing.assert_array_equal(
            np.asarray(layers[0][0][1][100:300, 300:700]), slide.read_level(1, 300, 100, 400, 200)
        )


def _mcu_starts_tag(path, page=0):
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[page].tags[65426]
        return tag.offset, tag.valueoffset, np.asarray(tag.value, np.int64)


def _patch_starts(path, values):
    _, offset, _ = _mcu_starts_tag(path)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(f"<{len(values)}I", *values))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("swap", "McuStarts .* out of order"),
        ("past-end", "McuStarts .* point past the end of the JPEG strip"),
        ("count", "McuStarts .* lists 575 restart intervals where 576 are needed"),
        ("first", "the first McuStart"),
    ],
)
def test_damaged_mcu_starts_are_refused_naming_the_file(copy, damage, message):
    tag_offset, _, starts = _mcu_starts_tag(copy)
    if damage == "swap":
        starts[[10, 11]] = starts[[11, 10]]
        _patch_starts(copy, starts)
    elif damage == "past-end":
        starts[-1] = 1 << 31
        _patch_starts(copy, starts)
    elif damage == "first":
        starts[0] += 1
        _patch_starts(copy, starts)
    else:  # the IFD entry's count
        with open(copy, "r+b") as f:
            f.seek(tag_offset + 4)
            f.write(struct.pack("<I", len(starts) - 1))
    with pytest.raises(SlideReadError, match=f"cannot read {copy}: level 0: {message}"):
        open_slide(copy)


def test_mcu_starts_that_miss_the_markers_fail_on_read_naming_the_interval(copy):
    _, _, starts = _mcu_starts_tag(copy)
    starts[20] += 1  # one byte after the restart marker: the previous interval ends inside entropy data
    _patch_starts(copy, starts)
    with open_slide(copy) as slide:
        slide.read_level(0, 0, 0, 256, 8)  # elsewhere the slide still reads
        with pytest.raises(SlideReadError, match=rf"cannot read {copy}: level 0, tile \(1, 3\): .*restart interval"):
            slide.read_level(0, 0, 0, 1536, 80)


def test_corrupt_restart_interval_is_an_error_naming_it(ndpi, copy):
    with tifffile.TiffFile(ndpi) as tif:
        page = tif.pages[0]
        offset, count = page.dataoffsets[6 * 7 + 2], page.databytecounts[6 * 7 + 2]
    with open(copy, "r+b") as f:
        f.seek(offset + count // 2)
        f.write(b"\xff\xc4\x12\x34")  # a marker inside the entropy data
    with open_slide(copy) as slide:
        with pytest.raises(SlideReadError, match=rf"cannot read {copy}: level 0, tile \(2, 7\): a marker inside"):
            slide.read_level(0, 0, 0, 1536, 768)
        with pytest.raises(SlideReadError, match=r"tile \(2, 7\)"):
            slide.tiles[0].decode(7, 2)
        np.testing.assert_array_equal(
            slide.read_level(0, 0, 64, 1536, 704), open_slide(ndpi).read_level(0, 0, 64, 1536, 704)
        )


def test_random_damage_to_a_strip_never_crashes(ndpi, copy):
    with tifffile.TiffFile(ndpi) as tif:
        page = tif.pages[1]
        start, end = page.dataoffsets[0] - len(page.jpegheader), page.dataoffsets[-1] + page.databytecounts[-1]
    original = copy.read_bytes()
    rng = np.random.default_rng(1)
    outcomes = set()
    for _ in range(40):
        data = bytearray(original)
        for pos in rng.integers(start, end, rng.integers(1, 8)):
            data[pos] = rng.integers(0, 256)
        copy.write_bytes(bytes(data))
        try:
            with open_slide(copy) as slide:
                slide.read_level(1, 0, 0, *slide.level_dimensions[1])
            outcomes.add("read")
        except SlideReadError as exc:
            assert str(copy) in str(exc)
            outcomes.add("error")
    assert outcomes == {"read", "error"}


def test_without_mcu_starts_the_restart_markers_are_found_by_scanning(tmp_path):
    path = write_ndpi(tmp_path / "old.ndpi", (4160, 4096), min_level_side=1024, mcu_starts=False)
    with open_slide(path) as slide, _oracle(path) as oracle:
        assert slide.level_dimensions == oracle.level_dimensions[: slide.level_count]
        assert slide.level_tile_sizes[0] == (512, 8) and slide.tiles[0].rows == 520
        for level in range(slide.level_count):
            ours = slide.read_region((1000, 2000), level, (700, 300)).astype(int)
            theirs = np.asarray(oracle.read_region((1000, 2000), level, (700, 300)))[..., :3]
            assert np.abs(ours - theirs).max() <= 24


def test_without_mcu_starts_a_lost_restart_marker_is_an_error(tmp_path):
    path = write_ndpi(tmp_path / "old.ndpi", SHAPE, tile_width=256, min_level_side=768, mcu_starts=False)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        start, size = tif.pages[0].dataoffsets[0], tif.pages[0].databytecounts[0]
    marker = data.index(b"\xff\xd3", start, start + size)
    data[marker + 1] = 0x00  # the marker becomes stuffed data
    path.write_bytes(bytes(data))
    with pytest.raises(SlideReadError, match=f"cannot read {path}: level 0: no McuStarts .* 575 restart intervals"):
        open_slide(path)


def test_a_level_wider_than_jpeg_can_say_is_read_by_its_intervals(tmp_path):
    # The strip's frame header says 0 for a side over 65500 px, as scanners write it; the TIFF tags say the size.
    path = write_ndpi(tmp_path / "wide.ndpi", (512, 66560), min_level_side=512, macro=False)
    with open_slide(path) as slide, _oracle(path) as oracle:
        assert slide.level_dimensions == oracle.level_dimensions[:1] == ((66560, 512),)
        ours = slide.read_region((65000, 100), 0, (1500, 200)).astype(int)
        assert np.abs(ours - np.asarray(oracle.read_region((65000, 100), 0, (1500, 200)))[..., :3]).max() <= 24


def test_a_page_without_source_lens_is_refused_naming_it(ndpi, copy):
    with tifffile.TiffFile(ndpi) as tif:
        entry = tif.pages[1].tags[65421].offset
    with open(copy, "r+b") as f:
        f.seek(entry)
        f.write(struct.pack("<H", 65000))  # the entry becomes a private tag of no meaning
    with pytest.raises(SlideReadError, match=f"cannot read {copy}: NDPI page 1 has no SourceLens tag"):
        open_slide(copy)


def test_colours_follow_the_jpeg_markers_as_in_openslide(ndpi, copy):
    # Without a JFIF marker libjpeg takes components 1, 2, 3 as YCbCr whatever the photometric tag says.
    data = copy.read_bytes()
    jfif = data[data.index(b"\xff\xe0\x00\x10JFIF\x00") :][:18]
    assert data.count(jfif) == 4  # three levels and the macro
    copy.write_bytes(data.replace(jfif, b"\xff\xfe\x00\x10" + b"no JFIF here!!"))
    oracle = _oracle(copy)
    with open_slide(copy) as slide:
        assert not slide.tiles[0].jpeg.jfif
        for level in (0, 2):
            ours = slide.read_region((512, 256), level, (300, 100)).astype(int)
            theirs = np.asarray(oracle.read_region((512, 256), level, (300, 100)))[..., :3]
            assert np.abs(ours - theirs).max() <= 24
        macro = slide.read_associated("macro")
        np.testing.assert_array_equal(macro, np.asarray(oracle.associated_images["macro"])[..., :3])
