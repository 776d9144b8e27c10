"""Export through dask.distributed: a LocalCluster of 2 worker processes that open the slide themselves."""

from __future__ import annotations

import time

import numpy as np
import pytest

from napari_wsi_io import open_slide
from napari_wsi_io.cli import main
from napari_wsi_io.export import export_ome_zarr, export_steps
from napari_wsi_io.export._tasks import opened_slides

distributed = pytest.importorskip("distributed")

from export_helpers import leftovers, read_image, slide_level  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local_cluster:
        yield local_cluster


def test_round_trip_on_cluster_workers_open_the_slide(cluster, slides, tmp_path):
    out = tmp_path / "d.ome.zarr"
    summary = export_ome_zarr(slides["svs"], out, scheduler=cluster.scheduler_address, chunk=256)
    assert "dask scheduler" in summary.scheduler and "2 worker threads" in summary.scheduler
    _, levels = read_image(out)
    with open_slide(slides["svs"]) as slide:
        for level, data in enumerate(levels):
            np.testing.assert_array_equal(data, slide_level(slide, level))
    # Each worker process opened the slide by path; this process never went through that cache.
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        per_worker = client.run(opened_slides)
    assert len(per_worker) == 2
    assert all(str(slides["svs"].resolve()) in paths for paths in per_worker.values())
    assert str(slides["svs"].resolve()) not in opened_slides()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("ngff", ["0.5", "0.4"])
def test_cluster_writes_the_same_bytes_as_threads(cluster, slides, tmp_path, ngff):
    # 256 px shards of 128 px chunks: 4 chunks per shard, and many shards, so both workers write some
    options = {"levels": "0,1", "chunk": 128, "format": ngff, "shard": 256 if ngff == "0.5" else None}
    local = export_ome_zarr(slides["svs"], tmp_path / "local.ome.zarr", scheduler="threads", workers=2, **options)
    remote = export_ome_zarr(slides["svs"], tmp_path / "dask.ome.zarr", scheduler=cluster.scheduler_address, **options)
    assert "dask scheduler" in remote.scheduler and "threads" in local.scheduler

    def files(root):
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    written, expected = files(tmp_path / "dask.ome.zarr"), files(tmp_path / "local.ome.zarr")
    assert sorted(written) == sorted(expected) and len(written) > 20
    assert all(written[name] == expected[name] for name in expected)
    if ngff == "0.5":
        assert "0/c/0/0/0" in written and "0/c/0/0/1" in written  # shards, not chunks


def test_cancel_on_cluster_leaves_nothing(cluster, slides, tmp_path):
    out = tmp_path / "c.ome.zarr"
    steps = export_steps(slides["svs"], out, scheduler=cluster.scheduler_address, chunk=128)
    next(steps)
    next(steps)
    steps.close()
    assert not out.exists() and leftovers(tmp_path) == []
    time.sleep(0.5)  # a task still running on a worker must not recreate the removed store
    assert leftovers(tmp_path) == []


def test_cli_with_scheduler_address(cluster, slides, tmp_path, capsys):
    out = tmp_path / "cli.ome.zarr"
    rc = main(["convert", str(slides["jpeg"]), str(out), "--levels", "1", "--scheduler", cluster.scheduler_address])
    assert rc == 0, capsys.readouterr().err
    assert "dask scheduler" in capsys.readouterr().out
    _, (data,) = read_image(out)
    with open_slide(slides["jpeg"]) as slide:
        np.testing.assert_array_equal(data, slide_level(slide, 1))


def test_unreachable_scheduler_exits_2(slides, tmp_path, capsys, monkeypatch):
    from napari_wsi_io.export import _schedulers

    monkeypatch.setattr(_schedulers, "_CONNECT_TIMEOUT_S", 1)
    rc = main(["convert", str(slides["svs"]), str(tmp_path / "x.ome.zarr"), "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot connect to the dask scheduler" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
