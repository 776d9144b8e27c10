"""The "WSI benchmark" dock in a real napari viewer: real slides, real engine, real buttons."""

from __future__ import annotations

import gc
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import psutil
import pytest
from qtpy.QtCore import Qt, QTimer

from napari_wsi_io.bench import load_json, summary
from napari_wsi_io.bench.records import best_records
from napari_wsi_io.bench.sinks import SHM_PREFIX

PLUGIN, DOCK = "napari-wsi-io", "WSI benchmark"
RUN_TIMEOUT_MS = 120_000


# -- helpers --


def open_dock(viewer, path):
    """Open ``path`` through the plugin and dock the widget from the manifest, as a user does."""
    layer = viewer.open(str(path), plugin=PLUGIN)[0]
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, DOCK)
    return layer, widget


def configure(widget, level=1, backends=("cucim",), strategies=("serial", "threads"), workers="1, 2", **more):
    widget.level_combo.value = level
    widget.backends.value = list(backends)
    widget.strategies.value = list(strategies)
    widget.chunkings.value = list(more.pop("chunkings", ["tiles"]))
    widget.workers.value = workers
    widget.chunk_size.value = more.pop("chunk_size", 512)
    widget.sink.value = more.pop("sink", "discard")
    widget.repeats.value = more.pop("repeats", 1)
    assert not more, more


def camera(viewer):
    scene = getattr(viewer, "scene", None)  # napari >= 0.9
    return viewer.camera if scene is None else scene.camera


def click(qtbot, button) -> None:
    """A real mouse click on the native QPushButton."""
    assert button.native.isEnabled(), f"{button.text!r} is disabled"
    qtbot.mouseClick(button.native, Qt.LeftButton)


def wait_done(qtbot, widget, timeout: int = RUN_TIMEOUT_MS) -> None:
    """Until the run has finished and its charts and overlay are rendered."""
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def gui_thread_cpu_wait() -> float:
    """Seconds the calling thread has been runnable but not running (Linux schedstat; 0 elsewhere)."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class Heartbeat:
    """A 10 ms QTimer on the GUI thread while inside: the gaps between its beats are the event loop's stalls."""

    def __init__(self, interval_ms: int = 10) -> None:
        self.ticks: list[float] = []
        self.cpu_waits: list[float] = []  # seconds the GUI thread has spent runnable but without a CPU, per tick
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        self.ticks.append(time.perf_counter())
        self.cpu_waits.append(gui_thread_cpu_wait())

    def __enter__(self) -> Heartbeat:
        self._timer.start()
        return self

    def __exit__(self, *_) -> None:
        self._timer.stop()

    def since(self, start: float) -> tuple[np.ndarray, np.ndarray]:
        """The beats from the last one before ``start`` (a ``time.perf_counter()``) on, and the CPU waits at each:
        the first gap spans ``start``."""
        first = max(0, next(i for i, t in enumerate(self.ticks) if t >= start) - 1)
        return np.array(self.ticks[first:]), np.array(self.cpu_waits[first:])


def click_latency(qtbot, button) -> float:
    """Seconds from a real click on ``button`` until the event loop runs again."""
    answered: list[float] = []

    def probe(*_) -> None:  # connected after the dock's own slot: runs once the click handler has returned
        QTimer.singleShot(0, lambda: answered.append(time.perf_counter()))

    button.native.clicked.connect(probe)
    clicked = time.perf_counter()
    try:
        click(qtbot, button)
    finally:
        button.native.clicked.disconnect(probe)
    qtbot.waitUntil(lambda: bool(answered), timeout=10_000)
    return answered[0] - clicked


def worker_processes() -> list[psutil.Process]:
    """Child processes of this test process, without multiprocessing's long-lived resource tracker."""
    procs = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(proc.cmdline()):
                procs.append(proc)
        except psutil.Error:
            pass
    return procs


