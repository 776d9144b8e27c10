from __future__ import annotations

import numpy as np
import pytest
from bench_helpers import run_bench
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from napari_wsi_io.bench.plots import (
    plot_backends,
    plot_summary,
    plot_time_vs_level,
    plot_time_vs_workers,
    plot_timeline,
)
from napari_wsi_io.bench.records import best_records


@pytest.fixture(scope="module")
def records(bench_slide):
    return run_bench(
        bench_slide,
        levels=[1, 0],
        backends=["cucim", "tifffile", "openslide"],
        strategies=["serial", "threads", "cucim"],
        workers=[1, 2],
        repeats=2,
    ).records


@pytest.fixture
def ax():
    fig = Figure()
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def _best(records, **match):
    found = [r for r in best_records(records) if all(getattr(r, k) == v for k, v in match.items())]
    return sorted(found, key=lambda r: r.workers)


def test_time_vs_workers_draws_one_line_per_strategy_and_chunking(ax, records):
    artists = plot_time_vs_workers(ax, records)
    lines = {a.get_label(): a for a in artists}
    threads = _best(records, level=0, backend="tifffile", strategy="threads")
    np.testing.assert_array_equal(lines["tifffile threads/tiles"].get_xdata(), [1, 2])
    np.testing.assert_allclose(lines["tifffile threads/tiles"].get_ydata(), [r.seconds for r in threads])
    assert len(lines["cucim serial/tiles"].get_xdata()) == 1
    assert "cucim cucim" in lines and "decode limit" in lines
    limit = _best(records, level=0, strategy="decode-limit")[0]
    np.testing.assert_allclose(lines["decode limit"].get_ydata(), [limit.seconds, limit.seconds])
    assert ax.get_title() == "Level 0: time vs workers"


def test_time_vs_level_plots_each_backend_best_time_and_throughput(ax, records):
    artists = plot_time_vs_level(ax, records)
    lines = {a.get_label(): a for a in artists}
    assert set(lines) >= {"cucim: seconds", "cucim: MP/s", "openslide: seconds", "decode limit: MP/s"}
    np.testing.assert_array_equal(lines["openslide: seconds"].get_xdata(), [0, 1])
    best0 = max(_best(records, level=0, backend="openslide"), key=lambda r: r.mpix_per_s)
    assert lines["openslide: MP/s"].get_ydata()[0] == pytest.approx(best0.mpix_per_s)


def test_backends_side_by_side(ax, records):
    artists = plot_backends(ax, records)
    bars = [a for a in artists if hasattr(a, "get_height")]
    heights = {ax.get_xticklabels()[i].get_text(): b.get_height() for i, b in enumerate(bars)}
    for backend in ("cucim", "tifffile", "openslide"):
        best = max(_best(records, level=0, backend=backend), key=lambda r: r.mpix_per_s)
        assert heights[backend] == pytest.approx(best.mpix_per_s)
    assert heights["cucim"] > heights["openslide"]


def test_timeline_has_one_row_per_worker_and_one_bar_per_task(ax, records):
    record = _best(records, level=0, backend="cucim", strategy="threads")[-1]
    artists = plot_timeline(ax, record)
    assert len(artists) == len({t.worker for t in record.tasks})
    assert sum(len(a.get_paths()) for a in artists) == len(record.tasks)
    assert plot_timeline(ax, None) == []


def test_summary_figure_saves(records, tmp_path):
    fig = Figure(figsize=(10, 8))
    FigureCanvasAgg(fig)
    drawn = plot_summary(fig, records)
    assert len(drawn) == 4 and all(drawn)
    fig.savefig(tmp_path / "plots.png")
    assert (tmp_path / "plots.png").read_bytes()[:4] == b"\x89PNG"
