"""Which transport reads byte ranges fastest: obstore, fsspec (aiohttp) or urllib3 with threads.

Serves the gigapixel sample (60000 x 40000 JPEG) with nginx behind a proxy adding 40 ms RTT, and times with
a new client each run (cold connections), median of ``--runs``:

- open: a HEAD, then the reads tifffile makes while opening (the header region, then one read per IFD, each
  depending on the one before: the IFD chain);
- view: the level-0 tiles under a 1920x1080 view at the centre, fetched in parallel, as single ranges and
  coalesced (a row of tiles is contiguous in the file), on the warm client;
- bulk: 64 MiB as 1 MiB ranges, 16 in flight (throughput and CPU per MiB).

Wall and CPU milliseconds of this process (CPU counts the transport's threads too).

    python benchmarks/remote_transport.py [--rtt 0.04] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tifffile

from napari_wsi_io.servers import LatencyProxy, NginxServer
from napari_wsi_io.synthetic import sample_slide_path

_HEAD = 2 << 20
_AHEAD = 512 << 10


class ObstoreClient:
    name = "obstore (Rust object_store), threads"

    def __init__(self, base: str, name: str, workers: int) -> None:
        from obstore.store import HTTPStore

        self.store, self.path = HTTPStore.from_url(base, client_options={"allow_http": True}), name
        self.pool = ThreadPoolExecutor(workers)

    def head(self) -> int:
        import obstore

        return obstore.head(self.store, self.path)["size"]

    def get(self, start: int, end: int) -> bytes:
        import obstore

        return obstore.get_range(self.store, self.path, start=start, end=end)

    def many(self, ranges: list[tuple[int, int]]) -> list:
        return list(self.pool.map(lambda r: self.get(*r), ranges))

    def close(self) -> None:
        self.pool.shutdown()


class ObstoreRangesClient(ObstoreClient):
    name = "obstore get_ranges (its own coalescing and concurrency)"

    def many(self, ranges: list[tuple[int, int]]) -> list:
        import obstore

        starts, ends = zip(*ranges)
        return obstore.get_ranges(self.store, self.path, starts=list(starts), ends=list(ends), coalesce=0)


class FsspecClient:
    name = "fsspec HTTPFileSystem (aiohttp), cat_ranges"

    def __init__(self, base: str, name: str, workers: int) -> None:
        import fsspec

        self.fs = fsspec.filesystem("http", skip_instance_cache=True, block_size=0)
        self.url, self.workers = f"{base}/{name}", workers

    def head(self) -> int:
        return self.fs.info(self.url)["size"]

    def get(self, start: int, end: int) -> bytes:
        return self.fs.cat_file(self.url, start, end)

    def many(self, ranges: list[tuple[int, int]]) -> list:
        starts, ends = zip(*ranges)
        n = len(ranges)
        return self.fs.cat_ranges([self.url] * n, list(starts), list(ends), batch_size=self.workers)

    def close(self) -> None:
        pass


class Urllib3Client:
    name = "urllib3 PoolManager, threads"

    def __init__(self, base: str, name: str, workers: int) -> None:
        import urllib3

        self.http, self.url = urllib3.PoolManager(maxsize=workers), f"{base}/{name}"
        self.pool = ThreadPoolExecutor(workers)

    def head(self) -> int:
        return int(self.http.request("HEAD", self.url).headers["Content-Length"])

    def get(self, start: int, end: int) -> bytes:
        return self.http.request("GET", self.url, headers={"Range": f"bytes={start}-{end - 1}"}).data

    def many(self, ranges: list[tuple[int, int]]) -> list:
        return list(self.pool.map(lambda r: self.get(*r), ranges))

    def close(self) -> None:
        self.pool.shutdown()
        self.http.clear()


def _open_reads(path: Path) -> list[tuple[int, int]]:
    """(start, end) of the reads a remote open makes: the head, then one read ahead per IFD outside it."""
    with tifffile.TiffFile(path) as tif:
        offsets = [page.offset for page in tif.pages]
    reads = [(0, _HEAD)]
    for offset in offsets:
        if offset >= _HEAD:
            reads.append((offset, offset + _AHEAD))
    return reads


def _view_ranges(path: Path) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The level-0 tiles under a 1920x1080 view at the centre, and the same coalesced by contiguity."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        offsets, counts, cols = page.dataoffsets, page.databytecounts, -(-page.imagewidth // page.tilewidth)
        y0, x0 = page.imagelength // 2 - 540, page.imagewidth // 2 - 960
        tiles = [
            ty * cols + tx
            for ty in range(y0 // page.tilelength, (y0 + 1079) // page.tilelength + 1)
            for tx in range(x0 // page.tilewidth, (x0 + 1919) // page.tilewidth + 1)
        ]
    single = [(offsets[i], offsets[i] + counts[i]) for i in tiles]
    merged: list[list[int]] = []
    for start, end in sorted(single):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return single, [tuple(m) for m in merged]


def _timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - w) * 1e3, (time.process_time() - c) * 1e3


def _one_run(cls, base: str, name: str, reads, single, merged, workers: int) -> dict[str, tuple[float, float]]:
    client = cls(base, name, workers)
    try:
        out = {"open": _timed(lambda: [client.head(), *(client.get(*r) for r in reads)])}
        out["view, single ranges"] = _timed(lambda: client.many(single))
        out["view, coalesced"] = _timed(lambda: client.many(merged))
        bulk = [(s, s + (1 << 20)) for s in range(_HEAD, _HEAD + (64 << 20), 1 << 20)]
        out["bulk 64 MiB"] = _timed(lambda: client.many(bulk))
        return out
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rtt", type=float, default=0.040)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    path = sample_slide_path()
    reads, (single, merged) = _open_reads(path), _view_ranges(path)
    print(
        f"{path.name}: open = HEAD + {len(reads)} dependent reads; view = {len(single)} tiles in {len(merged)} ranges"
    )
    clients = (ObstoreClient, ObstoreRangesClient, FsspecClient, Urllib3Client)
    with NginxServer(path.parent) as server, LatencyProxy(server.port, args.rtt) as proxy:
        base = f"{proxy.url}/slides"
        results = {cls: [] for cls in clients}
        for _ in range(args.runs):  # interleaved, so that load on the machine hits every client alike
            for cls in clients:
                results[cls].append(_one_run(cls, base, path.name, reads, single, merged, args.workers))
    print(f"RTT {args.rtt * 1e3:.0f} ms, {args.workers} requests in flight; median of {args.runs}: wall / CPU ms")
    for cls in clients:
        cells = {k: [r[k] for r in results[cls]] for k in results[cls][0]}
        row = ", ".join(
            f"{k} {statistics.median(w for w, _ in v):.0f} / {statistics.median(c for _, c in v):.0f}"
            for k, v in cells.items()
        )
        print(f"  {cls.name}: {row}")


if __name__ == "__main__":
    main()
