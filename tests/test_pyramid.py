import threading

import dask
import dask.array as da
import numpy as np
import pytest

from napari_wsi_io import SlideReadError, open_slide, pyramid


@pytest.fixture
def svs(slides):
    with open_slide(slides["svs"]) as slide:
        yield slide


def test_building_the_pyramids_and_the_layer_reads_no_pixels(svs, slides, monkeypatch):
    from napari_wsi_io._reader import read_slide
    from napari_wsi_io.backends._base import Slide
    from napari_wsi_io.pyramid import display_pyramid

    reads = []
    read_level = Slide.read_level
    monkeypatch.setattr(Slide, "read_level", lambda *args, **kw: reads.append(args) or read_level(*args, **kw))
    assert len(pyramid(svs)) == 3
    assert len(display_pyramid(svs)) == 3
    assert len(read_slide(str(slides["svs"]))[0][0]) == 3
    assert reads == []
    pyramid(svs)[2][:10, :10].compute()  # the patch sees reads
    assert len(reads) == 1


@pytest.mark.parametrize("chunks", [None, (256, 512), (768, 256)])
def test_levels_equal_the_slide_under_parallel_reads(svs, chunks):
    levels = pyramid(svs, chunks=chunks)
    for level, array in enumerate(levels):
        w, h = svs.level_dimensions[level]
        expected = svs.read_level(level, 0, 0, w, h)
        with dask.config.set(scheduler="threads", num_workers=8):
            np.testing.assert_array_equal(array.compute(), expected)
        np.testing.assert_array_equal(
            array[h // 3 : h // 2, 7 : w - 5 : 3].compute(), expected[h // 3 : h // 2, 7 : w - 5 : 3]
        )
        np.testing.assert_array_equal(np.asarray(array[h - 1, w - 1]), expected[h - 1, w - 1])


def test_odd_sized_levels(slides):
    with open_slide(slides["lzw"]) as slide:
        levels = pyramid(slide)
        assert [a.shape[:2] for a in levels] == [(h, w) for w, h in slide.level_dimensions]
        assert levels[1].shape == (519, 777, 3)
        np.testing.assert_array_equal(levels[1][-10:, -10:].compute(), slide.read_level(1, 767, 509, 10, 10))


def test_corrupt_tile_blanks_only_that_tile_when_reported(corrupt_slide):
    with open_slide(corrupt_slide) as slide:
        with pytest.raises(SlideReadError, match=r"level 0, tile \(5, 0\)"):
            pyramid(slide)[0][:512, 1024:1536].compute()
        errors = []
        level0 = pyramid(slide, on_error=errors.append)[0]
        region = level0[:512, 1024:1536].compute()
        assert [str(e) for e in errors] == [
            f"cannot read {corrupt_slide}: level 0, tile (5, 0): JPEG tile has corrupt compressed data"
        ]
        assert not region[:256, 256:].any()  # the damaged tile reads as zeros
        np.testing.assert_array_equal(region[:, :256], slide.read_level(0, 1024, 0, 256, 512))
        np.testing.assert_array_equal(region[256:], slide.read_level(0, 1024, 256, 512, 256))


# -- the display pyramid: what napari slices --


@pytest.fixture
def small_cache():
    """A private cache of ``nbytes`` so tests neither see nor disturb the shared one."""
    from napari_wsi_io._cache import TileCache

    return lambda nbytes: TileCache(nbytes)


def _wait_idle(timeout: float = 10.0) -> None:
    import time

    from napari_wsi_io._prefetch import workers

    deadline = time.monotonic() + timeout
    while (workers().pending() or workers().threads()) and time.monotonic() < deadline:
        time.sleep(0.01)


def _hold_every_worker(gate: threading.Event) -> None:
    """Park each worker thread on ``gate`` so that jobs stay queued until it is set."""
    import time

    from napari_wsi_io._prefetch import workers

    _wait_idle()
    workers().submit([(0, gate.wait, lambda: True)] * workers().max_threads)
    deadline = time.monotonic() + 10
    while workers().pending() and time.monotonic() < deadline:  # every worker has taken its gate
        time.sleep(0.01)


@pytest.mark.parametrize("kind", ["svs", "lzw", "deflate-small-tiles", "gray16"])
@pytest.mark.parametrize("cache_bytes", [0, 3_000_000, 1 << 30], ids=["no-cache", "evicting", "roomy"])
def test_display_levels_equal_the_slide(slides, kind, cache_bytes, small_cache):
    from napari_wsi_io.pyramid import display_pyramid

    with open_slide(slides[kind]) as slide:
        cache = small_cache(cache_bytes)
        levels = display_pyramid(slide, cache=cache)
        rng = np.random.default_rng(0)
        for level, array in enumerate(levels):
            h, w = array.shape[:2]
            assert isinstance(array, da.Array)
            assert array.chunksize[:2] == (min(h, array.chunksize[0]), min(w, array.chunksize[1]))
            for _ in range(4):  # unaligned regions, twice over the same places
                y0, x0 = rng.integers(0, h - 1), rng.integers(0, w - 1)
                y1, x1 = rng.integers(y0 + 1, h + 1), rng.integers(x0 + 1, w + 1)
                expected = slide.read_level(level, x0, y0, x1 - x0, y1 - y0)
                np.testing.assert_array_equal(array[y0:y1, x0:x1], expected)
                np.testing.assert_array_equal(array[y0:y1, x0:x1], expected)
            np.testing.assert_array_equal(np.asarray(levels[-1]), levels[-1][...].compute())
            assert cache.nbytes <= cache.max_bytes
        _wait_idle()


def test_display_levels_under_parallel_reads(svs, small_cache):
    from concurrent.futures import ThreadPoolExecutor

    from napari_wsi_io.pyramid import display_pyramid

    level0 = display_pyramid(svs, cache=small_cache(2_000_000))[0]
    h, w = level0.shape[:2]
    boxes = [(y, x) for y in range(0, h - 700, 650) for x in range(0, w - 900, 850)]

    def check(box):
        y, x = box
        np.testing.assert_array_equal(level0[y : y + 700, x : x + 900], svs.read_level(0, x, y, 900, 700))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(check, boxes * 2))
    _wait_idle()


