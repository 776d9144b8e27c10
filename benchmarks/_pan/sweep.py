"""Memory: RSS after a serpentine sweep across level 0, one viewport per step, no dwell."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

from .canvas import CANVAS
from .moves import Stage
from .stats import percentile, rss_mb


@dataclass
class _Sweep:
    peak_mb: float  # RSS sampled every 20 steps
    start: float = 0.0  # perf_counter when the first step began
    steps: int = 0
    rows: int = 0
    times: list[float] = field(default_factory=list)
    stall_s: float = 0.0


def memory_sweep(stage: Stage, shape: tuple[int, int], budget_s: float | None, rss_start: float, rss_open: float):
    """RSS figures; with ``budget_s`` None, only those before any sweep (``--no-sweep``)."""
    gc.collect()
    rss_before_sweep = rss_mb()
    figures = {"rss_start_mb": rss_start, "rss_after_open_mb": rss_open, "rss_before_sweep_mb": rss_before_sweep}
    if budget_s is None:
        return figures
    sweep = _serpentine(stage, shape, budget_s, _Sweep(rss_before_sweep))
    gc.collect()
    rss_after = rss_mb()
    ok = [t for t in sweep.times if t == t]
    figures.update(
        {
            "steps": sweep.steps,
            "fraction_of_level0": min(1.0, sweep.rows * CANVAS[0] / shape[0]),
            "seconds": time.perf_counter() - sweep.start,
            "rss_after_mb": rss_after,
            "rss_peak_mb": max(sweep.peak_mb, rss_after),
            # From the moment the slide is open, before any panning at level 0, to after the sweep.
            "growth_mb": rss_after - rss_open,
            "growth_during_sweep_mb": rss_after - rss_before_sweep,
            "growth_since_before_open_mb": rss_after - rss_start,
            "step_p50_ms": percentile(ok, 50) * 1e3,
            "step_p95_ms": percentile(ok, 95) * 1e3,
            "max_stall_ms": sweep.stall_s * 1e3,
        }
    )
    return figures


def _serpentine(stage: Stage, shape: tuple[int, int], budget_s: float, sweep: _Sweep) -> _Sweep:
    """Rows of viewports at 1:1, alternately left to right and back, until the level or the budget ends."""
    h0, w0 = shape
    stage.camera.zoom = 1 / stage.layer.scale[-1]
    rows = range(CANVAS[0] // 2, h0, CANVAS[0])
    cols = list(range(CANVAS[1] // 2, w0, CANVAS[1]))
    sweep.start = time.perf_counter()
    stage.watch.start_stall_monitor()
    for r, y in enumerate(rows):
        for x in cols if r % 2 == 0 else cols[::-1]:
            sweep.times.append(stage.pan_to(stage.layer, (y, x), 0)["seconds"])
            sweep.steps += 1
            if sweep.steps % 20 == 0:
                sweep.peak_mb = max(sweep.peak_mb, rss_mb())
        sweep.rows = r + 1
        if time.perf_counter() - sweep.start > budget_s:
            break
    sweep.stall_s = stage.watch.stop_stall_monitor()
    return sweep