def our_shared_memory() -> list[str]:
    prefix = f"{SHM_PREFIX}{os.getpid()}-"
    return [n for n in os.listdir("/dev/shm") if n.startswith(prefix)] if os.path.isdir("/dev/shm") else []


def maps_qt(pid: int) -> bool | None:
    """Whether process ``pid`` has Qt libraries mapped; None when it is gone."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None
    return "libQt5" in maps or "libQt6" in maps or "QtCore" in maps


class Notifications:
    """napari notifications received while the test runs."""

    def __init__(self) -> None:
        from napari.utils.notifications import notification_manager

        self.manager = notification_manager
        self.messages: list[str] = []
        notification_manager.notification_ready.connect(self._received)

    def _received(self, notification) -> None:
        self.messages.append(str(notification.message))

    def close(self) -> None:
        self.manager.notification_ready.disconnect(self._received)


@pytest.fixture
def notifications():
    received = Notifications()
    yield received
    received.close()


def write_huge_tiff(path: Path, side: int = 160_000, tile: int = 1024) -> Path:
    """A pyramid whose level 0 is ``side`` x ``side`` RGB (77 GB decoded) in a file of a few hundred kB.

    Every tile of every level points at the same deflate-compressed grey tile.
    """
    import struct
    import zlib

    data = zlib.compress(np.full((tile, tile, 3), 200, np.uint8).tobytes(), 9)
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    tile_offset = len(out)
    out += data
    sides = []
    s = side
    while s >= tile:
        sides.append(s)
        s //= 2
    ifd_offsets = []
    for i, s in enumerate(sides):
        per_side = -(-s // tile)  # tiles across, rounded up
        n = per_side * per_side
        if len(out) % 2:
            out += b"\x00"
        bits = len(out)
        out += struct.pack("<3H", 8, 8, 8)
        offsets = len(out)
        out += struct.pack(f"<{n}I", *([tile_offset] * n))
        counts = len(out)
        out += struct.pack(f"<{n}I", *([len(data)] * n))
        tags = [
            (254, 4, 1, 1 if i else 0),
            (256, 4, 1, s),
            (257, 4, 1, s),
            (258, 3, 3, bits),
            (259, 3, 1, 8),  # Adobe deflate
            (262, 3, 1, 2),  # RGB
            (277, 3, 1, 3),
            (284, 3, 1, 1),
            (322, 3, 1, tile),
            (323, 3, 1, tile),
            (324, 4, n, offsets),
            (325, 4, n, counts),
        ]
        if len(out) % 2:
            out += b"\x00"
        ifd_offsets.append(len(out))
        out += struct.pack("<H", len(tags))
        for code, kind, count, value in tags:
            packed = struct.pack("<H", value) + b"\x00\x00" if kind == 3 and count == 1 else struct.pack("<I", value)
            out += struct.pack("<HHI", code, kind, count) + packed
        out += b"\x00\x00\x00\x00"  # next IFD, patched below
    struct.pack_into("<I", out, 4, ifd_offsets[0])
    for this, following in zip(ifd_offsets, ifd_offsets[1:]):
        struct.pack_into("<I", out, this + 2 + 12 * 12, following)
    path.write_bytes(bytes(out))
    return path


# -- the charts hold the records' data --


def check_charts(widget, result) -> None:
    """Every chart's artists carry the numbers of the returned records (fastest repeat of each configuration)."""
    records = best_records(result.records)
    main = min(r.level for r in records)
    measured = [r for r in records if r.strategy != "decode-limit"]

    # time vs workers: one line per backend/strategy/chunking on the largest level, x = workers, y = seconds
    expected = defaultdict(dict)
    for r in measured:
        if r.level == main:
            name = f"{r.backend} {r.strategy}" + ("" if r.chunk == "level" else f"/{r.chunk}")
            expected[name][r.workers] = r.seconds
    lines = {a.get_label(): a for a in widget.charts.artists("workers") if a.get_label() != "decode limit"}
    assert set(lines) == set(expected)
    for name, by_workers in expected.items():
        assert list(lines[name].get_xdata()) == sorted(by_workers)
        assert list(lines[name].get_ydata()) == pytest.approx([by_workers[w] for w in sorted(by_workers)])
    limit = [a for a in widget.charts.artists("workers") if a.get_label() == "decode limit"]
    decode = min((r.seconds for r in records if r.strategy == "decode-limit" and r.level == main), default=None)
    assert [line.get_ydata()[0] for line in limit] == ([pytest.approx(decode)] if decode is not None else [])

    # time vs level: each backend's best seconds per level
    level_lines = {a.get_label(): a for a in widget.charts.artists("levels")}
    for backend in {r.backend for r in measured}:
        line = level_lines[f"{backend}: seconds"]
        best = {}
        for r in measured:
            if r.backend == backend and (r.level not in best or r.mpix_per_s > best[r.level].mpix_per_s):
                best[r.level] = r
        assert list(line.get_xdata()) == sorted(best)
        assert list(line.get_ydata()) == pytest.approx([best[v].seconds for v in sorted(best)])

    # backends: one bar per backend, its best MP/s on the largest level
    bars = [a for a in widget.charts.artists("backends") if hasattr(a, "get_height")]
    best_speed = defaultdict(float)
    for r in measured:
        if r.level == main:
            best_speed[r.backend] = max(best_speed[r.backend], r.mpix_per_s)
    assert sorted(b.get_height() for b in bars) == pytest.approx(sorted(best_speed.values()))

    # timeline: the record it shows, one bar per task, on its worker's row
    shown = widget.charts.panels["timeline"].data
    assert shown in result.records and shown.tasks
    segments = sum(len(c.get_paths()) for c in widget.charts.artists("timeline"))
    assert segments == len(shown.tasks)


