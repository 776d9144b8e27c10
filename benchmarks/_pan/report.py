"""The printed report of ``benchmarks/pan.py``: every figure in ms and as ratios to its references."""

from __future__ import annotations


def print_results(results: dict) -> None:
    ref = results["raw_reference"]["viewport_read_ms"]
    s = results["summary"]
    _print_setup(results, ref)
    _print_open(results, ref)
    f = s["frame_floor"]
    print(
        f"one frame, no new data (camera moved inside the loaded tile): p50 {f['p50_ms']:.0f} ms = "
        f"{f['p50_ratio']:.1f}x ref (the software renderer's floor for any step)"
    )
    for name in ("pan", "zoom"):
        m = s[f"reference_{name}"]
        for label, d in (("in-memory pyramid", m), ("slide", s[name])):
            if d["n"]:
                _print_steps(name, label, d, m, ref)
    print(f"last pan tile equals the slide: {results['last_tile_equals_slide']}")
    _print_memory(results)


def _print_setup(results: dict, ref: float) -> None:
    print(f"slide: {results['slide']}  canvas {results['canvas'][1]}x{results['canvas'][0]}")
    print(f"settings: {results['settings']}")
    print(
        f"raw reference (cuCIM read_region, 1920x1080 at level 0): {ref:.1f} ms "
        f"(before napari {results['raw_reference']['before_napari_ms']:.1f}, "
        f"after panning {results['raw_reference']['after_panning_ms']:.1f})"
    )


def _print_open(results: dict, ref: float) -> None:
    for key, label in (("open", "first open (cold)"), ("open_again", "open again (warm)")):
        o = results[key]
        print(
            f"{label}: first pixel {o['first_pixel_s'] * 1e3:.0f} ms = {o['first_pixel_s'] / ref * 1e3:.1f}x ref "
            f"(not blank: {o['first_frame_not_blank']}); full view {o['full_view_s'] * 1e3:.0f} ms = "
            f"{o['full_view_s'] / ref * 1e3:.1f}x ref (level {o['level']}); "
            f"viewer.open returned after {o['viewer_open_returned_s'] * 1e3:.0f} ms"
        )


def _print_steps(name: str, label: str, d: dict, m: dict, ref: float) -> None:
    """One run's step figures ``d``, also as ratios to the in-memory pyramid's ``m`` and the raw read."""
    print(
        f"{name} steps, {label} (n={d['n']}, timeouts {d['timeouts']}): p50 {d['p50_ms']:.0f} ms = "
        f"{d['p50_ms'] / m['p50_ms']:.2f}x in-memory = {d['p50_ratio']:.1f}x raw read; p95 {d['p95_ms']:.0f} ms = "
        f"{d['p95_ms'] / m['p95_ms']:.2f}x in-memory = {d['p95_ratio']:.1f}x raw read; max {d['max_ms']:.0f} ms "
        f"= {d['max_ms'] / m['max_ms']:.2f}x in-memory; longest event-loop stall {d['max_stall_ms']:.0f} ms"
    )
    print(
        f"    {d['reloads']} reloads; pixel reads for napari per reload p50 {d['slice_p50_ms']:.0f} ms = "
        f"{d['slice_p50_ms'] / ref:.1f}x raw read, p95 {d['slice_p95_ms']:.0f} ms; "
        f"frames per step {d['frames_per_step_mean']:.2f} ({m['frames_per_step_mean']:.2f} in-memory), "
        f"per reloading step {d['frames_per_reload_mean']:.2f} ({m['frames_per_reload_mean']:.2f} in-memory)"
    )


def _print_memory(results: dict) -> None:
    if results.get("cache"):
        c = results["cache"]
        print(
            f"chunk cache: {c['nbytes'] / 2**20:.0f} of {c['max_bytes'] / 2**20:.0f} MB held, "
            f"{c['hits']} hits, {c['misses']} loads"
        )
    m = results["memory"]
    if "growth_mb" in m:
        print(
            f"memory: sweep of {m['fraction_of_level0']:.0%} of level 0 in {m['steps']} steps ({m['seconds']:.0f} s, "
            f"step p50 {m['step_p50_ms']:.0f} ms, p95 {m['step_p95_ms']:.0f} ms, stall {m['max_stall_ms']:.0f} ms): "
            f"RSS growth {m['growth_mb']:.0f} MB from before the first level-0 pan (during the sweep "
            f"{m['growth_during_sweep_mb']:.0f} MB; peak RSS {m['rss_peak_mb']:.0f} MB, "
            f"{m['growth_since_before_open_mb']:.0f} MB above the empty viewer)"
        )
