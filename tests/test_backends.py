import subprocess
import sys

import numpy as np
import openslide
import pytest
import tifffile

from napari_wsi_io import SlideReadError, open_slide
from napari_wsi_io.backends import available_backends, cucim_version

needs_cucim = pytest.mark.skipif(cucim_version() is None, reason="cuCIM is not installed")

# kind -> (backend chosen automatically, words of the fallback reason)
ROUTES = {
    "svs": ("cucim", None),
    "jpeg": ("cucim", None),
    "lzw": ("tifffile", "LZW"),
    "raw": ("cucim", None),
    "deflate": ("tifffile", "DEFLATE"),
    "deflate-small-tiles": ("tifffile", "DEFLATE"),
    "striped": ("tifffile", "striped"),
    "gray16": ("tifffile", "16 bits"),
    "subifds": ("tifffile", "SubIFDs"),
}


def independent_levels(path):
    """Every level decoded by tifffile alone."""
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        if series.levels and len(series.levels) > 1 and tif.pages[0].subifds:
            return [level.asarray() for level in series.levels]
        first = tif.pages[0]
        pages = [p for p in tif.pages if p.is_tiled or p is first]
        pages = [p for p in pages if p.samplesperpixel == first.samplesperpixel and p.imagewidth <= first.imagewidth]
        return [p.asarray() for p in pages if (p.description or "").lower().split()[-1:] != ["label"]]


@pytest.mark.parametrize("kind", ROUTES)
@pytest.mark.parametrize("backend", [None, "tifffile"])
def test_every_level_matches_independent_decode(slides, kind, backend):
    expected = independent_levels(slides[kind])
    with open_slide(slides[kind], backend=backend) as slide:
        assert slide.level_count == len(expected)
        for level, ref in enumerate(expected):
            w, h = slide.level_dimensions[level]
            got = slide.read_level(level, 0, 0, w, h)
            assert got.shape == ref.shape and got.dtype == ref.dtype
            np.testing.assert_array_equal(got, ref, err_msg=f"{kind} level {level}")
            # An interior region that crosses tile edges, at odd offsets.
            x, y = w // 3 + 1, h // 3 + 3
            np.testing.assert_array_equal(
                slide.read_level(level, x, y, w // 2, h // 3), ref[y : y + h // 3, x : x + w // 2]
            )


@needs_cucim
@pytest.mark.parametrize("kind", ROUTES)
def test_cucim_first_with_fallback_for_unsafe_files(slides, kind):
    backend, reason = ROUTES[kind]
    with open_slide(slides[kind]) as slide:
        assert slide.backend == backend
        if reason:
            assert reason in slide.fallback_reason


def test_file_that_crashes_cucim_never_reaches_it(slides):
    path = slides["deflate-small-tiles"]
    code = (
        "import numpy as np, sys; from napari_wsi_io import open_slide;"
        f"s = open_slide({str(path)!r}); w, h = s.dimensions; a = s.read_level(0, 0, 0, w, h);"
        "print(s.backend, a.mean())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tifffile")


@needs_cucim
def test_damage_tifffile_only_warns_about_keeps_cucim_away(slides, tmp_path):
    """An associated image's StripOffsets pointing outside the file has crashed cuCIM's open."""
    path = tmp_path / "bad-macro-offsets.svs"
    path.write_bytes(slides["svs"].read_bytes())
    with tifffile.TiffFile(path) as tif:
        macro = next(p for p in tif.pages if "macro" in (p.description or ""))
        entry = macro.tags["StripOffsets"].offset
    with open(path, "r+b") as f:
        f.seek(entry + 8)  # the entry's value offset (classic TIFF)
        f.write((0xFFFFFF00).to_bytes(4, "little"))
    with open_slide(path) as slide, open_slide(slides["svs"], backend="tifffile") as good:
        assert slide.backend == "tifffile"
        assert "tifffile reports damage" in slide.fallback_reason and "invalid value offset" in slide.fallback_reason
        np.testing.assert_array_equal(slide.read_level(1, 0, 0, 500, 400), good.read_level(1, 0, 0, 500, 400))


def test_backend_forced_by_environment(slides, monkeypatch):
    monkeypatch.setenv("NAPARI_WSI_IO_BACKEND", "tifffile")
    with open_slide(slides["svs"]) as slide:
        assert slide.backend == "tifffile"
    monkeypatch.setenv("NAPARI_WSI_IO_BACKEND", "nonsense")
    with pytest.raises(ValueError, match="unknown backend 'nonsense'"):
        open_slide(slides["svs"])


@needs_cucim
def test_forcing_cucim_on_an_unsafe_file_is_refused(slides):
    with pytest.raises(SlideReadError, match="cuCIM cannot read it safely: a TIFF predictor|DEFLATE"):
        open_slide(slides["deflate-small-tiles"], backend="cucim")


@pytest.mark.parametrize(("kind", "mpp"), [("svs", 0.2520), ("jpeg", 0.5), ("lzw", 0.5), ("deflate", 0.5)])
def test_mpp_agrees_with_openslide(slides, kind, mpp):
    with open_slide(slides[kind]) as slide:
        assert slide.mpp == pytest.approx((mpp, mpp))
    osl = openslide.OpenSlide(slides[kind])
    assert float(osl.properties["openslide.mpp-x"]) == pytest.approx(slide.mpp[0])
    assert float(osl.properties["openslide.mpp-y"]) == pytest.approx(slide.mpp[1])


def test_svs_metadata(slides):
    with open_slide(slides["svs"]) as slide:
        assert slide.vendor == "aperio"
        assert slide.associated_images == ("thumbnail", "label", "macro")
        assert slide.properties["aperio.MPP"] == "0.2520"
        assert slide.level_dimensions[:2] == ((4000, 3000), (2000, 1500))
        assert slide.level_downsamples[:2] == (1.0, 2.0)
        assert slide.level_tile_sizes[0] == (256, 256)
        assert slide.read_associated("label").shape == (400, 400, 3)


@pytest.mark.parametrize("backend", ["openslide", "tiffslide", "cucim", "tifffile"])
def test_read_region_matches_openslide_convention(slides, backend):
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed")
    path = slides["svs"]
    ref = np.asarray(openslide.OpenSlide(path).read_region((1000, 600), 1, (300, 200)))[..., :3]
    with open_slide(path, backend=backend) as slide:
        assert slide.backend == backend
        np.testing.assert_array_equal(slide.read_region((1000, 600), 1, (300, 200)), ref)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("random", "not a TIFF file"),
        ("empty", "the file is empty"),
        ("truncated", "past the end of the file"),
        ("unsupported", "unsupported compression"),
    ],
)
def test_bad_files_get_a_clear_error(bad_slides, kind, reason):
    path = bad_slides[kind]
    with pytest.raises(SlideReadError) as info:
        open_slide(path)
    assert str(info.value).startswith(f"cannot read {path}: ")
    assert reason in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(SlideReadError, match="no such file"):
        open_slide(tmp_path / "nope.svs")