def check_table(widget, result) -> None:
    table = widget.table
    assert table.rowCount() == len(result.records)
    listed = [table.record_at(row) for row in range(table.rowCount())]
    assert sorted(map(id, listed)) == sorted(map(id, result.records))
    best = summary(result)["best"]
    row = table.best_row()
    assert row is not None and table.record_at(row) is best
    assert [table.row_is_highlighted(r) for r in range(table.rowCount())].count(True) == 1
    assert table.row_is_highlighted(row)
    assert table.item(row, 7).text() == f"{best.mpix_per_s:.1f}"


# -- tests --


def test_benchmark_level_button_fills_charts_table_and_overlay(make_napari_viewer, qtbot, slides):
    viewer = make_napari_viewer()
    layer, widget = open_dock(viewer, slides["svs"])
    assert widget.run_level_button.native.text() == "Benchmark level"
    assert widget.run_all_button.native.text() == "Benchmark all levels"
    assert widget.cancel_button.native.text() == "Cancel"
    assert widget.layer_combo.value is not None and widget.layer_combo.value.name == layer.name
    configure(widget, level=1, strategies=("serial", "threads"), workers="1, 2")
    assert widget.status.text() == "Press Benchmark level to time level 1."
    qtbot.wait(50)
    assert [lyr.name for lyr in viewer.layers] == [layer.name]  # no empty overlay layer before a run
    seen = []
    click(qtbot, widget.run_level_button)
    assert widget.worker is not None and not widget.run_level_button.native.isEnabled()
    assert widget.cancel_button.native.isEnabled()
    overlay_at_start = []  # added after the click, before the worker starts: not mid-run
    widget.worker.started.connect(lambda: overlay_at_start.append("benchmark chunks" in viewer.layers))
    widget.worker.yielded.connect(seen.append)
    wait_done(qtbot, widget)
    assert overlay_at_start == [True]
    assert viewer.layers.selection.active is layer  # the user's selection is kept

    assert widget.error is None, widget.error
    result = widget.result
    assert result is not None
    # the decode limit, then serial, threads x1, threads x2, all on level 1
    assert [r.strategy for r in result.records].count("decode-limit") == 1
    measured = sorted((r.strategy, r.workers) for r in result.records if r.strategy != "decode-limit")
    assert measured == [("serial", 1), ("threads", 1), ("threads", 2)]
    assert {r.level for r in result.records} == {1}
    assert any(p.record is not None for p in seen) and widget.progress.value() == widget.progress.maximum()
    check_charts(widget, result)
    check_table(widget, result)
    # The canvas shows pixels drawn off the GUI thread: the same as drawing its figure here.
    panel = widget.charts.panels["workers"]
    assert widget.charts.currentWidget() is panel and panel.rendered_data is panel.data
    shown = np.asarray(panel.canvas.buffer_rgba()).copy()
    assert len(np.unique(shown.reshape(-1, 4), axis=0)) > 20  # lines, text, legend: not blank
    panel.canvas.draw()
    np.testing.assert_array_equal(np.asarray(panel.canvas.buffer_rgba()), shown)
    assert "Fastest" in widget.status.text()
    assert widget.run_level_button.native.isEnabled() and not widget.cancel_button.native.isEnabled()

    # The overlay shows the best record's chunks on top of the slide, coloured by worker.
    overlay = viewer.layers["benchmark chunks"]
    best = summary(result)["best"]
    assert overlay.metadata["record"].startswith(best.label)
    rgba = overlay.data
    assert (rgba[..., 3] > 0).all()  # the chunks cover the level
    colours = {tuple(c) for c in rgba[..., :3].reshape(-1, 3)}
    assert len(colours) == len({t.worker for t in best.tasks})
    np.testing.assert_allclose(overlay.extent.world, layer.extent.world, rtol=0, atol=layer.scale[0] * 4)
    # Colour by load time instead: one colour per distinct duration, still covering the level.
    widget.color_by.value = "load time"
    qtbot.waitUntil(lambda: overlay.metadata["color_by"] == "load time")
    assert len({tuple(c) for c in overlay.data[..., :3].reshape(-1, 3)}) > 1
    # Clicking another row shows that record's timeline and chunks.
    other = next(row for row in range(widget.table.rowCount()) if widget.table.record_at(row) is not best)
    widget.table.selectRow(other)
    assert widget.charts.panels["timeline"].data is widget.table.record_at(other)
    widget.show_overlay.value = False
    assert not overlay.visible


