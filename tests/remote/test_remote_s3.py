"""Slides in an S3 bucket (moto's standalone server, reached through AWS_ENDPOINT_URL over plain http), and
conversion from URLs: the local file's pixels, credential-free messages, workers fetching their own ranges."""

from __future__ import annotations

import numpy as np
import pytest

from napari_wsi_io import SlideReadError, open_slide
from napari_wsi_io.cli import main
from napari_wsi_io.export import export_ome_zarr

pytestmark = pytest.mark.timeout(120)


def _level(slide, level: int) -> np.ndarray:
    return slide.read_level(level, 0, 0, *slide.level_dimensions[level])


@pytest.mark.parametrize("kind", ["svs", "ndpi"])
def test_s3_pixels_equal_the_local_file(s3_url, served, kind):
    with open_slide(s3_url(kind)) as remote, open_slide(served[kind], backend="tifffile") as local:
        assert remote.level_dimensions == local.level_dimensions and remote.is_remote
        for level in range(local.level_count):
            np.testing.assert_array_equal(_level(remote, level), _level(local, level))


def test_s3_missing_key_names_the_url_and_never_the_secret(s3_url):
    with pytest.raises(SlideReadError) as info:
        open_slide(s3_url("svs").replace("folder/", "elsewhere/"))
    message = str(info.value)
    assert message.startswith("cannot read s3://") and "elsewhere/" in message and "404" in message
    assert "testing-secret-never-shown" not in message and "testing" not in message.split(":", 2)[-1]


def _read_back(out) -> list[np.ndarray]:
    import zarr

    group = zarr.open_group(str(out), mode="r")
    return [np.asarray(group[name]) for name in sorted(group.array_keys(), key=int)]


def test_convert_from_a_url_writes_the_local_files_pixels(url, served, tmp_path):
    out = tmp_path / "from-http.ome.zarr"
    assert main(["convert", url("svs"), str(out), "--levels", "0,1"]) == 0
    arrays = _read_back(out)
    with open_slide(served["svs"], backend="tifffile") as local:
        for level, data in enumerate(arrays):
            expected = _level(local, level)
            np.testing.assert_array_equal(np.moveaxis(data, 0, -1) if data.shape[0] == 3 else data, expected)


def test_convert_from_s3_on_dask_distributed_workers_fetch_their_own_ranges(s3_url, served, tmp_path):
    distributed = pytest.importorskip("distributed")
    from napari_wsi_io.export._tasks import opened_slides

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        out = tmp_path / "from-s3.ome.zarr"
        options = {"levels": "0", "chunk": 128, "format": "0.5", "shard": 256}  # many shards: both workers write
        export_ome_zarr(s3_url("svs"), out, scheduler=c.scheduler_address, **options)
        with distributed.Client(c.scheduler_address, set_as_default=False) as client:
            per_worker = client.run(opened_slides)
    assert all(s3_url("svs") in paths for paths in per_worker.values()), per_worker  # each opened the URL itself
    assert s3_url("svs") not in opened_slides()
    with open_slide(served["svs"], backend="tifffile") as local:
        data = _read_back(out)[0]
        np.testing.assert_array_equal(np.moveaxis(data, 0, -1), _level(local, 0))


def test_convert_to_an_s3_store_uploads_the_metadata_last(s3_url, s3_env, served, tmp_path):
    out = s3_url("svs").replace("folder/svs.svs", "exports/svs.ome.zarr")
    assert main(["convert", s3_url("svs"), out, "--levels", "0,1", "--chunk", "512"]) == 0
    client = s3_env.client()
    bucket, prefix = out[len("s3://") :].split("/", 1)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert f"{prefix}/zarr.json" in keys and any("/c/" in k for k in keys)
    local = tmp_path / "downloaded.ome.zarr"
    for key in keys:
        target = local / key[len(prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, key, str(target))
    with open_slide(served["svs"], backend="tifffile") as slide:
        for level, data in enumerate(_read_back(local)):
            np.testing.assert_array_equal(np.moveaxis(data, 0, -1), _level(slide, level))
    assert main(["convert", s3_url("svs"), out, "--levels", "0"]) != 0  # exists: refused without --overwrite