@pytest.mark.parametrize("backend", [None, "tifffile"])
def test_corrupt_jpeg_tile_is_reported_not_silently_wrong(corrupt_slide, backend):
    with open_slide(corrupt_slide, backend=backend) as slide:
        # Tile (5, 0) of level 0 is damaged: reading it names file, level and tile.
        with pytest.raises(SlideReadError) as info:
            slide.read_level(0, 5 * 256 + 10, 10, 100, 100)
        message = str(info.value)
        assert message.startswith(f"cannot read {corrupt_slide}: level 0, tile (5, 0): JPEG tile")
        # The rest of the slide reads normally.
        good = slide.read_level(0, 0, 0, 5 * 256, 1024)
        assert good.std() > 5
        with pytest.raises(SlideReadError, match=r"tile \(5, 0\)"):
            slide.read_level(0, 0, 0, 2048, 2048)


def test_slide_pickles_by_path(slides):
    import pickle

    with open_slide(slides["svs"]) as slide:
        clone = pickle.loads(pickle.dumps(slide))
        assert clone.backend == slide.backend
        np.testing.assert_array_equal(clone.read_level(2, 0, 0, 64, 64), slide.read_level(2, 0, 0, 64, 64))
        clone.close()


# -- hostile tiles: what the fuzz tests (tests/test_fuzz.py) found, pinned down --


def _jpeg_segments(tile: bytes) -> dict[int, int]:
    """Marker -> position of the first segment of each kind, up to the scan."""
    pos, found = 2, {}
    while True:
        marker = tile[pos + 1]
        found.setdefault(marker, pos)
        if marker == 0xDA:
            return found
        pos += 2 + int.from_bytes(tile[pos + 2 : pos + 4], "big")


def _patch_tile(path, tmp_path, name, patch) -> tuple:
    """Copy ``path`` with ``patch(bytearray_of_tile)`` applied to level 0, tile 1."""
    with tifffile.TiffFile(path) as tif:
        offset, count = tif.pages[0].dataoffsets[1], tif.pages[0].databytecounts[1]
    data = bytearray(path.read_bytes())
    tile = bytearray(data[offset : offset + count])
    patch(tile)
    data[offset : offset + count] = tile
    out = tmp_path / name
    out.write_bytes(bytes(data))
    return out