def test_processes_mode_from_the_gui_spawns_qt_free_workers(make_napari_viewer, qtbot, slides):
    viewer = make_napari_viewer()
    _, widget = open_dock(viewer, slides["svs"])
    configure(widget, level=1, strategies=("processes",), workers="2", chunk_size=256, repeats=2)
    inspected: dict[int, bool] = {}

    def inspect_children(_progress) -> None:
        for proc in worker_processes():
            qt = maps_qt(proc.pid)
            if qt is not None:
                inspected[proc.pid] = qt

    click(qtbot, widget.run_level_button)
    widget.worker.yielded.connect(inspect_children)
    wait_done(qtbot, widget)

    assert widget.error is None, widget.error
    records = [r for r in widget.result.records if r.strategy == "processes"]
    assert len(records) == 2 and all({t.worker for t in r.tasks} == {0, 1} for r in records)
    print(f"inspected {len(inspected)} worker processes")
    assert inspected, "no worker process was seen while the run went on"
    assert not any(inspected.values()), "a spawned worker has Qt loaded"
    assert worker_processes() == []
    check_table(widget, widget.result)


def test_cancel_stops_quickly_and_leaves_no_processes_or_shared_memory(make_napari_viewer, qtbot, slides):
    viewer = make_napari_viewer()
    _, widget = open_dock(viewer, slides["svs"])
    # Long enough to be cancelled mid-configuration: 10 repeats of level 0 in shared memory.
    configure(widget, level=0, strategies=("processes",), workers="2", chunk_size=256, sink="assemble", repeats=10)
    click(qtbot, widget.run_level_button)
    finished_at = []
    widget.worker.finished.connect(lambda: finished_at.append(time.perf_counter()))
    qtbot.waitUntil(lambda: bool(worker_processes() and our_shared_memory()), timeout=60_000)
    assert widget.worker is not None, "the run ended before it could be cancelled"

    clicked_at = time.perf_counter()
    click(qtbot, widget.cancel_button)
    wait_done(qtbot, widget, timeout=10_000)
    qtbot.waitUntil(lambda: bool(finished_at))  # each queued slot is its own event: the dock's may come first
    latency = finished_at[0] - clicked_at
    print(f"cancel took {latency * 1000:.0f} ms")
    assert latency < 1.0
    assert worker_processes() == []
    assert our_shared_memory() == []
    assert widget.result is None and widget.error is None
    assert "Cancelled" in widget.status.text()
    assert widget.progress.format() == "cancelled"
    assert widget.run_level_button.native.isEnabled() and not widget.cancel_button.native.isEnabled()