def test_display_levels_read_ellipsis_points_and_steps(svs, small_cache):
    from napari_wsi_io.pyramid import display_pyramid

    level1 = display_pyramid(svs, cache=small_cache(1 << 26))[1]
    expected = svs.read_level(1, 0, 0, *svs.level_dimensions[1])
    np.testing.assert_array_equal(level1[..., 1], expected[..., 1])
    np.testing.assert_array_equal(level1[5, ...], expected[5])
    np.testing.assert_array_equal(level1[10:400:7, 3::5, :2], expected[10:400:7, 3::5, :2])
    assert level1[7, 9, 2] == expected[7, 9, 2]
    assert level1[3:3].shape == (0, expected.shape[1], 3)
    _wait_idle()


def test_display_read_prefetches_around_the_view_and_a_level_up(svs, small_cache):
    from napari_wsi_io.pyramid import display_pyramid

    cache = small_cache(1 << 28)
    levels = display_pyramid(svs, cache=cache, prefetch=True)
    chunks = levels[0].source.display
    ch, cw = levels[0].source.chunks[:2]  # the cached chunks
    levels[0][ch : 2 * ch, cw : 2 * cw].compute()  # one chunk in the middle of level 0
    _wait_idle()
    rows, cols = chunks.grids[0]
    around = {(r, c) for r in range(0, 3) for c in range(0, 3) if r < rows and c < cols} - {(1, 1)}
    assert all(chunks.key(0, r, c) in cache for r, c in around)
    assert chunks.key(1, 0, 0) in cache  # the same place one level coarser
    assert len(cache) < sum(r * c for r, c in chunks.grids)  # not everything


