"""The decoded-chunk cache and the background chunk workers."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from napari_wsi_io import _cache
from napari_wsi_io._cache import CACHE_ENV_VAR, TileCache, set_cache_size, tile_cache
from napari_wsi_io._prefetch import ChunkWorkers, ring


def _array(nbytes: int, value: int = 0) -> np.ndarray:
    return np.full(nbytes, value, np.uint8)


def test_least_recently_used_go_first_and_the_bound_holds():
    cache = TileCache(300)
    for key in "abc":
        cache.put(key, _array(100))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", _array(100))
    assert "b" not in cache and all(k in cache for k in "acd")
    assert cache.nbytes == 300
    cache.put("big", _array(301))  # larger than the whole cache: not kept, nothing evicted for it
    assert "big" not in cache and cache.nbytes == 300
    cache.resize(150)
    assert list(cache._items) == ["d"] and cache.nbytes == 100
    cache.resize(0)
    assert len(cache) == 0 and cache.nbytes == 0


def test_cached_arrays_are_read_only():
    cache = TileCache(1000)
    cache.put("a", _array(10))
    with pytest.raises(ValueError):
        cache.get("a")[0] = 1


def test_concurrent_requests_load_a_key_once():
    cache = TileCache(10_000)
    calls = []
    gate = threading.Event()

    def load():
        calls.append(1)
        gate.wait(5)
        return _array(100, 7)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load("k", load))) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    gate.set()
    for t in threads:
        t.join(5)
    assert len(calls) == 1
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert cache.info()["misses"] == 1 and cache.info()["hits"] == 7


def test_a_failed_load_is_retried_by_the_next_caller():
    cache = TileCache(10_000)

    def fail():
        raise OSError("disk")

    with pytest.raises(OSError):
        cache.get_or_load("k", fail)
    assert not cache.loading("k")
    assert cache.get_or_load("k", lambda: _array(5, 1))[0] == 1


def test_a_cache_of_size_zero_still_returns_the_loaded_data():
    cache = TileCache(0)
    assert cache.get_or_load("k", lambda: _array(5, 3))[0] == 3
    assert len(cache) == 0


def test_size_from_the_environment_and_the_setter(monkeypatch):
    monkeypatch.setattr(_cache, "_cache", None)
    monkeypatch.setenv(CACHE_ENV_VAR, "64")
    assert tile_cache().max_bytes == 64 * 2**20
    set_cache_size(1.5)
    assert tile_cache().max_bytes == int(1.5 * 2**20)
    with pytest.raises(ValueError, match="cache size"):
        set_cache_size(-1)
    monkeypatch.setattr(_cache, "_cache", None)
    monkeypatch.setenv(CACHE_ENV_VAR, "lots")
    with pytest.warns(UserWarning, match=CACHE_ENV_VAR):
        assert tile_cache().max_bytes == _cache.DEFAULT_CACHE_MB * 2**20
    monkeypatch.setattr(_cache, "_cache", None)
    monkeypatch.delenv(CACHE_ENV_VAR)
    assert tile_cache().max_bytes == _cache.DEFAULT_CACHE_MB * 2**20


def test_workers_run_the_most_urgent_job_first_and_skip_unwanted_ones():
    ws = ChunkWorkers(max_threads=1, idle_exit_s=0.05)
    done, gate = [], threading.Event()
    ws.submit([(0, gate.wait, lambda: True)])  # holds the only thread while the rest is queued
    ws.submit([(p, lambda p=p: done.append(p), lambda p=p: p != 2) for p in (5, 1, 2, 3)])
    gate.set()
    deadline = time.monotonic() + 5
    while ws.threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert done == [1, 3, 5]
    assert ws.threads() == [] and ws.pending() == 0


def test_a_failing_job_does_not_stop_the_workers():
    ws = ChunkWorkers(max_threads=1, idle_exit_s=0.05)
    done = []

    def boom():
        raise RuntimeError("bad guess")

    ws.submit([(0, boom, lambda: True), (1, lambda: done.append(1), lambda: True)])
    deadline = time.monotonic() + 5
    while ws.threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert done == [1]
    assert ws.errors == ["RuntimeError: bad guess"]


def test_dropped_jobs_never_run():
    ws = ChunkWorkers(max_threads=1, idle_exit_s=0.05)
    gate, done = threading.Event(), []
    ws.submit([(0, gate.wait, lambda: True)])
    ws.submit([(1, lambda: done.append(1), lambda: True)])
    ws.drop()
    gate.set()
    deadline = time.monotonic() + 5
    while ws.threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert done == []


def test_ring_is_around_the_view_inside_the_grid_and_ahead_of_the_motion_first():
    view = (range(2, 4), range(3, 6))
    around = ring(*view, grid=(10, 10), motion=(0, 1))
    expected = {(r, c) for r in range(1, 5) for c in range(2, 7)} - {(r, c) for r in view[0] for c in view[1]}
    assert set(around) == expected and len(around) == len(expected)
    assert {rc[1] for rc in around[:4]} == {6}  # the column ahead comes first
    assert {rc[1] for rc in around[-4:]} == {2}  # the one behind last
    edge = ring(range(0, 2), range(0, 2), grid=(3, 3), width=2)
    assert set(edge) == {(r, c) for r in range(3) for c in range(3)} - {(0, 0), (0, 1), (1, 0), (1, 1)}
