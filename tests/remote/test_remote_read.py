"""Slides read over HTTP from nginx (behind a proxy adding round-trip time): the local file's pixels, exactly,
in few requests, from a bounded cache, and through every entry point (reader, pickling, CLI)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from napari_wsi_io import open_slide
from napari_wsi_io._reader import napari_get_reader, slide_layers
from napari_wsi_io.cli import main

KINDS = ("svs", "jpeg", "deflate", "lzw", "raw", "striped", "gray16", "subifds", "ndpi", "ndpi-scanned", "scn", "bif")
KINDS += ("philips",)


def _levels(slide) -> list[np.ndarray]:
    return [slide.read_level(i, 0, 0, *slide.level_dimensions[i]) for i in range(slide.level_count)]


@pytest.mark.parametrize("kind", KINDS)
def test_pixels_equal_the_local_files(url, served, kind):
    with open_slide(served[kind], backend="tifffile") as local, open_slide(url(kind)) as remote:
        assert remote.backend == "tifffile" and "local files only" in remote.fallback_reason
        assert remote.vendor == local.vendor and remote.level_dimensions == local.level_dimensions
        assert remote.mpp == local.mpp and remote.properties == local.properties
        for ours, theirs in zip(_levels(remote), _levels(local)):
            np.testing.assert_array_equal(ours, theirs)
        for name in local.associated_images:
            np.testing.assert_array_equal(remote.read_associated(name), local.read_associated(name))


def test_open_and_views_take_few_requests_and_panning_back_none(url, served):
    with open_slide(url("svs")) as slide, open_slide(served["svs"], backend="tifffile") as local:
        transport = slide.source.transport
        assert transport.requests <= 2  # the header and IFDs of a small slide come in the first request
        before = transport.requests
        view = slide.read_level(0, 1000, 1000, 1920, 1080)
        rows = len(slide.tiles[0].tile_range(1000, 1000, 1080, 1920)[0])
        assert transport.requests - before <= rows  # a row of tiles lies in one range: coalesced
        before = transport.requests
        again = slide.read_level(0, 1000, 1000, 1920, 1080)
        assert transport.requests == before  # from the byte cache
        np.testing.assert_array_equal(view, again)
        np.testing.assert_array_equal(view, local.read_level(0, 1000, 1000, 1920, 1080))


def test_byte_cache_is_bounded(url, monkeypatch):
    monkeypatch.setenv("NAPARI_WSI_IO_REMOTE_CACHE_MB", "1")
    with open_slide(url("svs")) as slide:
        for level in range(slide.level_count):
            w, h = slide.level_dimensions[level]
            slide.read_level(level, 0, 0, w, h)
        assert slide.source.cache.nbytes <= 1 << 20


def test_disk_cache_serves_a_reopened_slide(url, tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_WSI_IO_REMOTE_DISK_CACHE", str(tmp_path / "disk"))
    with open_slide(url("jpeg")) as slide:
        first = slide.read_level(0, 0, 0, *slide.level_dimensions[0])
    with open_slide(url("jpeg")) as slide:
        opened = slide.source.transport.requests
        np.testing.assert_array_equal(slide.read_level(0, 0, 0, *slide.level_dimensions[0]), first)
        assert slide.source.transport.requests == opened  # every tile from the disk


def test_a_pickled_remote_slide_reopens_by_url(url, served):
    with open_slide(url("svs")) as slide:
        clone = pickle.loads(pickle.dumps(slide))
        try:
            assert clone.source is not slide.source and clone.source.etag == slide.source.etag
            np.testing.assert_array_equal(clone.read_level(1, 0, 0, 500, 400), slide.read_level(1, 0, 0, 500, 400))
        finally:
            clone.close()


def test_reader_takes_urls_and_shows_no_credentials(proxy, served, caplog):
    secret_url = proxy.url.replace("://", "://reader:s3cr3t@") + f"/slides/{served['svs'].name}?token=s3cr3t"
    assert napari_get_reader(secret_url) is not None
    assert napari_get_reader(proxy.url + "/data/image.zarr") is None  # not ours: other readers take it
    (data, kwargs, kind) = slide_layers(secret_url)[0]
    assert kind == "image" and kwargs["name"] == "svs"
    assert "s3cr3t" not in repr(kwargs["metadata"]) and "s3cr3t" not in caplog.text
    assert kwargs["metadata"]["path"] == f"{proxy.url}/slides/{served['svs'].name}"
    with open_slide(served["svs"], backend="tifffile") as local:
        np.testing.assert_array_equal(np.asarray(data[2]), local.read_level(2, 0, 0, *local.level_dimensions[2]))


def test_cli_info_on_a_url(url, capsys):
    assert main(["info", url("svs")]) == 0
    out = capsys.readouterr().out
    assert url("svs") in out and "tifffile" in out and "4000" in out


def test_bench_over_a_url_gives_worker_processes_its_requests_in_flight(url, served, monkeypatch):
    """Each configuration's requests in flight reach the spawned workers with the slide, not through the
    environment: nothing of it is left in ``os.environ`` afterwards."""
    import os

    from napari_wsi_io.bench import BenchPlan, run_plan

    monkeypatch.delenv("NAPARI_WSI_IO_REMOTE_REQUESTS", raising=False)
    plan = BenchPlan(
        url("svs"),
        levels=[2],
        backends=["tifffile"],
        strategies=["processes"],
        workers=[2],
        in_flight=[1, 4],
        sink="assemble",
    )
    gen = run_plan(plan)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        result = stop.value
    records = [r for r in result.records if r.strategy == "processes"]
    assert sorted(r.in_flight for r in records) == [1, 4]
    assert [r.max_abs_diff for r in records] == [0, 0]  # the workers' pixels equal the reference read
    assert "NAPARI_WSI_IO_REMOTE_REQUESTS" not in os.environ
