import dask
import numpy as np
import pytest

from napari_wsi_io import SlideReadError, open_slide, pyramid


@pytest.fixture
def svs(slides):
    with open_slide(slides["svs"]) as slide:
        yield slide


def test_building_the_pyramid_reads_no_pixels(svs, monkeypatch):
    reads = []
    monkeypatch.setattr(svs, "_read", lambda *args: reads.append(args))
    levels = pyramid(svs)
    assert len(levels) == 3 and reads == []


@pytest.mark.parametrize("chunks", [None, (256, 512), (768, 256)])
def test_levels_equal_the_slide_under_parallel_reads(svs, chunks):
    levels = pyramid(svs, chunks=chunks)
    for level, array in enumerate(levels):
        w, h = svs.level_dimensions[level]
        expected = svs.read_level(level, 0, 0, w, h)
        with dask.config.set(scheduler="threads", num_workers=8):
            np.testing.assert_array_equal(array.compute(), expected)
        np.testing.assert_array_equal(
            array[h // 3 : h // 2, 7 : w - 5 : 3].compute(), expected[h // 3 : h // 2, 7 : w - 5 : 3]
        )
        np.testing.assert_array_equal(np.asarray(array[h - 1, w - 1]), expected[h - 1, w - 1])


def test_odd_sized_levels(slides):
    with open_slide(slides["lzw"]) as slide:
        levels = pyramid(slide)
        assert [a.shape[:2] for a in levels] == [(h, w) for w, h in slide.level_dimensions]
        assert levels[1].shape == (519, 777, 3)
        np.testing.assert_array_equal(levels[1][-10:, -10:].compute(), slide.read_level(1, 767, 509, 10, 10))


def test_corrupt_tile_blanks_only_that_tile_when_reported(corrupt_slide):
    with open_slide(corrupt_slide) as slide:
        with pytest.raises(SlideReadError, match=r"level 0, tile \(5, 0\)"):
            pyramid(slide)[0][:512, 1024:1536].compute()
        errors = []
        level0 = pyramid(slide, on_error=errors.append)[0]
        region = level0[:512, 1024:1536].compute()
        assert [str(e) for e in errors] == [
            f"cannot read {corrupt_slide}: level 0, tile (5, 0): JPEG tile has corrupt compressed data"
        ]
        assert not region[:256, 256:].any()  # the damaged tile reads as zeros
        np.testing.assert_array_equal(region[:, :256], slide.read_level(0, 1024, 0, 256, 512))
        np.testing.assert_array_equal(region[256:], slide.read_level(0, 1024, 256, 512, 256))