def test_closing_the_viewer_mid_run_stops_and_cleans_up(make_napari_viewer, qtbot, slides):
    viewer = make_napari_viewer()
    _, widget = open_dock(viewer, slides["svs"])
    configure(widget, level=0, strategies=("processes",), workers="2", chunk_size=256, sink="assemble", repeats=10)
    click(qtbot, widget.run_level_button)
    qtbot.waitUntil(lambda: bool(worker_processes() and our_shared_memory()), timeout=60_000)
    viewer.close()  # deletes the dock: the run is cancelled and cleaned up in its own thread
    qtbot.waitUntil(lambda: not worker_processes() and not our_shared_memory(), timeout=10_000)


def test_corrupt_tile_error_shows_in_dock_and_notification_then_dock_still_works(
    make_napari_viewer, qtbot, corrupt_slide, notifications
):
    viewer = make_napari_viewer()
    _, widget = open_dock(viewer, corrupt_slide)
    configure(widget, level=0, strategies=("serial",), workers="1")
    click(qtbot, widget.run_level_button)
    wait_done(qtbot, widget)

    assert widget.error is not None and f"cannot read {corrupt_slide}" in widget.error
    assert widget.error in widget.status.text()
    assert any(f"cannot read {corrupt_slide}" in m for m in notifications.messages), notifications.messages
    assert widget.result is None and widget.progress.format() == "failed"
    assert worker_processes() == []
    # The dock stays usable: the undamaged level 1 benchmarks fine.
    configure(widget, level=1, strategies=("serial",), workers="1")
    click(qtbot, widget.run_level_button)
    wait_done(qtbot, widget)
    assert widget.error is None and widget.result is not None
    assert "Error" not in widget.status.text()


