"""Embedded ICC profiles: reads in sRGB exactly as Pillow's ImageCms renders the raw pixels, raw on request."""

from __future__ import annotations

import base64
import io
import pickle
import warnings

import numpy as np
import openslide
import pytest
import zarr
from PIL import Image, ImageCms

from napari_wsi_io import open_slide
from napari_wsi_io._reader import slide_layers
from napari_wsi_io.backends import available_backends
from napari_wsi_io.backends._lcms import SrgbTransform
from napari_wsi_io.bench.readers import open_cpu, region_reader
from napari_wsi_io.cli import main
from napari_wsi_io.export import export_ome_zarr
from napari_wsi_io.pyramid import display_pyramid, pyramid
from napari_wsi_io.synthetic import write_philips, write_synthetic_slide
from napari_wsi_io.synthetic.icc import ADOBE_RGB, adobe_rgb_profile, matrix_trc_profile, with_icc_profile

ICC = adobe_rgb_profile()


def imagecms_srgb(raw: np.ndarray, icc: bytes = ICC) -> np.ndarray:
    """What napari-wsi and OpenSlide's examples show: ImageCms from the profile to sRGB, its default intent."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    srgb = ImageCms.createProfile("sRGB")
    transform = ImageCms.buildTransform(profile, srgb, "RGB", "RGB", ImageCms.getDefaultIntent(profile))
    return np.asarray(ImageCms.applyTransform(Image.fromarray(np.ascontiguousarray(raw)), transform))


def whole(slide, level: int) -> np.ndarray:
    w, h = slide.level_dimensions[level]
    return slide.read_level(level, 0, 0, w, h)


@pytest.fixture(scope="session")
def plain(tmp_path_factory):
    d = tmp_path_factory.mktemp("icc")
    return write_synthetic_slide(d / "plain.svs", (1100, 1500), aperio=True, min_level_side=256)


@pytest.fixture(scope="session")
def adobe(plain):
    return with_icc_profile(plain, plain.with_name("adobe.svs"), ICC)


def test_the_generated_profile_is_adobe_rgb_to_little_cms():
    profile = ImageCms.ImageCmsProfile(io.BytesIO(ICC)).profile
    assert profile.is_matrix_shaper and profile.xcolor_space.strip() == "RGB"
    for name in ("red", "green", "blue"):
        assert getattr(profile, f"{name}_colorant")[0] == pytest.approx(ADOBE_RGB[name], abs=1e-4)
    assert profile.media_white_point[0] == pytest.approx(ADOBE_RGB["white"], abs=1e-4)
    assert "Adobe RGB (1998)" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(ICC)))


@pytest.mark.parametrize("backend", ["cucim", "tifffile", "openslide", "tiffslide"])
def test_a_slide_with_a_profile_reads_in_srgb_like_imagecms(adobe, plain, backend):
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed")
    with open_slide(adobe, backend) as slide, open_slide(adobe, backend, colour="raw") as raw:
        assert (slide.backend, slide.colour, raw.colour) == (backend, "srgb", "raw")
        assert slide.icc_profile == raw.icc_profile == ICC
        for level in range(slide.level_count):
            stored = whole(raw, level)
            shown = whole(slide, level)
            np.testing.assert_array_equal(shown, imagecms_srgb(stored))
            assert np.abs(shown.astype(int) - stored).mean() > 1  # Adobe RGB is not sRGB
        np.testing.assert_array_equal(
            slide.read_region((300, 200), 1, (400, 300)), imagecms_srgb(raw.read_region((300, 200), 1, (400, 300)))
        )
    with open_slide(plain, backend) as original:  # raw: the file's pixels, as without a profile
        np.testing.assert_array_equal(whole(open_slide(adobe, backend, colour="raw"), 0), whole(original, 0))


def test_openslide_reads_the_same_profile_and_renders_the_same(adobe):
    with openslide.OpenSlide(str(adobe)) as osr, open_slide(adobe) as slide:
        region = osr.read_region((512, 256), 0, (640, 480))
        assert region.info["icc_profile"] == slide.icc_profile == ICC
        profile = osr.color_profile
        transform = ImageCms.buildTransform(
            profile, ImageCms.createProfile("sRGB"), "RGB", "RGB", ImageCms.getDefaultIntent(profile)
        )
        expected = np.asarray(ImageCms.applyTransform(region.convert("RGB"), transform))
        np.testing.assert_array_equal(slide.read_level(0, 512, 256, 640, 480), expected)


def test_raw_on_request_and_by_the_setting(adobe, monkeypatch):
    monkeypatch.setenv("NAPARI_WSI_IO_COLOUR", "raw")
    with open_slide(adobe) as slide:
        assert slide.colour == "raw" and slide.icc_profile == ICC and slide.colour_transform is None
    with open_slide(adobe, colour="srgb") as slide:  # the argument wins over the setting
        assert slide.colour == "srgb"
    monkeypatch.setenv("NAPARI_WSI_IO_COLOUR", "sRGB")
    with open_slide(adobe) as slide:
        assert slide.colour == "srgb"
    with pytest.raises(ValueError, match="unknown colour 'p3'"):
        open_slide(adobe, colour="p3")


def test_a_slide_without_a_profile_is_unchanged(plain, slides):
    for path in (plain, slides["svs"], slides["deflate"], slides["gray16"]):
        with open_slide(path) as slide, open_slide(path, colour="raw") as raw:
            assert (slide.colour, slide.icc_profile, slide.colour_transform) == ("raw", None, None)
            np.testing.assert_array_equal(whole(slide, slide.level_count - 1), whole(raw, raw.level_count - 1))


def test_every_read_path_gives_srgb(adobe):
    with open_slide(adobe) as slide, open_slide(adobe, colour="raw") as raw:
        expected = [imagecms_srgb(whole(raw, level)) for level in range(raw.level_count)]
        for level, want in enumerate(expected):
            np.testing.assert_array_equal(pyramid(slide, chunks=(256, 256))[level].compute(), want)
            shown = display_pyramid(slide, prefetch=False)
            np.testing.assert_array_equal(np.asarray(shown[level]), want)  # cuCIM: one whole-level read
            np.testing.assert_array_equal(np.asarray(shown[level][100:700, 50:650]), want[100:700, 50:650])
        assert pyramid(slide)[0].name != pyramid(raw)[0].name  # dask never mixes the two


def test_a_pickled_slide_reopens_in_its_colour(adobe):
    for colour in ("srgb", "raw"):
        with open_slide(adobe, colour=colour) as slide:
            again = pickle.loads(pickle.dumps(slide))
            assert (type(again), again.colour) == (type(slide), colour)
            np.testing.assert_array_equal(whole(again, 1), whole(slide, 1))
            again.close()


def test_a_broken_profile_warns_once_naming_the_file_and_reads_raw(plain, tmp_path):
    broken = with_icc_profile(plain, tmp_path / "broken.svs", b"not an ICC profile" * 10)
    with pytest.warns(RuntimeWarning, match=f"{broken}: a damaged ICC profile .*raw pixels"):
        slide = open_slide(broken)
    assert slide.colour == "raw" and slide.icc_profile == b"not an ICC profile" * 10
    with open_slide(plain) as original:
        np.testing.assert_array_equal(whole(slide, 0), whole(original, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per file: reopening it is quiet
        open_slide(broken).close()
    slide.close()


def test_a_profile_for_other_pixels_warns_and_reads_raw(plain, tmp_path):
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    path = with_icc_profile(plain, tmp_path / "lab.svs", lab)
    with pytest.warns(RuntimeWarning, match=f"{path}: an ICC profile for Lab pixels, not RGB"):
        slide = open_slide(path)
    assert slide.colour == "raw" and slide.colour_transform is None
    slide.close()


def test_another_matrix_profile_renders_like_imagecms(plain, tmp_path):
    # Wide-gamut primaries, D50 white, gamma 1.8 (ProPhoto-like): the transform is per profile.
    icc = matrix_trc_profile(
        (0.7977, 0.2880, 0.0), (0.1352, 0.7119, 0.0), (0.0313, 0.0001, 0.8249), (0.9642, 1.0, 0.8249), 1.8
    )
    path = with_icc_profile(plain, tmp_path / "wide.svs", icc)
    with open_slide(path) as slide, open_slide(path, colour="raw") as raw:
        np.testing.assert_array_equal(whole(slide, 1), imagecms_srgb(whole(raw, 1), icc))


def test_the_transform_matches_imagecms_on_every_colour():
    transform = SrgbTransform(ICC)
    assert transform.engine == "lcms"  # Little CMS straight on the NumPy buffer, where Pillow links it
    every = np.arange(1 << 24, dtype=np.uint32).view(np.uint8).reshape(4096, 4096, 4)[..., :3].copy()
    np.testing.assert_array_equal(transform(every.copy()), imagecms_srgb(every))
    view = every[:300:3, 10:400:2]  # not packed: transformed through a copy, written back
    expected = imagecms_srgb(view)
    assert transform(view) is view
    np.testing.assert_array_equal(view, expected)
    frozen = every[:64, :64].copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(transform(frozen), imagecms_srgb(frozen))


def test_philips_xml_profile(tmp_path):
    src = write_philips(tmp_path / "plain.tiff", shape=(750, 1000), levels=3)
    path = with_icc_profile(src, tmp_path / "icc.tiff", ICC, place="philips-xml")
    with open_slide(path) as slide, open_slide(path, colour="raw") as raw:
        assert slide.vendor == "philips" and slide.colour == "srgb" and slide.icc_profile == ICC
        np.testing.assert_array_equal(whole(slide, 1), imagecms_srgb(whole(raw, 1)))


def test_dicom_profile_through_openslide(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    from test_openslide_formats import write_dicom_wsi

    image = np.random.default_rng(3).integers(0, 256, (512, 768, 3), dtype=np.uint8)
    for path in write_dicom_wsi(tmp_path, image):
        ds = pydicom.dcmread(path)
        optical = Dataset()
        optical.ICCProfile = ICC
        ds.OpticalPathSequence = Sequence([optical])
        ds.save_as(path, enforce_file_format=True)
    with open_slide(tmp_path) as slide:
        assert (slide.vendor, slide.colour, slide.icc_profile) == ("dicom", "srgb", ICC)
        np.testing.assert_array_equal(whole(slide, 0), imagecms_srgb(image))


def test_layer_metadata_says_which_pixels_and_carries_the_profile(adobe, plain, monkeypatch):
    [(_, kwargs, _)] = slide_layers(adobe)
    meta = kwargs["metadata"]
    assert meta["colour"] == "srgb" and meta["icc_profile"] == ICC
    assert "Adobe RGB (1998)" in meta["icc_profile_description"]
    [(_, kwargs, _)] = slide_layers(plain)
    assert kwargs["metadata"]["colour"] == "raw" and kwargs["metadata"]["icc_profile"] is None
    monkeypatch.setenv("NAPARI_WSI_IO_COLOUR", "raw")
    [(_, kwargs, _)] = slide_layers(adobe)
    assert kwargs["metadata"]["colour"] == "raw" and kwargs["metadata"]["icc_profile"] == ICC


def test_bench_reads_raw_unless_asked(adobe):
    with open_cpu(str(adobe), "tifffile") as raw, open_cpu(str(adobe), "tifffile", "srgb") as srgb:
        assert (raw.colour, srgb.colour) == ("raw", "srgb")
        for slide in (raw, srgb):
            out = np.zeros((300, 400, 3), np.uint8)
            region_reader(slide, 0)((100, 50, 400, 300), out)
            np.testing.assert_array_equal(out, slide.read_level(0, 100, 50, 400, 300))
        assert not np.array_equal(raw.read_level(0, 0, 0, 64, 64), srgb.read_level(0, 0, 0, 64, 64))


@pytest.mark.parametrize(("args", "colour"), [([], "raw"), (["--colour", "srgb"], "srgb")])
def test_convert_reads_raw_unless_asked_and_keeps_the_profile(adobe, tmp_path, args, colour):
    out = tmp_path / "s.ome.zarr"
    assert main(["convert", str(adobe), str(out), "--levels", "1", "--chunk", "256", *args]) == 0
    attrs = zarr.open_group(out, mode="r").attrs.asdict()["napari_wsi_io"]
    assert attrs["colour"] == colour and base64.b64decode(attrs["icc_profile"]) == ICC
    stored = np.moveaxis(zarr.open_array(out / "0", mode="r")[...], 0, -1)
    with open_slide(adobe, colour=colour) as slide:
        np.testing.assert_array_equal(stored, whole(slide, 1))


def test_export_in_processes_keeps_the_colour(adobe, tmp_path):
    out = tmp_path / "p.ome.zarr"
    export_ome_zarr(str(adobe), out, levels=[1], chunk=256, scheduler="processes", workers=2, colour="srgb")
    stored = np.moveaxis(zarr.open_array(out / "0", mode="r")[...], 0, -1)
    with open_slide(adobe) as slide:
        np.testing.assert_array_equal(stored, whole(slide, 1))