def test_jpeg_tile_larger_than_its_tiff_tile_is_refused_without_a_crash(slides, tmp_path):
    """A JPEG header claiming 512 px in a 256 px tile segfaults raw cuCIM 26.10; the reader refuses the tile."""

    def widen(tile):
        tile[_jpeg_segments(tile)[0xC0] + 7] = 0x02  # SOF width 256 -> 512

    path = _patch_tile(slides["jpeg"], tmp_path, "wide.tif", widen)
    code = (
        "from napari_wsi_io import SlideReadError, open_slide\n"
        "for backend in (None, 'tifffile'):\n"
        f"    s = open_slide({str(path)!r}, backend)\n"
        "    s.read_level(0, 0, 0, 256, 256)\n"  # tile 0 is fine
        "    try:\n"
        "        s.read_level(0, 0, 0, 512, 256)\n"
        "    except SlideReadError as exc:\n"
        "        print(s.backend, exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith(("cucim ", "tifffile "))]
    reason = "level 0, tile (1, 0): JPEG tile header: size 512x256 where the TIFF says 256x256"
    assert lines == [f"{b} cannot read {path}: {reason}" for b in (ROUTES["jpeg"][0], "tifffile")]


@pytest.mark.parametrize(
    ("name", "patch", "reason"),
    [
        ("huffman", lambda t: t.__setitem__(_jpeg_segments(t)[0xC4] + 5, 0xFF), "bogus Huffman table definition"),
        ("dc-table", lambda t: t.__setitem__(_jpeg_segments(t)[0xC4] + 4, 0x02), "undefined Huffman table (DC 0)"),
        ("component", lambda t: t.__setitem__(_jpeg_segments(t)[0xDA] + 5, 9), "invalid component 9 in scan"),
        ("marker", lambda t: t.__setitem__(_jpeg_segments(t)[0xDB] + 1, 0x08), "unexpected marker 0x08"),
    ],
)
def test_jpeg_header_damage_libjpeg_refuses_is_an_error_in_every_backend(slides, tmp_path, name, patch, reason):
    """cuCIM would print an error and return stale pixels for these; both backends name the tile."""
    path = _patch_tile(slides["jpeg"], tmp_path, f"{name}.tif", patch)
    for backend in (None, "tifffile"):
        with open_slide(path, backend) as slide:
            with pytest.raises(SlideReadError, match=r"level 0, tile \(1, 0\): JPEG tile header: ") as info:
                slide.read_level(0, 200, 0, 100, 100)
            assert reason in str(info.value)


def test_jpeg_tiles_in_another_colour_space_than_the_tiff_says_go_to_the_fallback(tmp_path):
    """RGB-coded tiles (Adobe marker) under photometric YCbCr: libjpeg follows the marker, cuCIM the tag."""
    from test_fuzz import _gradient, _patch_all, _write_tables_pyramid

    path = _write_tables_pyramid(tmp_path / "rgb-under-ycbcr.tif", rgb=True)
    _patch_all(path, 262, 6)
    with open_slide(path) as slide:
        assert slide.backend == "tifffile" or cucim_version() is None
        if cucim_version() is not None:
            assert "where the TIFF says YCbCr (cuCIM would show wrong colours)" in slide.fallback_reason
        got = slide.read_level(0, 0, 0, *slide.dimensions)
    assert np.abs(got.astype(int) - _gradient(600, 808)).mean() < 3  # the true colours


@needs_cucim
def test_aperio_jpeg2000_ycbcr_tiles_are_converted_to_rgb_by_both_backends(tmp_path):
    """Aperio 33003 holds YCbCr; cuCIM converts it, tifffile alone would hand back YCbCr."""
    from test_fuzz import _gradient, _patch_all

    rgb = _gradient(512, 512).astype(float)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    ycc = np.stack(
        [
            0.299 * r + 0.587 * g + 0.114 * b,
            128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
            128 + 0.5 * r - 0.418688 * g - 0.081312 * b,
        ],
        axis=-1,
    )
    path = tmp_path / "ycbcr-j2k.tif"
    tifffile.imwrite(path, np.round(ycc).astype(np.uint8), tile=(256, 256), compression="jpeg2000", metadata=None)
    _patch_all(path, 259, 33003)
    with open_slide(path) as cu, open_slide(path, backend="tifffile") as tf:
        assert cu.backend == "cucim"
        a, b = cu.read_level(0, 0, 0, 512, 512), tf.read_level(0, 0, 0, 512, 512)
    assert np.abs(a.astype(int) - b).max() <= 1
    assert np.abs(b - rgb).mean() < 1.5


def test_a_loop_in_the_ifd_chain_does_not_repeat_images(slides, tmp_path):
    """An IFD pointing back to itself: tifffile warns once; the reader sees each IFD once."""
    with tifffile.TiffFile(slides["lzw"]) as tif:
        page = tif.pages[0]
        pointer = page.offset + 2 + 12 * len(page.tags)
    data = bytearray(slides["lzw"].read_bytes())
    data[pointer : pointer + 4] = page.offset.to_bytes(4, "little")
    path = tmp_path / "loop.tif"
    path.write_bytes(bytes(data))
    with open_slide(path) as slide:
        assert slide.level_count == 1 and slide.associated_images == ()
        np.testing.assert_array_equal(slide.read_level(0, 0, 0, *slide.dimensions), tifffile.imread(slides["lzw"]))


def test_damaged_tags_are_a_clean_error(slides, tmp_path):
    """A tag tifffile parses lazily and fails on later (here BitsPerSample 0) is reported when opening."""
    with tifffile.TiffFile(slides["raw"]) as tif:
        tag = tif.pages[0].tags["BitsPerSample"]
        where, count = tag.valueoffset, tag.count
    data = bytearray(slides["raw"].read_bytes())
    data[where : where + 2 * count] = bytes(2 * count)
    path = tmp_path / "bits0.tif"
    path.write_bytes(bytes(data))
    with pytest.raises(SlideReadError) as info:
        open_slide(path)
    assert str(info.value).startswith(f"cannot read {path}: ")