def test_event_loop_never_stalls_while_benchmarking(make_napari_viewer, qtbot, slides):
    """A 10 ms QTimer heartbeat while a benchmark with live charts runs and the camera pans and zooms.

    The zoom stays within the pyramid level on screen: a level switch makes napari read and
    upload the new level on the GUI thread (its synchronous slicing), a cost of napari's
    that does not depend on the dock and that software rendering under Xvfb inflates.
    """
    viewer = make_napari_viewer(show=True)
    # A mid-sized window: under Xvfb napari renders in software, and a full-screen canvas
    # alone takes ~100 ms a frame on two busy cores (1200x800: 45 ms a frame, and stalls of
    # 103-112 ms in 2 runs of 7 on an idle machine, one frame plus an overlay update).
    viewer.window.resize(*map(int, os.environ.get("WSIZE", "960x640").split("x")))
    layer, widget = open_dock(viewer, slides["svs"])
    viewer.reset_view()
    configure(
        widget,
        level=0,
        strategies=("serial", "threads"),
        workers=os.environ.get("WORKERS", "1, 2"),
        chunk_size=256,
        repeats=2,
    )
    qtbot.wait(300)
    # A fresh viewer has ~300,000 new objects waiting for their first full collection; a napari
    # session that has been open for a while has had it.
    gc.collect()
    heartbeat = Heartbeat()
    start_zoom, start_center = camera(viewer).zoom, camera(viewer).center
    level_on_screen = layer.data_level
    steps = iter(range(10**6))

    def pan_and_zoom() -> None:
        i = next(steps)
        center = list(start_center)
        center[-1] += 40 * np.sin(i / 5)  # micrometres: about 160 level-0 pixels
        camera(viewer).center = tuple(center)
        camera(viewer).zoom = start_zoom * (1.0 - 0.25 * (i % 20) / 20)

    mover = QTimer()
    mover.setInterval(50)
    mover.timeout.connect(pan_and_zoom)
    added = []  # the overlay layer goes in on the turn after the click (the click answers at once)
    viewer.layers.events.inserted.connect(
        lambda event: added.append(time.perf_counter()) if event.value.name == "benchmark chunks" else None
    )
    with heartbeat:
        mover.start()
        qtbot.wait(100)
        clicked = time.perf_counter()
        click(qtbot, widget.run_level_button)
        click_ms = (time.perf_counter() - clicked) * 1000
        records_seen = []
        widget.worker.yielded.connect(lambda p: p.record is not None and records_seen.append(p.record))
        wait_done(qtbot, widget)  # the final table, charts and overlay included
        mover.stop()

    assert widget.error is None and widget.result is not None
    assert layer.data_level == level_on_screen
    assert len(records_seen) == len(widget.result.records) >= 5  # live chart updates for each of them
    assert viewer.layers["benchmark chunks"].metadata["tasks"] > 0
    # From the click on, the overlay layer's turn included: napari's own add, drawn before the engine starts.
    assert len(added) == 1 and clicked < added[0]
    beats, waits = heartbeat.since(clicked)
    after = int(np.searchsorted(beats, added[0]))
    overlay_ms = (beats[after] - beats[after - 1]) * 1000
    gaps = np.diff(beats)
    worst = int(gaps.argmax())
    print(
        f"longest stall from {beats[worst] - clicked:.2f} s to {beats[worst + 1] - clicked:.2f} s after the click, "
        f"{(waits[worst + 1] - waits[worst]) * 1000:.0f} ms of it waiting for a CPU"
    )
    print(
        f"heartbeat over {beats[-1] - clicked:.1f} s of benchmark with {next(steps)} camera moves: "
        f"max stall {gaps.max() * 1000:.0f} ms, 99th percentile {np.percentile(gaps, 99) * 1000:.0f} ms, "
        f"median {np.median(gaps) * 1000:.0f} ms; the click itself {click_ms:.0f} ms, the overlay's turn "
        f"{overlay_ms:.0f} ms"
    )
    # Smooth (99 % of the beats within 100 ms) and never frozen: a single 100 ms gap can be a software-rendered
    # frame and a dock update landing in one event-loop turn.
    assert np.percentile(gaps, 99) < 0.100 and gaps.max() < 0.200


