"""Formats only OpenSlide reads open through its backend, here a Hamamatsu VMU (uncompressed NGR levels)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import openslide
import pytest

from napari_wsi_io import SlideReadError, open_slide
from napari_wsi_io._reader import napari_get_reader, slide_layers


def _write_ngr(path: Path, rgb12: np.ndarray, column_width: int) -> None:
    """NGR as OpenSlide reads it: a 28-byte header, then columns of ``column_width`` px, 3 x 16-bit LE samples."""
    h, w, _ = rgb12.shape
    header = b"GN" + b"\0\0" + struct.pack("<iii", w, h, column_width) + b"\0" * 8 + struct.pack("<i", 28)
    columns = [rgb12[:, x : x + column_width].astype("<u2").tobytes() for x in range(0, w, column_width)]
    path.write_bytes(header + b"".join(columns))


def write_vmu(directory: Path, shape=(600, 800), column_width=200, mpp=0.46) -> tuple[Path, np.ndarray]:
    """A VMU slide (image + map level) and the 8-bit RGB OpenSlide shows for level 0."""
    rng = np.random.default_rng(3)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    rgb8 = np.stack([(x * 255 // w), (y * 255 // h), (x + y) % 256], axis=-1).astype(np.uint16)
    rgb12 = (rgb8 << 4) | rng.integers(0, 16, rgb8.shape, dtype=np.uint16)  # the low 4 bits are dropped
    _write_ngr(directory / "slide.ngr", rgb12, column_width)
    _write_ngr(directory / "map.ngr", rgb12[::4, ::4], column_width // 4)
    vmu = directory / "slide.vmu"
    vmu.write_text(
        "[Uncompressed Virtual Microscope Specimen]\n"
        "ImageFile=slide.ngr\nMapFile=map.ngr\nPixelOrder=RGB\nBitsPerPixel=36\n"
        f"PhysicalWidth={round(w * mpp * 1000)}\nPhysicalHeight={round(h * mpp * 1000)}\n"
    )
    return vmu, rgb8.astype(np.uint8)


@pytest.fixture(scope="module")
def vmu(tmp_path_factory):
    return write_vmu(tmp_path_factory.mktemp("vmu"))


def test_vmu_opens_through_openslide_like_openslide(vmu):
    path, rgb = vmu
    with open_slide(path) as slide, openslide.OpenSlide(str(path)) as osr:
        assert slide.backend == "openslide" and slide.vendor == "hamamatsu"
        assert "OpenSlide reads" in slide.fallback_reason
        assert slide.level_dimensions == tuple(osr.level_dimensions) == ((800, 600), (200, 150))
        assert slide.mpp == pytest.approx((0.46, 0.46), rel=1e-3)
        np.testing.assert_array_equal(slide.read_level(0, 0, 0, 800, 600), rgb)
        region = slide.read_level(1, 13, 7, 100, 80)
        expected = np.asarray(osr.read_region((13 * 4, 7 * 4), 1, (100, 80)))[..., :3]
        np.testing.assert_array_equal(region, expected)


def test_vmu_in_napari_reader(vmu):
    path, rgb = vmu
    assert napari_get_reader(str(path)) is not None
    [(data, kwargs, kind)] = slide_layers(path)
    assert kind == "image" and kwargs["metadata"]["backend"] == "openslide"
    assert kwargs["metadata"]["vendor"] == "hamamatsu"
    assert kwargs["scale"] == pytest.approx((0.46, 0.46), rel=1e-3)
    assert [level.shape for level in data] == [(600, 800, 3), (150, 200, 3)]
    np.testing.assert_array_equal(np.asarray(data[0][100:300, 500:700]), rgb[100:300, 500:700])


def test_forcing_another_backend_on_an_openslide_format_is_a_clear_error(vmu):
    path, _ = vmu
    with pytest.raises(SlideReadError, match=r"cannot read .*slide\.vmu: backend 'tifffile' cannot read"):
        open_slide(path, backend="tifffile")


def test_a_damaged_openslide_format_is_a_clear_error(vmu, tmp_path):
    path, _ = vmu
    for name in ("slide.vmu", "map.ngr"):
        (tmp_path / name).write_bytes((path.parent / name).read_bytes())
    ngr = (path.parent / "slide.ngr").read_bytes()
    (tmp_path / "slide.ngr").write_bytes(ngr[: len(ngr) // 2])  # truncated: the lower columns are missing
    with open_slide(tmp_path / "slide.vmu") as slide:
        slide.read_level(0, 0, 0, 100, 100)
        with pytest.raises(SlideReadError, match=r"slide\.vmu: level 0: OpenSlide"):
            slide.read_level(0, 700, 500, 100, 100)


def test_cli_info_bench_and_convert_on_an_openslide_format(vmu, tmp_path):
    path, rgb = vmu
    out = tmp_path / "vmu.ome.zarr"
    bench = ["bench", str(path), "--level", "0", "--strategy", "serial,processes", "--sink", "assemble"]
    outputs = []
    for args in (["info", str(path)], bench, ["convert", str(path), str(out), "--levels", "0"]):
        result = subprocess.run(
            [sys.executable, "-m", "napari_wsi_io.cli", *args], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert "vendor:     hamamatsu" in outputs[0] and "backend:    openslide" in outputs[0]
    rows = [line.split() for line in outputs[1].splitlines() if line.strip().startswith("0  openslide")]
    assert {row[2] for row in rows} == {"serial", "processes"} and all(row[-1] == "0" for row in rows)  # max diff
    import zarr

    group = zarr.open_group(str(out), mode="r")
    np.testing.assert_array_equal(np.moveaxis(group["0"][:], 0, -1), rgb)


WSI_STORAGE = "1.2.840.10008.5.1.4.1.1.77.1.6"  # VL Whole Slide Microscopy Image Storage


def write_dicom_wsi(
    folder: Path, image: np.ndarray, tile: int = 256, mpp: float = 0.5, levels: int = 2, missing: tuple = ()
) -> list[Path]:
    """A DICOM WSI series, one file per level, uncompressed RGB frames in TILED_FULL order.

    ``missing``: (row, column) tiles of level 0 left out (TILED_SPARSE, each frame placed by its position).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    study, series, frame_of_ref = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for level in range(levels):
        img = image[:: 2**level, :: 2**level]
        h, w, _ = img.shape
        rows, cols = -(-h // tile), -(-w // tile)
        padded = np.zeros((rows * tile, cols * tile, 3), np.uint8)
        padded[:h, :w] = img
        frames = padded.reshape(rows, tile, cols, tile, 3).swapaxes(1, 2).reshape(rows * cols, tile, tile, 3)
        kept = [(r, c) for r in range(rows) for c in range(cols) if level or (r, c) not in missing]
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = WSI_STORAGE, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = WSI_STORAGE, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame_of_ref
        ds.Modality = "SM"
        ds.ImageType = ["ORIGINAL" if level == 0 else "DERIVED", "PRIMARY", "VOLUME", "NONE"]
        ds.Rows = ds.Columns = tile
        ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows, ds.TotalPixelMatrixFocalPlanes = w, h, 1
        ds.NumberOfFrames = len(kept)
        ds.DimensionOrganizationType = "TILED_SPARSE" if len(kept) < rows * cols else "TILED_FULL"
        if len(kept) < rows * cols:
            per_frame = []
            for r, c in kept:
                position = Dataset()
                position.RowPositionInTotalImagePixelMatrix = r * tile + 1
                position.ColumnPositionInTotalImagePixelMatrix = c * tile + 1
                position.XOffsetInSlideCoordinateSystem = position.YOffsetInSlideCoordinateSystem = 0.0
                frame = Dataset()
                frame.PlanePositionSlideSequence = Sequence([position])
                per_frame.append(frame)
            ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        spacing = mpp * 2**level / 1000  # mm
        measures = Dataset()
        measures.PixelSpacing, measures.SliceThickness = [spacing, spacing], 0.001
        shared = Dataset()
        shared.PixelMeasuresSequence = Sequence([measures])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
        ds.ImagedVolumeWidth, ds.ImagedVolumeHeight = w * spacing, h * spacing
        ds.PixelData = frames[[r * cols + c for r, c in kept]].tobytes()
        paths.append(folder / f"level{level}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    return paths


def test_a_dicom_folder_opens_in_the_napari_reader(tmp_path):
    pytest.importorskip("pydicom")
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (700, 900, 3), dtype=np.uint8)
    write_dicom_wsi(tmp_path, image)
    reader = napari_get_reader(str(tmp_path))
    assert reader is not None
    [(data, kwargs, _)] = reader(str(tmp_path))
    assert kwargs["metadata"]["backend"] == "openslide" and kwargs["metadata"]["vendor"] == "dicom"
    assert kwargs["scale"] == pytest.approx((0.5, 0.5))
    assert [level.shape for level in data] == [(700, 900, 3), (350, 450, 3)]
    np.testing.assert_array_equal(np.asarray(data[0]), image)
    np.testing.assert_array_equal(np.asarray(data[1]), image[::2, ::2])
    with open_slide(tmp_path) as slide:  # the CLI, the bench and the export take the folder too
        assert slide.vendor == "dicom" and slide.level_count == 2


def test_unscanned_areas_show_the_slide_background_not_black(tmp_path):
    pytest.importorskip("pydicom")
    image = np.random.default_rng(6).integers(0, 256, (512, 768, 3), dtype=np.uint8)
    [path, _] = write_dicom_wsi(tmp_path, image, missing=((0, 1),))
    with open_slide(path) as slide, openslide.OpenSlide(str(path)) as osr:
        assert np.asarray(osr.read_region((256, 0), 0, (256, 256)))[..., 3].max() == 0  # OpenSlide: transparent
        got = slide.read_level(0, 0, 0, 768, 512)
    np.testing.assert_array_equal(got[:256, 256:512], 255)  # white, OpenSlide's default background
    np.testing.assert_array_equal(got[:256, :256], image[:256, :256])
    np.testing.assert_array_equal(got[256:], image[256:])


def test_folders_are_read_only_when_they_hold_a_dicom_slide(tmp_path):
    assert napari_get_reader(str(tmp_path)) is None
    (tmp_path / "not-a-slide.dcm").write_bytes(b"\0" * 200)
    assert napari_get_reader(str(tmp_path)) is None
    assert napari_get_reader(str(tmp_path / "not-a-slide.dcm")) is None  # other DICOM is other readers'
