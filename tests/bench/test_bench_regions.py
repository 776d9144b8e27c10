from __future__ import annotations

import numpy as np
import pytest

from napari_wsi_io import open_slide
from napari_wsi_io.bench.regions import chunk_shape, regions


@pytest.mark.parametrize(
    ("width", "height", "cw", "ch"), [(1553, 1037, 256, 256), (1553, 1037, 300, 77), (5, 3, 16, 16)]
)
def test_regions_cover_the_level_exactly_once(width, height, cw, ch):
    counts = np.zeros((height, width), np.int32)
    for x, y, w, h in regions(width, height, cw, ch):
        assert 0 < w <= cw and 0 < h <= ch
        counts[y : y + h, x : x + w] += 1
    assert (counts == 1).all()


def test_default_chunks_are_aligned_to_the_file_tiles(slides):
    with open_slide(slides["jpeg"], "tifffile") as slide:
        w, h = slide.level_dimensions[0]  # 3106 x 2074, 256 px tiles
        assert chunk_shape(slide, 0, "tiles") == (1024, 1024)
        assert chunk_shape(slide, 0, "rows") == (w, 1024)
        assert chunk_shape(slide, 0, "columns") == (1024, h)
        assert chunk_shape(slide, 0, "level") == (w, h)
        assert chunk_shape(slide, 0, "tiles", 300) == (300, 300)
        with pytest.raises(ValueError, match="unknown chunking"):
            chunk_shape(slide, 0, "diagonal")
