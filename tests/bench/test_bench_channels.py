"""The benchmark on a slide that stores channels: every channel and plane of a level, MB/s beside MP/s."""

from __future__ import annotations

import numpy as np
import pytest
from bench_helpers import drain, measured

from napari_wsi_io import open_slide
from napari_wsi_io.bench import BenchPlan, run_plan
from napari_wsi_io.bench.readers import open_cpu


def test_a_multichannel_level_is_read_whole_by_every_strategy(channel_slides):
    path = str(channel_slides["ome16"])
    plan = BenchPlan(path, levels=[1], backends=["cucim"], strategies=["serial", "threads", "processes"])
    plan.sink, plan.workers = "assemble", [2]
    _, result = drain(run_plan(plan))
    assert any("channels are read by tifffile" in note for note in result.notes)
    records = result.records
    limit = [r for r in records if r.strategy == "decode-limit"]
    assert limit and limit[0].bytes_per_pixel == 12  # six 16-bit channels: the file's own deflate tiles
    for r in measured(result):
        assert r.backend == "tifffile" and r.bytes_per_pixel == 12
        assert r.mb_per_s == pytest.approx(r.mpix_per_s * 12)
        assert r.max_abs_diff == 0 and r.fraction_of_limit is not None
    with open_cpu(path) as slide, open_slide(path) as original:
        assert slide.samples == 6
        block = slide.read_level(1, 10, 20, 64, 32)
        for c in range(6):
            np.testing.assert_array_equal(block[..., c], original.plane((c, 0, 0)).read_level(1, 10, 20, 64, 32))


@pytest.mark.parametrize("kind", ["fluo", "fluo-jxr"])
def test_czi_channels_and_planes_are_benchmarked_with_libczi(czi_slides, kind):
    plan = BenchPlan(str(czi_slides[kind]), levels=[1], backends=["czi"], strategies=["serial", "threads"])
    plan.sink, plan.workers = "assemble", [2]
    _, result = drain(run_plan(plan))
    for r in measured(result):
        assert r.backend == "czi" and r.bytes_per_pixel == 3 * 3 * 2  # 3 channels x 3 planes x 16 bits
        assert r.max_abs_diff == 0
    limit = [r for r in result.records if r.strategy == "decode-limit"]
    assert limit and limit[0].bytes_per_pixel == 18 and "subblocks" in limit[0].note
    assert f"(CZI compression [{4 if kind == 'fluo-jxr' else 0}])" in limit[0].note  # JPEG XR: imagecodecs decodes it
