from __future__ import annotations

import csv
import json

import pytest
from bench_helpers import run_bench

from napari_wsi_io.bench import load_json, save_csv, save_json, summary
from napari_wsi_io.bench.records import best_records


@pytest.fixture(scope="module")
def result(bench_slide):
    return run_bench(
        bench_slide,
        levels=[1, 0],
        backends=["cucim", "openslide"],
        strategies=["serial", "threads"],
        workers=[1, 2],
        sink="assemble",
        repeats=2,
    )


def test_json_round_trip_keeps_every_record_and_task(result, tmp_path):
    path = tmp_path / "bench.json"
    save_json(result, path)
    data = json.loads(path.read_text())
    assert set(data) == {"slide", "machine", "results", "notes"}
    assert data["machine"]["cores"] >= 1 and data["machine"]["cucim"] == result.machine["cucim"]
    assert data["results"][1]["tasks"][0].keys() == {"worker", "start", "end", "x", "y", "width", "height"}
    loaded = load_json(path)
    assert loaded == result


def test_csv_has_one_row_per_record_without_tasks(result, tmp_path):
    path = tmp_path / "bench.csv"
    save_csv(result, path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result.records)
    assert "tasks" not in rows[0]
    for row, record in zip(rows, result.records):
        assert (row["backend"], row["strategy"], row["chunk"]) == (record.backend, record.strategy, record.chunk)
        assert int(row["workers"]) == record.workers and int(row["level"]) == record.level
        assert float(row["seconds"]) == pytest.approx(record.seconds)
        assert row["checksum"] == (record.checksum or "")
        assert row["max_abs_diff"] == ("" if record.max_abs_diff is None else str(record.max_abs_diff))


def test_load_json_refuses_other_files(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"layers": []}')
    with pytest.raises(ValueError, match="is not a napari-wsi-io benchmark file"):
        load_json(path)


def test_summary_names_the_best_and_the_speedup_over_openslide(result):
    s = summary(result)
    assert s["level"] == 0 and set(s["levels"]) == {0, 1}
    level0 = [r for r in best_records(result.records) if r.level == 0 and r.strategy != "decode-limit"]
    best = max(level0, key=lambda r: r.mpix_per_s)
    openslide = max((r for r in level0 if r.backend == "openslide"), key=lambda r: r.mpix_per_s)
    assert s["best"] == best and s["mpix_per_s"] == best.mpix_per_s
    assert s["fraction_of_limit"] == best.fraction_of_limit
    assert s["speedup_vs_openslide"] == pytest.approx(best.mpix_per_s / openslide.mpix_per_s)
    assert s["best"].backend == "cucim"  # OpenSlide is far slower at decoding JPEG tiles


def test_best_records_keep_the_fastest_repeat(result):
    best = best_records(result.records)
    assert len(best) == len(result.records) // 2
    for r in best:
        twins = [
            o
            for o in result.records
            if (o.level, o.backend, o.strategy, o.workers) == (r.level, r.backend, r.strategy, r.workers)
        ]
        assert len(twins) == 2 and r.seconds == min(o.seconds for o in twins)


def test_summary_without_openslide_has_no_speedup(bench_slide):
    result = run_bench(bench_slide, levels=[1], strategies=["threads"], workers=[2])
    assert summary(result)["speedup_vs_openslide"] is None
