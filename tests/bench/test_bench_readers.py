from __future__ import annotations

import numpy as np
import pytest

from napari_wsi_io import SlideReadError, open_slide
from napari_wsi_io.bench.readers import jpeg_tile_decoder, region_reader

ODD_REGIONS = [(0, 0, 256, 256), (100, 37, 700, 333), (3, 500, 1, 1)]


@pytest.mark.parametrize("kind", ["svs", "jpeg"])
def test_tile_decoder_reads_the_same_pixels_as_the_tifffile_backend(slides, kind):
    with open_slide(slides[kind], "tifffile") as slide:
        level = 1
        assert jpeg_tile_decoder(slide, level) is not None
        read = region_reader(slide, level)
        w, h = slide.level_dimensions[level]
        for x, y, rw, rh in [*ODD_REGIONS, (w - 77, h - 55, 77, 55)]:
            out = np.zeros((rh, rw, 3), np.uint8)
            read((x, y, rw, rh), out)
            np.testing.assert_array_equal(out, slide.read_level(level, x, y, rw, rh))


def test_tiles_land_in_place_in_a_view_of_a_bigger_array(slides):
    with open_slide(slides["svs"], "tifffile") as slide:  # 4000 x 3000, 256 px tiles
        read = region_reader(slide, 0)
        for x, y, w, h in [(0, 0, 1024, 1024), (3072, 2048, 928, 952), (256, 300, 2000, 300), (0, 0, 4000, 512)]:
            out = np.zeros((h + 2, w + 2, 3), np.uint8)
            read((x, y, w, h), out[1:-1, 1:-1])  # a view of a bigger array, like the assembled level
            np.testing.assert_array_equal(out[1:-1, 1:-1], slide.read_level(0, x, y, w, h))
            assert not out[0].any() and not out[-1].any() and not out[:, 0].any() and not out[:, -1].any()


@pytest.mark.parametrize("kind", ["deflate", "striped", "gray16"])
def test_other_tiles_use_the_backend_reads(slides, kind):
    with open_slide(slides[kind], "tifffile") as slide:
        assert jpeg_tile_decoder(slide, 0) is None
        read = region_reader(slide, 0)
        out = np.zeros((333, 700, slide.samples), slide.dtype)
        read((100, 37, 700, 333), out)
        np.testing.assert_array_equal(
            out.reshape(slide.read_level(0, 100, 37, 700, 333).shape), slide.read_level(0, 100, 37, 700, 333)
        )


@pytest.mark.parametrize("backend", ["cucim", "tifffile", "openslide"])
def test_decoding_without_keeping_pixels_still_refuses_a_corrupt_tile(corrupt_slide, backend):
    with open_slide(corrupt_slide, backend) as slide:
        read = region_reader(slide, 0)
        read((0, 0, 256, 256), None)  # tile (0, 0) is fine
        with pytest.raises(SlideReadError, match=r"corrupt\.tif"):
            read((1280, 0, 256, 256), None)  # tile (5, 0) is damaged