def test_display_read_without_prefetch_reads_only_the_view(svs, small_cache):
    from napari_wsi_io.pyramid import display_pyramid

    cache = small_cache(1 << 28)
    levels = display_pyramid(svs, cache=cache, prefetch=False)
    ch, cw = levels[0].source.chunks[:2]  # the cached chunks
    levels[0][ch : 2 * ch, cw : 2 * cw + 1].compute()
    _wait_idle()
    assert sorted(k[1:] for k in cache._items) == [(0, 1, 1), (0, 1, 2)]


def test_a_new_view_drops_the_guesses_made_for_the_old_one(svs, small_cache):
    from napari_wsi_io._prefetch import workers
    from napari_wsi_io.pyramid import display_pyramid

    cache = small_cache(1 << 28)
    chunks = display_pyramid(svs, (512, 512), cache=cache)[0].source.display
    gate = threading.Event()
    _hold_every_worker(gate)
    try:
        chunks.viewed(0, range(0, 1), range(0, 1))
        stale = workers().pending()
        chunks.viewed(0, range(4, 5), range(6, 7))
    finally:
        gate.set()
    _wait_idle()
    assert stale > 0
    assert chunks.key(0, 0, 1) not in cache  # guessed for the first view only: never decoded
    assert chunks.key(0, 4, 5) in cache


def test_a_collected_display_pyramid_drops_its_chunks(svs, small_cache):
    import gc
    import weakref

    from napari_wsi_io.pyramid import display_pyramid

    cache = small_cache(1 << 28)
    levels = display_pyramid(svs, cache=cache, prefetch=False)
    levels[0][:600, :600].compute()
    token, state = levels[0].source.display.token, weakref.ref(levels[0].source.display)
    assert any(k[0] == token for k in cache._items)
    del levels
    gc.collect()
    assert state() is None
    display_pyramid(svs, cache=cache, prefetch=False)[2][:10, :10].compute()  # the next read tidies up
    assert not any(k[0] == token for k in cache._items)


def test_display_corrupt_tile_blanks_only_that_tile(corrupt_slide, small_cache):
    from napari_wsi_io.pyramid import display_pyramid

    with open_slide(corrupt_slide) as slide:
        with pytest.raises(SlideReadError, match=r"level 0, tile \(5, 0\)"):
            display_pyramid(slide, cache=small_cache(1 << 26), prefetch=False)[0][:512, 1024:1536].compute()
        errors = []
        level0 = display_pyramid(slide, on_error=errors.append, cache=small_cache(1 << 26), prefetch=False)[0]
        region = level0[:512, 1024:1536].compute()
        assert [str(e) for e in errors] == [
            f"cannot read {corrupt_slide}: level 0, tile (5, 0): JPEG tile has corrupt compressed data"
        ]
        assert not region[:256, 256:].any()
        np.testing.assert_array_equal(region[:, :256], slide.read_level(0, 1024, 0, 256, 512))
        np.testing.assert_array_equal(region[256:], slide.read_level(0, 1024, 256, 512, 256))


def test_closing_a_display_pyramid_stops_its_prefetch_and_frees_its_chunks(svs, small_cache):
    from napari_wsi_io._prefetch import workers
    from napari_wsi_io.pyramid import close_display_pyramid, display_pyramid

    cache = small_cache(1 << 28)
    levels = display_pyramid(svs, cache=cache)
    gate = threading.Event()
    _hold_every_worker(gate)
    try:
        levels[0][:600, :600]  # slicing alone queues the view's chunks and the guesses around it
        assert workers().pending() > 0  # guesses queued around the view
        close_display_pyramid(levels)
        assert workers().pending() == 0 and len(cache) == 0
    finally:
        gate.set()
    _wait_idle()
    assert len(cache) == 0  # nothing was decoded for it after closing
    np.testing.assert_array_equal(levels[0][100:200, 50:70], svs.read_level(0, 50, 100, 20, 100))


