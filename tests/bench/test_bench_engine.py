from __future__ import annotations

import numpy as np
import psutil
import pytest
from bench_helpers import coverage, drain, level_sha256, measured, run_bench

from napari_wsi_io import SlideReadError
from napari_wsi_io.bench import STRATEGIES, BenchPlan, run_plan
from napari_wsi_io.bench import plan as plan_module
from napari_wsi_io.bench.strategies import STRATEGY_TABLE, cores


@pytest.fixture(scope="module")
def assembled(slides):
    """Level 1 of the generic JPEG slide (1553 x 1037, odd) assembled by every strategy without processes.

    300 px regions do not line up with the 256 px tiles, so every region cuts tiles.
    """
    plan = BenchPlan(
        str(slides["jpeg"]),
        levels=[1],
        backends=["cucim", "tifffile", "openslide", "tiffslide"],
        strategies=["serial", "threads", "cucim", "cucim-batch"],
        chunkings=["rows", "columns", "tiles"],
        workers=[2],
        sink="assemble",
        chunk_size=300,
    )
    events, result = drain(run_plan(plan))
    return plan, events, result


def test_every_strategy_and_backend_assembles_the_same_pixels(assembled, slides):
    _, _, result = assembled
    expected = level_sha256(slides["jpeg"], 1)
    records = measured(result)
    seen = {(r.backend, r.strategy, r.chunk) for r in records}
    assert ("cucim", "cucim", "level") in seen and ("cucim", "cucim-batch", "columns") in seen
    assert ("openslide", "threads", "rows") in seen and ("tiffslide", "serial", "tiles") in seen
    for r in records:
        if r.backend in ("cucim", "tifffile"):  # libjpeg-turbo both
            assert (r.checksum, r.max_abs_diff) == (expected, 0), r.label
        else:  # other JPEG decoders may differ by a few grey levels
            assert r.checksum is not None and 0 <= r.max_abs_diff <= 8, r.label
            assert (r.checksum == expected) == (r.max_abs_diff == 0)


def test_tasks_cover_the_level_exactly_once(assembled):
    _, _, result = assembled
    for r in measured(result):
        assert (r.width, r.height) == (1553, 1037)
        assert (coverage(r) == 1).all(), r.label
        assert all(0 <= t.start <= t.end <= r.seconds + 1e-6 for t in r.tasks), r.label
        if r.strategy == "threads":
            assert {t.worker for t in r.tasks} <= {0, 1}


def test_records_carry_the_measurement(assembled):
    _, _, result = assembled
    limits = [r for r in result.records if r.strategy == "decode-limit"]
    assert len(limits) == 1
    limit = limits[0]
    assert limit.fraction_of_limit == 1.0 and limit.workers == cores()
    assert limit.checksum is None and "one core" in limit.note
    for r in measured(result):
        assert r.megapixels == pytest.approx(1553 * 1037 / 1e6)
        assert r.mpix_per_s == pytest.approx(r.megapixels / r.seconds)
        assert r.fraction_of_limit == pytest.approx(r.mpix_per_s / limit.mpix_per_s)
        assert r.peak_rss_mb > 50 and r.sink == "assemble"
        assert (r.chunk_width, r.chunk_height) == {
            "rows": (1553, 300),
            "columns": (300, 1037),
            "tiles": (300, 300),
            "level": (1553, 1037),
        }[r.chunk]


def test_progress_counts_every_task_and_ends_complete(assembled):
    plan, events, result = assembled
    done = [e.done for e in events]
    assert done == sorted(done)
    assert events[-1].done == events[-1].total == sum(len(r.tasks) for r in result.records)
    with_records = [e.record for e in events if e.record is not None]
    assert with_records == result.records
    assert all(e.eta_s is None or e.eta_s >= 0 for e in events)
    assert "level 1" in events[-1].message


def test_processes_write_one_shared_array_and_zarr_stores(bench_slide, leftovers):
    expected = level_sha256(bench_slide, 0)
    for sink in ("assemble", "zarr"):
        result = run_bench(
            bench_slide,
            levels=[0],
            backends=["tifffile"],
            strategies=["processes", "threads"],
            chunkings=["columns"],
            workers=[2],
            sink=sink,
        )
        for r in measured(result):
            assert (r.checksum, r.max_abs_diff) == (expected, 0), (sink, r.label)
            assert (coverage(r) == 1).all()
            # Processes are dealt regions in turn; threads take the next one, so a thread that starts late
            # under load may find none left (CI saw {0}).
            workers = {t.worker for t in r.tasks}
            assert workers == {0, 1} if r.strategy == "processes" else workers <= {0, 1}
        processes = next(r for r in result.records if r.strategy == "processes")
        assert processes.setup_seconds > 0  # spawning is set-up, outside the measured seconds
    leftovers.assert_none()


