"""An export to an object store (``s3://bucket/slide.ome.zarr``, ``gs://``, ``az://``): written locally, then uploaded.

The store is written as a local export is (into a staging folder beside the system's temporary files, which
dask.distributed workers must share as they share a local output), then its files are put in parallel, the
Zarr metadata last, so a reader never finds the root's ``zarr.json`` before every chunk is there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ..backends._transport import make_store, redact

__all__ = ["check_remote_output", "staged_output", "upload_tree"]

_IN_FLIGHT = 16
_METADATA = ("zarr.json", ".zgroup", ".zattrs", ".zarray")


def _store(url: str):
    store, prefix = make_store(url.rstrip("/") + "/", 60.0)
    return store, prefix.rstrip("/")


def check_remote_output(url: str, overwrite: bool) -> None:
    """Refuse an existing store at ``url`` unless ``overwrite`` (its objects are then replaced, others kept)."""
    import obstore

    store, prefix = _store(url)
    try:
        existing = next(iter(obstore.list(store, prefix=prefix + "/", chunk_size=1)), [])
    except Exception as exc:
        raise OSError(f"cannot write {redact(url)}: {type(exc).__name__}") from None
    if existing and not overwrite:
        raise FileExistsError(f"{redact(url)} already exists; pass --overwrite (overwrite=True) to replace it")


def upload_tree(local: Path, url: str) -> int:
    """Put every file under ``local`` at ``url``; metadata files last.  Returns the bytes uploaded."""
    files = sorted(p for p in local.rglob("*") if p.is_file())
    data = [p for p in files if p.name not in _METADATA]
    metadata = sorted((p for p in files if p.name in _METADATA), key=lambda p: -len(p.parts))  # the root's last
    store, prefix = _store(url)

    async def put_all(paths: list[Path]) -> None:
        import obstore

        gate = asyncio.Semaphore(_IN_FLIGHT)

        async def put(path: Path) -> None:
            async with gate:
                key = f"{prefix}/{path.relative_to(local).as_posix()}"
                await obstore.put_async(store, key, path.read_bytes())

        await asyncio.gather(*(put(p) for p in paths))

    try:
        asyncio.run(put_all(data))
        for path in metadata:
            asyncio.run(put_all([path]))
    except Exception as exc:
        raise OSError(f"cannot write {redact(url)}: the upload failed ({type(exc).__name__})") from None
    return sum(os.path.getsize(p) for p in files)


@contextmanager
def staged_output(url: str, overwrite: bool) -> Iterator[Path]:
    """A local path to export to; uploaded to ``url`` when the block completes, removed either way."""
    check_remote_output(url, overwrite)
    staging = Path(tempfile.mkdtemp(prefix="napari-wsi-io-export-"))
    local = staging / (PurePosixPath(urlsplit(url).path).name or "slide.ome.zarr")
    try:
        yield local
        upload_tree(local, url)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
