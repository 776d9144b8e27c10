"""The dock's parts without a viewer: worker counts, ETA text, the chunk raster, speed-ups."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import colormaps

from napari_wsi_io._qt.bench_form import parse_workers
from napari_wsi_io._qt.bench_run import format_eta
from napari_wsi_io._qt.overlay import chunk_raster
from napari_wsi_io._qt.results_table import best_record, openslide_speedups
from napari_wsi_io.bench import Record, Task


def tiles(width: int, height: int, side: int, workers: int = 2, seconds=None) -> list[Task]:
    cells = [(x, y) for y in range(0, height, side) for x in range(0, width, side)]
    return [
        Task(i % workers, 0.0, seconds[i] if seconds else 0.01, x, y, min(side, width - x), min(side, height - y))
        for i, (x, y) in enumerate(cells)
    ]


def record(backend: str, strategy: str, seconds: float, level: int = 0, workers: int = 1) -> Record:
    return Record(
        backend, strategy, "tiles", workers, level, 1000, 1000, 1.0, seconds, 1.0 / seconds, None, 100.0, None, None, 0
    )


def test_parse_workers():
    assert parse_workers("1, 2, 4") == [1, 2, 4]
    assert parse_workers("4 2;2") == [2, 4]
    for bad in ("", "0", "two", "1, -2"):
        with pytest.raises(ValueError, match="worker counts must be positive integers"):
            parse_workers(bad)


def test_format_eta():
    assert [format_eta(s) for s in (None, 0.4, 59, 61, 3600 * 2 + 65)] == [
        "ETA --",
        "ETA 0 s",
        "ETA 59 s",
        "ETA 1 min 01 s",
        "ETA 2 h 01 min",
    ]


def test_chunk_raster_paints_each_chunk_in_its_worker_colour():
    rgba, factor = chunk_raster(tiles(300, 200, 100, workers=2), (200, 300), "worker")
    assert factor == 1 and rgba.shape == (200, 300, 4)
    assert (rgba[..., 3] > 0).all()  # the chunks cover the level
    tab10 = (np.array([colormaps["tab10"](w)[:3] for w in (0, 1)]) * 255).astype(np.uint8)
    # Row 0 holds tasks 0, 1, 2 (workers 0, 1, 0); row 1 tasks 3, 4, 5 (workers 1, 0, 1).
    for (y, x), worker in {(50, 50): 0, (50, 150): 1, (50, 250): 0, (150, 50): 1, (150, 150): 0}.items():
        assert tuple(rgba[y, x, :3]) == tuple(tab10[worker])
    # Outlines: opaque on every chunk's edges, translucent inside.
    inside = rgba[50, 50, 3]
    assert all(rgba[y, x, 3] > inside for y, x in ((0, 50), (99, 50), (100, 50), (50, 99), (50, 100), (199, 299)))
    assert (rgba[1:99, 1:99, 3] == inside).all()


def test_chunk_raster_colours_by_load_time():
    seconds = [0.01, 0.02, 0.04, 0.08]
    rgba, _ = chunk_raster(tiles(200, 200, 100, seconds=seconds), (200, 200), "load time")
    brightness = [int(rgba[y, x, :3].astype(int).sum()) for y, x in ((50, 50), (50, 150), (150, 50), (150, 150))]
    assert brightness == sorted(brightness) and len(set(brightness)) == 4  # inferno: slower is brighter
    with pytest.raises(ValueError, match="colour by"):
        chunk_raster(tiles(200, 200, 100), (200, 200), "colour")


def test_chunk_raster_of_a_gigapixel_level_stays_small_and_covers_it():
    tasks = tiles(60000, 40000, 256, workers=8)  # 36,895 tiles
    rgba, factor = chunk_raster(tasks, (40000, 60000), "worker")
    assert max(rgba.shape[:2]) <= 512 and factor == 118
    assert (rgba[..., 3] > 0).all()
    assert len({tuple(c) for c in rgba[..., :3].reshape(-1, 3)}) == 8


def test_chunk_raster_of_rows_and_of_nothing():
    rows = [Task(i % 3, 0.0, 0.1, 0, y, 1000, min(128, 700 - y)) for i, y in enumerate(range(0, 700, 128))]
    rgba, factor = chunk_raster(rows, (700, 1000), "worker")
    assert factor == 2 and rgba.shape == (350, 500, 4)  # 1000 px wide: two level pixels a raster pixel
    assert (rgba[..., 3] > 0).all() and len({tuple(c) for c in rgba[..., :3].reshape(-1, 3)}) == 3
    empty, _ = chunk_raster([], (700, 1000), "worker")
    assert empty.shape == (350, 500, 4) and not empty.any()


def test_speedups_are_against_the_fastest_openslide_read_of_the_same_level():
    records = [
        record("openslide", "serial", 2.0),
        record("openslide", "threads", 1.0, workers=2),
        record("cucim", "cucim", 0.25),
        record("cucim", "serial", 0.5, level=1),  # no OpenSlide read of level 1
        record("imagecodecs", "decode-limit", 0.1),
    ]
    assert openslide_speedups(records) == [0.5, 1.0, 4.0, None, 10.0]
    assert best_record(records) is records[2]  # highest MP/s; the decode limit is a reference, not a candidate


def _thread_nices() -> list[int]:
    """The niceness of each thread of this process (Linux)."""
    import os
    from pathlib import Path

    nices = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            nices.append(int((task / "stat").read_text().rsplit(")", 1)[1].split()[16]))
        except (OSError, IndexError):
            continue
    return nices


def test_run_until_cancelled_returns_the_result_from_a_nicer_thread(slides):
    import os
    import sys
    import threading

    from napari_wsi_io._qt.runner import ENGINE_NICENESS, run_until_cancelled
    from napari_wsi_io.bench import BenchPlan

    plan = BenchPlan(str(slides["svs"]), levels=[2], strategies=["serial"], workers=[1])
    base = os.getpriority(os.PRIO_PROCESS, 0)
    gen = run_until_cancelled(plan, threading.Event())
    events, nices = [], set()
    try:
        while True:
            events.append(next(gen))
            nices.update(_thread_nices())
    except StopIteration as stop:
        result = stop.value
    assert [r.strategy for r in result.records] == ["decode-limit", "serial"]
    assert [e.record for e in events if e.record is not None] == result.records
    if sys.platform.startswith("linux"):
        # The engine's threads ran at a lower priority; this thread kept its own.
        assert base + ENGINE_NICENESS in nices
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
    assert not [t for t in threading.enumerate() if t.name == "wsi-bench-engine"]  # joined before returning


def test_run_until_cancelled_stops_at_the_next_event_and_raises_engine_errors(slides, corrupt_slide):
    import threading

    from napari_wsi_io import SlideReadError
    from napari_wsi_io._qt.runner import run_until_cancelled
    from napari_wsi_io.bench import BenchPlan

    cancel = threading.Event()
    gen = run_until_cancelled(BenchPlan(str(slides["svs"]), levels=[0], repeats=20), cancel)
    next(gen)
    cancel.set()
    with pytest.raises(StopIteration) as stop:
        for _ in range(100):  # at most the events already queued
            next(gen)
    assert stop.value.value is None
    bad = run_until_cancelled(BenchPlan(str(corrupt_slide), levels=[0], strategies=["serial"], workers=[1]), cancel)
    cancel.clear()
    with pytest.raises(SlideReadError, match=f"cannot read {corrupt_slide}"):
        list(bad)
