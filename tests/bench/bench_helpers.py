"""Helpers shared by the benchmark tests."""

from __future__ import annotations

import hashlib

import numpy as np

from napari_wsi_io import open_slide
from napari_wsi_io.bench import BenchPlan, BenchResult, Progress, Record, run_plan


def drain(gen) -> tuple[list[Progress], BenchResult]:
    """Run a ``run_plan`` generator to its end: (events, result)."""
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


def run_bench(path, **options) -> BenchResult:
    """The result of running ``BenchPlan(path, **options)`` to its end."""
    return drain(run_plan(BenchPlan(str(path), **options)))[1]


def level_sha256(path, level: int) -> str:
    """The SHA-256 of a level read in one piece by the tifffile backend: the expected checksum."""
    with open_slide(path, "tifffile") as slide:
        w, h = slide.level_dimensions[level]
        return hashlib.sha256(np.ascontiguousarray(slide.read_level(level, 0, 0, w, h))).hexdigest()


def coverage(record: Record) -> np.ndarray:
    """How many times each pixel of the level was read by the record's tasks."""
    counts = np.zeros((record.height, record.width), np.int32)
    for t in record.tasks:
        counts[t.y : t.y + t.height, t.x : t.x + t.width] += 1
    return counts


def measured(result: BenchResult) -> list[Record]:
    return [r for r in result.records if r.strategy != "decode-limit"]
