"""Figures from the recorded steps: percentiles, ratios to the raw read, frames and reloads; RSS."""

from __future__ import annotations

import statistics

import numpy as np


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def summary(steps: list[dict], ref: float) -> dict:
    """Step times (timeouts left out) as ms and as ratios to ``ref``, the raw read; frames and pixel reads."""
    seconds = [s["seconds"] for s in steps]
    ok = [s for s in seconds if s == s]
    reloads = [s for s in steps if s["reloaded"]]
    slices = [s["slice_seconds"] for s in reloads]
    return {
        "reloads": len(reloads),
        "frames_per_step_mean": float(np.mean([s["frames"] for s in steps])) if steps else float("nan"),
        "frames_per_reload_mean": float(np.mean([s["frames"] for s in reloads])) if reloads else float("nan"),
        "slice_p50_ms": percentile(slices, 50) * 1e3,
        "slice_p95_ms": percentile(slices, 95) * 1e3,
        "n": len(seconds),
        "timeouts": len(seconds) - len(ok),
        "p50_ms": percentile(ok, 50) * 1e3,
        "p95_ms": percentile(ok, 95) * 1e3,
        "max_ms": (max(ok) if ok else float("nan")) * 1e3,
        "p50_ratio": percentile(ok, 50) / ref,
        "p95_ratio": percentile(ok, 95) / ref,
    }


def raw_reference_figures(before: list[float], after: list[float]) -> tuple[float, dict]:
    """The raw read every figure is divided by (seconds: the median of all reads), and its figures."""
    ref = statistics.median(before + after)
    return ref, {
        "viewport_read_ms": ref * 1e3,
        "before_napari_ms": statistics.median(before) * 1e3,
        "after_panning_ms": statistics.median(after) * 1e3,
        "reads": len(before) + len(after),
    }


def summaries(results: dict, ref: float, stalls: dict[str, float]) -> dict:
    """Every run's figures; ``stalls`` holds each run's longest event-loop stall in seconds."""
    first, full = results["open"]["first_pixel_s"], results["open"]["full_view_s"]

    def run(name: str, steps_key: str) -> dict:
        return {**summary(results[steps_key], ref), "max_stall_ms": stalls[name] * 1e3}

    return {
        "open_first_pixel": {"seconds": first, "ratio": first / ref},
        "open_full_view": {"seconds": full, "ratio": full / ref},
        "frame_floor": summary(results["frame_floor"], ref),
        "pan": run("pan", "pan_steps"),
        "zoom": run("zoom", "zoom_steps"),
        "reference_pan": run("reference_pan", "reference_pan_steps"),
        "reference_zoom": run("reference_zoom", "reference_zoom_steps"),
    }
