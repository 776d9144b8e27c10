"""A remote slide as a byte source: few requests, in parallel, each byte fetched once.

Opening fetches the first ``HEAD_BYTES`` in one request, which also gives the size and ETag; the IFDs
past it come with ``READ_AHEAD`` bytes each (the tile offsets of a level usually follow its IFD, so
they arrive in the same request).  A view's tiles come through ``prefetch``: the missing ranges are
sorted, neighbours coalesced, and fetched in parallel.  Everything fetched stays in a bounded memory
cache (and the disk cache, when set).  Every request carries the ETag (``If-Match``) and checks the
size, so a slide changed on the server raises instead of mixing old and new pixels.

Settings, from the environment (``RemoteSettings``):

- ``NAPARI_WSI_IO_REMOTE_TIMEOUT``: seconds without an answer before a read fails (default 20);
- ``NAPARI_WSI_IO_REMOTE_REQUESTS``: requests in flight per slide (default 16);
- ``NAPARI_WSI_IO_REMOTE_CACHE_MB``: memory for fetched bytes per slide (default 256);
- ``NAPARI_WSI_IO_REMOTE_DISK_CACHE``: a folder to keep fetched bytes across sessions (default: none),
  bounded by ``NAPARI_WSI_IO_REMOTE_DISK_CACHE_MB`` (default 4096).
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Sequence

from .._errors import SlideReadError
from ._byte_cache import ByteCache, DiskCache
from ._source import ByteSource
from ._transport import Transport, redact

__all__ = ["HEAD_BYTES", "READ_AHEAD", "RemoteSettings", "RemoteSource", "coalesce"]

HEAD_BYTES = 2 << 20
READ_AHEAD = 512 << 10
# Ranges closer than this are fetched as one (a few KB of waste is cheaper than a request); a merged
# request stays under MAX_MERGED so that a large read still spreads over parallel requests.
MERGE_GAP = 64 << 10
MAX_MERGED = 4 << 20


def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "").strip() or default)
    except ValueError:
        return default


@dataclasses.dataclass(frozen=True)
class RemoteSettings:
    timeout: float = 20.0
    in_flight: int = 16
    cache_mb: float = 256.0
    disk_cache: str | None = None
    disk_cache_mb: float = 4096.0

    @classmethod
    def from_env(cls) -> RemoteSettings:
        return cls(
            timeout=_env_number("NAPARI_WSI_IO_REMOTE_TIMEOUT", cls.timeout),
            in_flight=int(_env_number("NAPARI_WSI_IO_REMOTE_REQUESTS", cls.in_flight)),
            cache_mb=_env_number("NAPARI_WSI_IO_REMOTE_CACHE_MB", cls.cache_mb),
            disk_cache=os.environ.get("NAPARI_WSI_IO_REMOTE_DISK_CACHE") or None,
            disk_cache_mb=_env_number("NAPARI_WSI_IO_REMOTE_DISK_CACHE_MB", cls.disk_cache_mb),
        )


def coalesce(ranges: Sequence[tuple[int, int]], gap: int = MERGE_GAP, limit: int = MAX_MERGED) -> list[list[int]]:
    """(start, end) ranges sorted and merged where at most ``gap`` bytes apart, each merge under ``limit``."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start - merged[-1][1] <= gap and max(end, merged[-1][1]) - merged[-1][0] <= limit:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


class RemoteSource(ByteSource):
    """``http(s)://``, ``s3://``, ``gs://`` or ``az://`` object read by ranges; see the module docstring.

    ``expect`` = (size, ETag) makes the open fail when the object is no longer that one (a worker
    process reopening the slide of its parent).
    """

    fetches_ahead = True

    def __init__(
        self, url: str, settings: RemoteSettings | None = None, expect: tuple[int, str | None] | None = None
    ) -> None:
        self.url, self.name = url, redact(url)
        self.settings = settings or RemoteSettings.from_env()
        self.transport = Transport(url, self.settings.timeout, self.settings.in_flight)
        self.cache = ByteCache(int(self.settings.cache_mb * (1 << 20)))
        self.size, self.etag, head = self.transport.open_head(HEAD_BYTES)
        if expect is not None and (self.size, self.etag) != tuple(expect):
            raise SlideReadError(self.name, "the file changed on the server since it was opened (size or ETag)")
        if self.size == 0:
            raise SlideReadError(self.name, "the file is empty")
        self.disk = None
        if self.settings.disk_cache:
            identity = f"{self.name}|{self.size}|{self.etag}"
            self.disk = DiskCache(self.settings.disk_cache, identity, int(self.settings.disk_cache_mb * (1 << 20)))
        self.cache.put(0, head)

    @property
    def token(self) -> str:
        return f"{self.name}|{self.size}|{self.etag}"

    @property
    def failure(self) -> SlideReadError | None:
        return self.transport.failure

    @property
    def in_flight(self) -> int:
        return self.transport.in_flight

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        self.transport.in_flight = value

    def _cached(self, start: int, end: int) -> bytes | None:
        data = self.cache.get(start, end)
        if data is None and self.disk is not None:
            found = self.disk.get(start, end)
            if found is not None:
                self.cache.put(*found)
                data = found[1][start - found[0] : end - found[0]]
        return data

    def _fetch(self, spans: list[list[int]]) -> None:
        for (start, _), data in zip(spans, self.transport.fetch(spans, self.etag, self.size)):
            self.cache.put(start, data)
            if self.disk is not None:
                self.disk.put(start, data)

    def read(self, start: int, count: int, ahead: int = 0) -> bytes:
        """``count`` bytes from ``start`` (fewer at the end); a miss fetches ``ahead`` bytes more than asked."""
        end = min(start + count, self.size)
        if end <= start:
            return b""
        data = self._cached(start, end)
        if data is None:
            self._fetch([[start, min(self.size, max(end, start + ahead))]])
            data = self._cached(start, end)
        if data is None:  # larger than the whole memory cache: fetch without keeping it
            data = self.transport.fetch([(start, end)], self.etag, self.size)[0]
        return data

    def prefetch(self, ranges: Sequence[tuple[int, int]]) -> None:
        """Fetch the (start, count) ranges not cached yet, coalesced, in parallel."""
        missing = [
            (start, min(start + count, self.size))
            for start, count in ranges
            if count > 0 and start < self.size and self._cached(start, min(start + count, self.size)) is None
        ]
        if missing:
            self._fetch(coalesce(missing))

    def tiff_file(self) -> SourceFile:
        return SourceFile(self)

    def close(self) -> None:
        self.cache.clear()

    def __reduce__(self):
        return type(self), (self.url, self.settings, (self.size, self.etag))

    def __repr__(self) -> str:
        return f"RemoteSource({self.name!r})"


class SourceFile(io.RawIOBase):
    """A read-only file over a byte source, for tifffile: each miss reads ``READ_AHEAD`` bytes ahead."""

    def __init__(self, source: RemoteSource) -> None:
        super().__init__()
        self.source, self.name, self._pos = source, source.name, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.source.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.source.read(self._pos, len(view), ahead=READ_AHEAD)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.source.size - self._pos
        data = self.source.read(self._pos, size, ahead=READ_AHEAD)
        self._pos += len(data)
        return data