def test_discard_keeps_no_pixels(bench_slide):
    result = run_bench(bench_slide, levels=[0], strategies=["threads", "cucim"], workers=[1, 2])
    assert [(r.strategy, r.workers) for r in measured(result)] == [
        ("threads", 1),
        ("threads", 2),
        ("cucim", 1),
        ("cucim", 2),
    ]
    assert all(r.checksum is None and r.max_abs_diff is None for r in result.records)


def test_repeats_are_interleaved(bench_slide):
    result = run_bench(bench_slide, levels=[1, 0], strategies=["serial", "threads"], workers=[2], repeats=2)
    order = [(r.level, r.strategy, r.repeat) for r in result.records]
    # Level by level in the plan's order; within a level the decode limit's repeats, then each repeat of every strategy.
    each_level = [
        ("decode-limit", 0),
        ("decode-limit", 1),
        ("serial", 0),
        ("threads", 0),
        ("serial", 1),
        ("threads", 1),
    ]
    assert order == [(level, strategy, repeat) for level in (1, 0) for strategy, repeat in each_level]
    assert max(r.fraction_of_limit for r in result.records if r.strategy == "decode-limit") == 1.0
    assert result.machine["cores"] >= 1 and result.slide["level_dimensions"][0] == [2000, 1500]


def test_check_refuses_bad_plans_with_a_clear_message(bench_slide, bad_slides, tmp_path):
    with pytest.raises(ValueError, match="unknown strategy warp; choose from serial"):
        BenchPlan(str(bench_slide), strategies=["warp"]).check()
    with pytest.raises(ValueError, match="level 9 does not exist: the slide has levels 0 to 1"):
        BenchPlan(str(bench_slide), levels=[9]).check()
    with pytest.raises(ValueError, match="worker counts must be at least 1"):
        BenchPlan(str(bench_slide), workers=[0]).check()
    with pytest.raises(ValueError, match="unknown sink"):
        BenchPlan(str(bench_slide), sink="disk").check()
    with pytest.raises(SlideReadError, match="no such file"):
        BenchPlan(str(tmp_path / "missing.svs")).check()
    with pytest.raises(SlideReadError, match="not a TIFF"):
        BenchPlan(str(bad_slides["random"])).check()
    # Errors surface on the first step of the generator too, before any work.
    with pytest.raises(ValueError, match="unknown chunking"):
        next(run_plan(BenchPlan(str(bench_slide), chunkings=["diagonal"])))


def test_check_notes_what_it_skips(slides, bench_slide, monkeypatch):
    notes = BenchPlan(str(slides["deflate"]), backends=["cucim", "tifffile"], strategies=["threads", "cucim"]).check()
    assert any(n.startswith("cucim cannot read this slide") for n in notes)
    assert "the cucim strategy needs the cucim backend: skipped" in notes
    monkeypatch.setattr(plan_module, "available_backends", lambda: ["cucim", "tifffile"])
    plan = BenchPlan(str(bench_slide), levels=[1], backends=["cucim", "openslide"], strategies=["threads"], workers=[1])
    assert plan.check() == ["openslide is not installed: skipped"]
    _, result = drain(run_plan(plan))
    assert result.notes == ["openslide is not installed: skipped"]
    assert {r.backend for r in measured(result)} == {"cucim"}
    with pytest.raises(ValueError, match="none of the backends openslide can read this slide"):
        BenchPlan(str(bench_slide), backends=["openslide"]).check()


def test_assemble_is_refused_when_the_level_does_not_fit(bench_slide, monkeypatch):
    # Keep all of the memory free: no level fits any more.
    monkeypatch.setattr(plan_module, "_memory_margin", lambda: psutil.virtual_memory().total)
    with pytest.raises(
        ValueError, match=r"level 0 \(2000x1500, 0.0 GiB\) does not fit in memory for the assemble sink"
    ):
        BenchPlan(str(bench_slide), levels=[0], sink="assemble", strategies=["threads"]).check()
    with pytest.raises(ValueError, match="does not fit in memory for the cucim strategy"):
        BenchPlan(str(bench_slide), levels=[0], strategies=["cucim"]).check()
    BenchPlan(str(bench_slide), levels=[0], sink="discard", strategies=["threads"]).check()


def test_strategy_table_names_the_strategies():
    assert STRATEGIES == ("serial", "threads", "processes", "cucim", "cucim-batch", "gpu")
    assert STRATEGY_TABLE["cucim"].whole_level and STRATEGY_TABLE["cucim"].backends == ("cucim",)


def test_grayscale_16_bit_levels_are_measured(slides):
    result = run_bench(
        slides["gray16"],
        levels=[0],
        backends=["cucim", "tifffile"],
        strategies=["threads"],
        workers=[2],
        sink="assemble",
    )
    (record,) = measured(result)
    assert record.backend == "tifffile" and record.checksum == level_sha256(slides["gray16"], 0)
    assert "tifffile codec" in result.records[0].note
    assert np.isfinite(record.fraction_of_limit)