def test_the_allocator_is_asked_to_give_memory_back_after_evictions(svs, small_cache, monkeypatch):
    from napari_wsi_io._cache import release_free_memory
    from napari_wsi_io._display import state
    from napari_wsi_io.pyramid import display_pyramid

    release_free_memory()  # harmless anywhere: a no-op without glibc
    monkeypatch.setattr(state, "_TRIM_AFTER", 1 << 20)
    trims = []
    monkeypatch.setattr(state, "release_free_memory", lambda: trims.append(release_free_memory()))
    cache = small_cache(2_000_000)
    level0 = display_pyramid(svs, (512, 512), cache=cache, prefetch=False)[0]
    for x in range(0, 3000, 512):
        level0[:512, x : x + 512].compute()
    _wait_idle()
    assert trims  # 6 chunks through a 2-chunk cache evict more than a MiB: a trim job ran
    assert cache.nbytes <= cache.max_bytes


def test_a_damaged_chunk_is_reported_by_the_read_that_shows_it_not_by_prefetch(corrupt_slide, small_cache):
    from napari_wsi_io.pyramid import display_pyramid

    with open_slide(corrupt_slide) as slide:
        errors = []
        levels = display_pyramid(slide, on_error=errors.append, cache=small_cache(1 << 28), prefetch=True)
        levels[1][:256, :256].compute()  # level 1 prefetches the middle of level 0 under it, damaged tile included
        _wait_idle()
        assert errors == []
        region = levels[0][:512, 1024:1536].compute()
        assert [str(e) for e in errors] == [
            f"cannot read {corrupt_slide}: level 0, tile (5, 0): JPEG tile has corrupt compressed data"
        ]
        assert not region[:256, 256:].any()
        np.testing.assert_array_equal(region[256:], slide.read_level(0, 1024, 256, 512, 256))


def test_computing_a_whole_displayed_level_is_one_cucim_read_with_a_worker_per_core(svs, monkeypatch):
    import os

    from napari_wsi_io.backends._cucim import CucimSlide
    from napari_wsi_io.pyramid import display_pyramid

    assert svs.backend == "cucim"
    calls = []
    read_cucim = CucimSlide.read_cucim
    monkeypatch.setattr(CucimSlide, "read_cucim", lambda self, *a, **kw: calls.append(kw) or read_cucim(self, *a, **kw))
    levels, plain = display_pyramid(svs, prefetch=False), pyramid(svs)
    for level in (0, 2):
        expected = plain[level].compute(scheduler="sync")
        calls.clear()
        np.testing.assert_array_equal(levels[level].compute(), expected)
        np.testing.assert_array_equal(np.asarray(levels[level]), expected)
        assert calls == [{"num_workers": os.cpu_count() or 1}] * 2
    # Slices, and a scheduler asked for, still go chunk by chunk through dask.
    calls.clear()
    np.testing.assert_array_equal(
        levels[0][100:300, 200:900].compute(), expected_region := svs.read_level(0, 200, 100, 700, 200)
    )
    np.testing.assert_array_equal(levels[0].compute(scheduler="sync")[100:300, 200:900], expected_region)
    assert all(kw.get("num_workers", 0) == 0 for kw in calls)


def test_computing_a_whole_level_with_a_damaged_tile_reports_it_and_blanks_only_that_tile(corrupt_slide, small_cache):
    from napari_wsi_io.pyramid import display_pyramid

    with open_slide(corrupt_slide) as slide:
        with pytest.raises(SlideReadError, match=r"level 0, tile \(5, 0\)"):
            display_pyramid(slide, cache=small_cache(1 << 26), prefetch=False)[0].compute()
        errors = []
        level = display_pyramid(slide, on_error=errors.append, cache=small_cache(1 << 26), prefetch=False)[0].compute()
        assert len(errors) == 1 and "tile (5, 0)" in str(errors[0])
        assert not level[:256, 1280:1536].any()
        np.testing.assert_array_equal(level[:256, :1280], slide.read_level(0, 0, 0, 1280, 256))


