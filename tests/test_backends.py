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
    "lzw": ("cucim", None),
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