def test_benchmark_click_answers_at_once_and_the_run_never_stalls(make_napari_viewer, qtbot, slides):
    """From a click on Benchmark level until the event loop runs again: at most 100 ms (median of 5 clicks).

    Each click finds no overlay layer, so each run adds one on the turn after the click: napari's own add
    (its controls and visual, 45-100 ms of CPU), then a frame, before the engine starts (drawn while the
    engine's threads started, that turn took 96-293 ms).  Each run's longest stall, that turn included, is
    held to 100 ms (the median of the five runs); the turn is printed.
    """
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(*map(int, os.environ.get("WSIZE", "960x640").split("x")))  # as in the heartbeat test
    layer, widget = open_dock(viewer, slides["svs"])
    viewer.reset_view()
    configure(widget, level=1, strategies=("serial",), workers="1")
    qtbot.wait(300)
    gc.collect()  # as in the heartbeat test: a fresh viewer's first full collection is not the dock's
    latencies, gaps, overlay_turns, added, worst_at, run_worst = [], [], [], [], [], []
    viewer.layers.events.inserted.connect(
        lambda event: added.append(time.perf_counter()) if event.value.name == "benchmark chunks" else None
    )
    for _ in range(5):
        if "benchmark chunks" in viewer.layers:
            viewer.layers.remove("benchmark chunks")
            qtbot.wait(100)
        with Heartbeat() as heartbeat:
            qtbot.wait(50)  # beats before the click: the gap that spans it is counted
            clicked = time.perf_counter()
            latencies.append(click_latency(qtbot, widget.run_level_button))
            wait_done(qtbot, widget)
        assert widget.error is None and widget.result is not None
        assert viewer.layers["benchmark chunks"].metadata["tasks"] > 0
        assert clicked < added[-1]
        beats = heartbeat.since(clicked)[0]
        after = int(np.searchsorted(beats, added[-1]))  # the first beat after the layer went in ends its turn
        assert after > 0
        overlay_turns.append(beats[after] - beats[after - 1])
        gaps.append(np.diff(beats))
        worst = int(gaps[-1].argmax())
        run_worst.append(gaps[-1][worst])
        worst_at.append(f"{beats[worst] - clicked:.2f}-{beats[worst + 1] - clicked:.2f} s of {beats[-1] - clicked:.2f}")
    gaps = np.concatenate(gaps)
    print(
        f"click answered in {', '.join(f'{t * 1000:.0f}' for t in latencies)} ms "
        f"(median {np.median(latencies) * 1000:.0f} ms); adding the overlay layer: "
        f"{', '.join(f'{t * 1000:.0f}' for t in overlay_turns)} ms; the runs: max stall {gaps.max() * 1000:.0f} ms, "
        f"99th percentile {np.percentile(gaps, 99) * 1000:.0f} ms, median {np.median(gaps) * 1000:.0f} ms; "
        f"each run's longest stall after the click: {', '.join(worst_at)}"
    )
    assert np.median(latencies) <= 0.100
    # A typical run, the overlay's turn included, stalls the loop at most 100 ms; none freezes it.  One turn of about
    # 200 ms turned up once in seven runs of tests/_qt under Xvfb (not in the overlay's turn): a software-rendered
    # frame meeting other work of the machine.
    assert np.median(run_worst) <= 0.100 and gaps.max() < 0.300


def test_assemble_on_a_level_too_big_for_memory_is_refused_with_the_reason(
    make_napari_viewer, qtbot, tmp_path, notifications
):
    huge = write_huge_tiff(tmp_path / "huge.tif")
    viewer = make_napari_viewer()
    layer, widget = open_dock(viewer, huge)
    assert layer.data[0].shape == (160_000, 160_000, 3)
    # Deflate tiles: read by the tifffile backend (cuCIM is not trusted with them).
    configure(widget, level=0, backends=("tifffile",), strategies=("serial",), workers="1", sink="assemble")
    click(qtbot, widget.run_level_button)
    wait_done(qtbot, widget, timeout=30_000)
    # Refused by the engine's check, before any progress: nothing was measured or allocated.
    assert widget.records == [] and widget.result is None
    assert widget.status.text().startswith("Not started: level 0 (160000x160000")
    assert "does not fit in memory" in widget.status.text()
    assert widget.progress.format() == "not started"
    assert any("does not fit in memory" in m for m in notifications.messages), notifications.messages
    assert widget.run_level_button.native.isEnabled()
    assert worker_processes() == []


