"""Benchmark engine: how fast a slide level loads, by backend, strategy, chunking and worker count.

Qt-free; the CLI (``napari-wsi-io bench``) and the benchmark dock both drive ``run_plan``.
Plots live in ``napari_wsi_io.bench.plots`` (matplotlib, imported on demand).
"""

from __future__ import annotations

from .engine import run_plan
from .plan import BenchPlan
from .records import BenchResult, Progress, Record, Task, load_json, save_csv, save_json, summary
from .regions import CHUNKINGS
from .sinks import SINKS
from .strategies import STRATEGIES

__all__ = [
    "CHUNKINGS",
    "SINKS",
    "STRATEGIES",
    "BenchPlan",
    "BenchResult",
    "Progress",
    "Record",
    "Task",
    "load_json",
    "run_plan",
    "save_csv",
    "save_json",
    "summary",
]
