"""OME-Zarr export: round trips read back with ome-zarr-py, metadata, options, atomicity, cancellation."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr
from export_helpers import data_files, leftovers, read_image, slide_level
from qt_free import run_without_qt

from napari_wsi_io import SlideReadError, open_slide
from napari_wsi_io.export import (
    ExportProgress,
    ExportSummary,
    export_ome_zarr,
    export_steps,
    parse_compression,
    parse_levels,
)


@pytest.mark.parametrize(
    ("kind", "compression", "options"),
    [
        ("svs", "zstd", {}),
        ("jpeg", "lz4", {}),
        ("lzw", "none", {}),
        ("deflate", "zstd:5", {}),
        ("gray16", "zstd", {}),
        ("svs", "zstd", {"format": "0.4"}),
        ("gray16", "lz4", {"format": "0.4"}),
        ("lzw", "zstd", {"shard": None}),
        ("jpeg", "zstd", {"shard": 512}),
    ],
)
def test_round_trip_is_exact_for_lossless_compression(slides, tmp_path, kind, compression, options):
    out = tmp_path / f"{kind}.ome.zarr"
    summary = export_ome_zarr(slides[kind], out, compression=compression, chunk=256, **options)
    node, levels = read_image(out)
    with open_slide(slides[kind]) as slide:
        assert len(levels) == slide.level_count
        for level, data in enumerate(levels):
            expected = slide_level(slide, level)
            assert data.dtype == slide.dtype
            np.testing.assert_array_equal(data, expected, err_msg=f"{kind} level {level}")
        assert summary.pixels == sum(w * h for w, h in slide.level_dimensions)
    assert summary.output_bytes > 0 and summary.compression_ratio > 0
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("ngff", ["0.5", "0.4"])
def test_metadata_axes_scale_and_datasets(slides, tmp_path, ngff):
    out = tmp_path / "svs.ome.zarr"
    export_ome_zarr(slides["svs"], out, levels="0,2", format=ngff)
    node, levels = read_image(out)
    assert node.metadata["axes"] == [
        {"name": "c", "type": "channel"},
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"},
    ]
    with open_slide(slides["svs"]) as slide:
        mpp_x, mpp_y = slide.mpp
        assert mpp_x == pytest.approx(0.252)
        transforms = node.metadata["coordinateTransformations"]
        assert len(transforms) == len(levels) == 2
        for dataset, level in enumerate((0, 2)):
            scale, translation = transforms[dataset]
            w, h = slide.level_dimensions[level]
            assert scale["type"] == "scale" and translation["type"] == "translation"
            assert scale["scale"] == pytest.approx([1.0, mpp_y * 3000 / h, mpp_x * 4000 / w])
            # pixel centres: level pixel 0 covers level-0 pixels 0..downsample-1
            assert translation["translation"] == pytest.approx(
                [0.0, (scale["scale"][1] - mpp_y) / 2, (scale["scale"][2] - mpp_x) / 2]
            )
            assert levels[dataset].shape == (3, h, w)
    attrs = zarr.open_group(out, mode="r").attrs.asdict()
    assert attrs["napari_wsi_io"]["levels"] == [0, 2]
    if ngff == "0.4":
        image = attrs
        assert attrs["multiscales"][0]["version"] == "0.4"
        assert (out / ".zgroup").is_file() and '"zarr_format": 2' in (out / "0" / ".zarray").read_text()
    else:  # NGFF 0.5: everything under "ome" in zarr.json, one version for the block
        image = attrs["ome"]
        assert image["version"] == "0.5" and "version" not in image["multiscales"][0]
        assert "multiscales" not in attrs and "omero" not in attrs
        assert not (out / ".zgroup").exists() and '"zarr_format": 3' in (out / "0" / "zarr.json").read_text()
    assert [d["path"] for d in image["multiscales"][0]["datasets"]] == ["0", "1"]
    assert [c["color"] for c in image["omero"]["channels"]] == ["FF0000", "00FF00", "0000FF"]
    # the OME-NGFF schema of that version, as ome-zarr-models (a dependency of ome-zarr-py) validates it
    models = pytest.importorskip(f"ome_zarr_models.v0{ngff[-1]}.image")
    models.Image.from_zarr(zarr.open_group(out, mode="r"))


def test_sharded_levels_are_few_files_that_zarr_reads_as_shards(slides, tmp_path):
    out = tmp_path / "sharded.ome.zarr"
    export_ome_zarr(slides["svs"], out, chunk=256, shard=1024)
    level0 = zarr.open_array(out / "0", mode="r")
    assert level0.shape == (3, 3000, 4000) and level0.chunks == (3, 256, 256) and level0.shards == (3, 1024, 1024)
    # 3 x 4 shards of 1024 px hold the 12 x 16 chunks of 256 px (the last row of shards is partial)
    assert [p.relative_to(out / "0").as_posix() for p in data_files(out / "0")] == [
        f"c/0/{y}/{x}" for y in range(3) for x in range(4)
    ]
    with open_slide(slides["svs"]) as slide:
        expected = slide_level(slide, 0)
    # a partial read goes through the shard index: one chunk, across a chunk edge, inside the last shard
    np.testing.assert_array_equal(level0[:, 2900:3000, 3800:4000], expected[:, 2900:3000, 3800:4000])
    np.testing.assert_array_equal(level0[1, 250:300, 1000:1100], expected[1, 250:300, 1000:1100])
    unsharded = tmp_path / "unsharded.ome.zarr"
    export_ome_zarr(slides["svs"], unsharded, levels="0", chunk=256, shard=None)
    assert len(data_files(unsharded / "0")) == 12 * 16


def test_grayscale_has_no_channel_axis_and_unknown_mpp_means_pixel_units(tmp_path):
    path = tmp_path / "gray-nompp.tif"
    image = (np.arange(300 * 500, dtype=np.uint32).reshape(300, 500) % 65521).astype(np.uint16)
    with tifffile.TiffWriter(path) as tw:
        tw.write(image, tile=(128, 128), compression="zlib", photometric="minisblack", metadata=None)
        tw.write(image[::2, ::2], tile=(128, 128), compression="zlib", subfiletype=1, metadata=None)
    out = tmp_path / "gray.ome.zarr"
    export_ome_zarr(path, out, chunk=128)
    node, levels = read_image(out)
    assert node.metadata["axes"] == [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    scales = [t[0]["scale"] for t in node.metadata["coordinateTransformations"]]
    assert scales == [[1.0, 1.0], [2.0, 2.0]]
    np.testing.assert_array_equal(levels[0], image)
    np.testing.assert_array_equal(levels[1], image[::2, ::2])


@pytest.mark.parametrize("ngff", ["0.5", "0.4"])
def test_jpeg_compression_is_close_and_smaller(slides, tmp_path, ngff):
    lossless = export_ome_zarr(slides["svs"], tmp_path / "zstd.ome.zarr", levels="1", format=ngff)
    lossy = export_ome_zarr(slides["svs"], tmp_path / "jpeg.ome.zarr", levels="1", compression="jpeg", format=ngff)
    _, (data,) = read_image(tmp_path / "jpeg.ome.zarr")
    with open_slide(slides["svs"]) as slide:
        expected = slide_level(slide, 1).astype(np.int16)
    error = np.abs(data.astype(np.int16) - expected)
    assert error.mean() < 3 and np.percentile(error, 99) < 16
    assert lossy.output_bytes < lossless.output_bytes / 2
    assert lossy.compression == "jpeg:90"


def test_jpeg_refuses_16_bit(slides, tmp_path):
    with pytest.raises(ValueError, match="8-bit"):
        export_ome_zarr(slides["gray16"], tmp_path / "x.ome.zarr", compression="jpeg")
    assert list(tmp_path.iterdir()) == []


def test_progress_events_and_summary(slides, tmp_path):
    # a task, and so a progress step, is one shard: 512 px shards make 63 of them on this small slide
    steps = export_steps(slides["svs"], tmp_path / "p.ome.zarr", chunk=256, shard=512, workers=1)
    events = []
    while True:
        try:
            events.append(next(steps))
        except StopIteration as stop:
            summary = stop.value
            break
    assert all(isinstance(e, ExportProgress) for e in events) and isinstance(summary, ExportSummary)
    done = [e.done for e in events]
    assert done == sorted(done) and done[0] == 0 and done[-1] == events[-1].total == summary.pixels
    assert len(events) > 5  # one per finished shard at least
    assert events[-1].eta == 0.0 and any(e.eta is not None and e.eta > 0 for e in events[:-1])
    assert "MP/s" in str(summary) and summary.megapixels_per_second > 0


def test_existing_output_needs_overwrite(slides, tmp_path):
    out = tmp_path / "o.ome.zarr"
    export_ome_zarr(slides["svs"], out, levels="2")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_ome_zarr(slides["svs"], out, levels="1")
    assert read_image(out)[1][0].shape[1:] == (750, 1000)  # untouched
    export_ome_zarr(slides["svs"], out, levels="1", overwrite=True)
    assert read_image(out)[1][0].shape[1:] == (1500, 2000)
    assert leftovers(tmp_path) == []


def test_overwrite_never_deletes_a_directory_that_is_not_zarr(slides, tmp_path):
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(ValueError, match="not a Zarr store"):
        export_ome_zarr(slides["svs"], precious, overwrite=True)
    assert (precious / "thesis.txt").read_text() == "years of work"
    a_file = tmp_path / "file.ome.zarr"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="not a Zarr directory"):
        export_ome_zarr(slides["svs"], a_file, overwrite=True)


def test_cancel_leaves_nothing(slides, tmp_path):
    out = tmp_path / "c.ome.zarr"
    steps = export_steps(slides["svs"], out, chunk=128, workers=2)
    next(steps)  # started: the partial store exists
    assert len(leftovers(tmp_path)) == 1
    event = next(steps)
    assert event.done < event.total
    steps.close()  # what napari's worker.quit() amounts to
    assert not out.exists() and leftovers(tmp_path) == []


def test_failing_block_leaves_nothing(corrupt_slide, tmp_path):
    out = tmp_path / "bad.ome.zarr"
    with pytest.raises(SlideReadError, match="tile"):
        export_ome_zarr(corrupt_slide, out, levels="0")
    assert not out.exists() and leftovers(tmp_path) == []


def test_bad_slide_raises_slide_read_error(bad_slides, tmp_path):
    for path in bad_slides.values():
        with pytest.raises(SlideReadError, match="cannot read"):
            export_ome_zarr(path, tmp_path / "x.ome.zarr")
    assert list(tmp_path.iterdir()) == []


def test_processes_scheduler_round_trip(slides, tmp_path):
    out = tmp_path / "proc.ome.zarr"
    summary = export_ome_zarr(slides["jpeg"], out, levels="1,2", scheduler="processes", workers=2)
    assert "2 processes" in summary.scheduler
    _, levels = read_image(out)
    with open_slide(slides["jpeg"]) as slide:
        for data, level in zip(levels, (1, 2)):
            np.testing.assert_array_equal(data, slide_level(slide, level))


def test_parse_levels():
    assert parse_levels(None, 3) == parse_levels("all", 3) == [0, 1, 2]
    assert parse_levels("2,0,2", 3) == [0, 2]
    assert parse_levels([1], 3) == [1]
    for bad in ("3", "-1", "a", ""):
        with pytest.raises(ValueError):
            parse_levels(bad, 3)


def test_parse_compression():
    assert str(parse_compression("zstd")) == "zstd:1"
    assert str(parse_compression("ZSTD:7")) == "zstd:7"
    assert str(parse_compression("lz4")) == "lz4:5"
    assert str(parse_compression("none")) == "none"
    assert parse_compression("jpeg").lossless is False
    for bad in ("gzip", "zstd:x", "zstd:0", "zstd:10", "jpeg:101", "none:3"):
        with pytest.raises(ValueError):
            parse_compression(bad)


@pytest.mark.parametrize(
    "options",
    [
        {"chunk": 8},
        {"scheduler": "fibers"},
        {"workers": 0},
        {"levels": "9"},
        {"compression": "png"},
        {"format": "0.6"},
        {"shard": 1000},
        {"shard": "big"},
        {"format": "0.4", "shard": 2048},
    ],
)
def test_bad_options_raise_value_error_and_write_nothing(slides, tmp_path, options):
    with pytest.raises(ValueError):
        export_ome_zarr(slides["svs"], tmp_path / "x.ome.zarr", **options)
    assert list(tmp_path.iterdir()) == []


def test_engine_imports_no_qt_and_no_zarr_until_used():
    run_without_qt("import napari_wsi_io.export, napari_wsi_io.export._cli", also=("magicgui", "zarr"))