def test_a_slice_for_a_frame_is_read_at_once_and_anything_else_stays_lazy(svs, small_cache):
    from napari_wsi_io.pyramid import display_pyramid, slicing_in_frame

    level0 = display_pyramid(svs, cache=small_cache(1 << 28), prefetch=False)[0]
    region = (slice(700, 2100), slice(900, 3050), slice(None))
    expected = svs.read_level(0, 900, 700, 2150, 1400)
    lazy = level0[region]
    assert isinstance(lazy, da.Array)
    for coarse in (False, True):
        with slicing_in_frame(coarse):
            now = level0[region]
            fancy = level0[[1, 5, 9]]  # not napari's kind of slice: dask's way
        assert isinstance(now, np.ndarray) and isinstance(fancy, da.Array)
        np.testing.assert_array_equal(now, expected)  # no viewer to refresh it: never drawn coarse
        np.testing.assert_array_equal(level0[700:701, 900, 1].compute(), expected[:1, 0, 1])
    assert isinstance(level0[region], da.Array)  # the context is over
    np.testing.assert_array_equal(lazy.compute(), expected)


def test_after_a_long_pan_a_frame_draws_missing_chunks_from_the_resident_coarsest_level(svs, small_cache):
    """A pan long enough to push every coarser chunk out of the cache must still not make a frame wait."""
    from napari_wsi_io.pyramid import display_pyramid, slicing_in_frame

    cache = small_cache(1 << 28)
    levels = display_pyramid(svs, cache=cache, prefetch=False)
    chunks, last = levels[0].source.display, len(levels) - 1
    assert chunks.resident.level == last and svs.level_count > 2
    landed = threading.Event()
    chunks.subscribe(landed.set)  # as the viewer does: chunks may be drawn coarse
    levels[0][:10, :10]  # the first view queues the coarsest level too
    _wait_idle()
    cache.clear()  # what a long pan over level 0 does to everything else
    main = threading.get_ident()
    decoded_here = []
    load = chunks.load
    chunks.load = lambda *a, **kw: decoded_here.append(threading.get_ident() == main) or load(*a, **kw)
    gate = threading.Event()
    _hold_every_worker(gate)
    try:
        with slicing_in_frame():
            shown = levels[0][1100:2300, 1500:3700]
    finally:
        gate.set()
    assert not any(decoded_here)  # nothing decoded on the frame's thread
    f = svs.level_downsamples[last]
    coarsest = svs.read_level(last, 0, 0, *svs.level_dimensions[last])
    ys = np.minimum((np.arange(1100, 2300) / f).astype(int), coarsest.shape[0] - 1)
    xs = np.minimum((np.arange(1500, 3700) / f).astype(int), coarsest.shape[1] - 1)
    np.testing.assert_array_equal(shown, coarsest[ys[:, None], xs[None, :]])
    assert landed.wait(10)
    _wait_idle()
    assert not chunks.provisional
    with slicing_in_frame():
        np.testing.assert_array_equal(levels[0][1100:2300, 1500:3700], svs.read_level(0, 1500, 1100, 2200, 1200))
    assert chunks.resident.chunks
    chunks.close()
    assert not chunks.resident.chunks
    assert display_pyramid(svs, cache=small_cache(0))[0].source.display.resident.level is None  # caching off


def test_napari_sees_half_chunks_on_tile_edges_and_a_computation_reads_each_pixel_once(svs, small_cache, monkeypatch):
    from napari_wsi_io.pyramid import display_pyramid

    level0 = display_pyramid(svs, cache=small_cache(1 << 28), prefetch=False)[0]
    tw, th = svs.level_tile_sizes[0]
    assert level0.chunksize[:2] == (level0.source.chunks[0] // 2, level0.source.chunks[1] // 2)
    assert all(n % th == 0 for n in level0.chunks[0][:-1]) and all(n % tw == 0 for n in level0.chunks[1][:-1])
    read = []
    read_level = type(svs).read_level
    monkeypatch.setattr(
        type(svs),
        "read_level",
        lambda self, level, x, y, w, h: read.append(w * h) or read_level(self, level, x, y, w, h),
    )
    out = np.zeros(level0.shape, level0.dtype)
    da.store(level0, out, lock=False, scheduler="threads")
    assert sum(read) == level0.shape[0] * level0.shape[1]  # not each cached chunk once per dask chunk in it
    monkeypatch.undo()
    np.testing.assert_array_equal(out, svs.read_level(0, 0, 0, *svs.dimensions))
