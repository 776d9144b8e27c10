"""No leftovers: after a normal end, an error or a cancel, no worker process, shared memory or temp store remains."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from bench_helpers import drain, run_bench

from napari_wsi_io import SlideReadError
from napari_wsi_io.bench import BenchPlan, run_plan
from napari_wsi_io.bench.readers import open_cpu
from napari_wsi_io.bench.regions import regions
from napari_wsi_io.bench.sinks import make_sink
from napari_wsi_io.bench.strategies import STRATEGY_TABLE, Job


def _close_mid_run(plan: BenchPlan, strategy: str, started: bool) -> float:
    """Step through ``plan`` until ``strategy`` is starting (or has read regions) and close it; seconds to close."""
    gen = run_plan(plan)
    first_done = None
    for event in gen:
        if strategy not in event.message or event.record is not None:
            continue
        first_done = event.done if first_done is None else first_done
        if not started or event.done > first_done:
            break
    else:
        pytest.fail(f"{strategy} finished before it could be cancelled")
    begin = time.perf_counter()
    gen.close()
    return time.perf_counter() - begin


# 16 px regions each decode a whole 256 px tile: thousands of tasks, seconds of work to interrupt.
@pytest.mark.parametrize(
    ("backend", "strategy", "sink", "started"),
    [
        ("tifffile", "processes", "assemble", True),
        ("tifffile", "processes", "zarr", False),  # while the workers start
        ("tifffile", "threads", "zarr", True),
        ("cucim", "cucim-batch", "assemble", True),
        ("tifffile", "serial", "discard", True),
    ],
)
def test_closing_the_generator_cancels_within_a_second(bench_slide, leftovers, backend, strategy, sink, started):
    plan = BenchPlan(
        str(bench_slide), levels=[0], backends=[backend], strategies=[strategy], workers=[2], sink=sink, chunk_size=16
    )
    assert _close_mid_run(plan, strategy, started) < 1.0
    leftovers.assert_none()


def test_an_error_mid_run_leaves_nothing_behind(corrupt_slide, leftovers):
    plan = BenchPlan(str(corrupt_slide), levels=[0], backends=["tifffile"], strategies=["processes"], sink="assemble")
    with pytest.raises(SlideReadError, match=r"corrupt\.tif: level 0, tile \(5, 0\)"):
        drain(run_plan(plan))
    leftovers.assert_none()


@pytest.mark.parametrize("sink", ["assemble", "zarr"])
def test_a_worker_error_stops_the_other_workers_and_frees_everything(corrupt_slide, leftovers, sink):
    # The decode limit finds the damaged tile before any strategy runs, so drive the strategy directly.
    with open_cpu(str(corrupt_slide), "tifffile") as slide:
        w, h = slide.level_dimensions[0]
        cut = regions(w, h, 256, 256)
        store = make_sink(sink, (h, w, 3), np.uint8, (256, 256), shared=True)
        store.open(touch=False)
        try:
            job = Job(slide, 0, cut, store, workers=2)
            with pytest.raises(SlideReadError, match=r"level 0, tile \(5, 0\)"):
                STRATEGY_TABLE["processes"].run(job)
            assert job.pids == []
        finally:
            store.close()
    leftovers.assert_none()


def test_a_normal_end_leaves_nothing_behind(bench_slide, leftovers):
    for sink in ("assemble", "zarr"):
        result = run_bench(
            bench_slide, levels=[1], backends=["cucim"], strategies=["processes", "cucim-batch"], workers=[2], sink=sink
        )
        assert len(result.records) == 3
    leftovers.assert_none()


SCRIPT = """
import os, sys
with open(os.environ["IMPORT_LOG"], "a") as log:
    log.write(__name__ + "\\n")
if __name__ == "__main__":
    from napari_wsi_io.bench import BenchPlan, run_plan
    plan = BenchPlan(sys.argv[1], levels=[1], backends=["tifffile"], strategies=["processes"], workers=[1])
    for _ in run_plan(plan):
        pass
    import napari_wsi_io.bench._workers, napari_wsi_io.bench.readers, napari_wsi_io.bench.sinks
    gui = sorted(m for m in sys.modules if m.split(".")[0] in {"napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6"})
    print("gui modules:", gui)
"""


def test_workers_do_not_rerun_the_main_script_or_import_qt(bench_slide, tmp_path):
    # Under napari the main script is napari's launcher: re-running it would import napari and Qt in every worker.
    script = tmp_path / "launcher.py"
    script.write_text(SCRIPT)
    log = tmp_path / "imports.log"
    env = {**os.environ, "IMPORT_LOG": str(log)}
    done = subprocess.run(
        [sys.executable, str(script), str(bench_slide)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert log.read_text() == "__main__\n"
    assert "gui modules: []" in done.stdout