def test_level_choice_defaults_to_the_level_on_screen(make_napari_viewer, qtbot, slides):
    viewer = make_napari_viewer(show=True)
    layer, widget = open_dock(viewer, slides["svs"])
    viewer.reset_view()
    qtbot.wait(200)
    assert widget.level_combo.value == "screen"
    for zoom in (0.05, 4.0):  # far out: a coarse level; close in: level 0
        camera(viewer).zoom = zoom
        qtbot.waitUntil(lambda: widget.level_combo.native.itemText(0).endswith(f"(now {layer.data_level})"))
        plan = widget.build_plan()
        assert plan.levels == [layer.data_level]
        assert plan.path == str(slides["svs"])
    assert widget.build_plan(all_levels=True).levels is None


def test_save_results_and_charts(make_napari_viewer, qtbot, slides, tmp_path, monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    viewer = make_napari_viewer()
    _, widget = open_dock(viewer, slides["svs"])
    assert not widget.save_results_button.native.isEnabled()  # nothing to save yet
    configure(widget, level=2, strategies=("serial",), workers="1")
    click(qtbot, widget.run_all_button)  # every level
    wait_done(qtbot, widget)
    result = widget.result
    assert {r.level for r in result.records} == {0, 1, 2}

    answers = iter([str(tmp_path / "bench.json"), str(tmp_path / "bench.csv"), str(tmp_path / "bench.png")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (next(answers), ""))
    click(qtbot, widget.save_results_button)
    click(qtbot, widget.save_results_button)
    click(qtbot, widget.save_charts_button)

    loaded = load_json(tmp_path / "bench.json")
    assert [r.to_dict() for r in loaded.records] == [r.to_dict() for r in result.records]
    rows = (tmp_path / "bench.csv").read_text().strip().splitlines()
    assert len(rows) == len(result.records) + 1 and rows[0].startswith("backend,strategy")
    import matplotlib.image

    png = matplotlib.image.imread(tmp_path / "bench.png")
    assert png.shape[0] > 500 and png.shape[1] > 700
    assert png[..., :3].std() > 0.05  # drawn, not blank
    assert "saved" in widget.status.text()


def test_export_button_docks_the_export_widget(make_napari_viewer, qtbot, slides, notifications):
    import importlib.util

    viewer = make_napari_viewer()
    _, widget = open_dock(viewer, slides["svs"])
    exists = importlib.util.find_spec("napari_wsi_io._qt.export_widget") is not None
    click(qtbot, widget.export_button)
    if exists:
        from napari_wsi_io._qt.export_widget import ExportWidget

        docked = widget.open_export()  # a second request finds the same dock
        assert isinstance(docked, ExportWidget)
        assert "not available" not in widget.status.text()
    else:
        assert "OME-Zarr export is not available" in widget.status.text()
        assert any("OME-Zarr export is not available" in m for m in notifications.messages)


def test_charts_and_table_follow_the_napari_theme(make_napari_viewer, qtbot, slides):
    from matplotlib.colors import same_color
    from napari.utils.theme import get_theme

    viewer = make_napari_viewer()
    _, widget = open_dock(viewer, slides["svs"])
    configure(widget, level=2, strategies=("serial",), workers="1")
    click(qtbot, widget.run_level_button)
    wait_done(qtbot, widget)
    for theme_id in ("light", "dark"):
        viewer.theme = theme_id
        wait_done(qtbot, widget)
        theme = get_theme(theme_id)
        panel = widget.charts.panels["workers"]
        assert same_color(panel.figure.get_facecolor(), theme.background.as_hex())
        ax = panel.figure.axes[0]
        assert same_color(ax.title.get_color(), theme.text.as_hex())
        assert all(same_color(t.get_color(), theme.text.as_hex()) for t in ax.get_xticklabels())
        # matplotlib's toolbar draws light icons on a dark palette
        palette_value = panel.toolbar.palette().color(panel.toolbar.backgroundRole()).value()
        assert (palette_value < 128) == (theme.type == "dark")
        row = widget.table.best_row()
        assert widget.table.item(row, 0).background().color().name() == theme.current.as_hex()
