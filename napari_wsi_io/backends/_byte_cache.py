"""Bytes already fetched from a remote slide: in memory (bounded, least recently used out), optionally on disk.

Panning back over a view, or reopening the same slide, then costs no request.  A cached span is a range
as it was fetched (coalesced tiles, a read-ahead block); any read inside one is a hit.  The disk cache is
keyed by the object's URL (without credentials or query), size and ETag, so a changed slide never reads
old bytes.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

__all__ = ["ByteCache", "DiskCache"]

# A read may fall in a span that starts a few spans before the nearest start (spans may overlap).
_LOOK_BACK = 8


class ByteCache:
    """Thread-safe spans of one object, bounded by ``max_bytes`` in total."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self.nbytes = 0
        self._spans: OrderedDict[int, bytes] = OrderedDict()  # start -> bytes, least recently used first
        self._starts: list[int] = []
        self._lock = threading.Lock()

    def get(self, start: int, end: int) -> bytes | None:
        """The bytes of [start, end) when one cached span holds them all."""
        with self._lock:
            i = bisect.bisect_right(self._starts, start)
            for s in reversed(self._starts[max(0, i - _LOOK_BACK) : i]):
                data = self._spans[s]
                if s + len(data) >= end:
                    self._spans.move_to_end(s)
                    return data[start - s : end - s] if (s, s + len(data)) != (start, end) else data
        return None

    def put(self, start: int, data: bytes) -> None:
        if not data or len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._spans.pop(start, None)
            if old is not None:
                self.nbytes -= len(old)
                if len(old) > len(data):
                    data = old
            else:
                bisect.insort(self._starts, start)
            self._spans[start] = data
            self.nbytes += len(data)
            while self.nbytes > self.max_bytes:
                s, dropped = self._spans.popitem(last=False)
                self._starts.pop(bisect.bisect_left(self._starts, s))
                self.nbytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()
            self._starts.clear()
            self.nbytes = 0


class DiskCache:
    """Spans of one object as files in ``root/<key>/<start>-<end>``; the whole root bounded by ``max_bytes``."""

    def __init__(self, root: str | os.PathLike, identity: str, max_bytes: int) -> None:
        self.root = Path(root)
        self.folder = self.root / hashlib.sha256(identity.encode()).hexdigest()[:32]
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._spans: dict[int, int] = {}  # start -> end
        self._written = 0  # bytes stored since the root was last trimmed
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for f in self.folder.iterdir():
                a, _, b = f.name.partition("-")
                if a.isdigit() and b.isdigit():
                    self._spans[int(a)] = int(b)
        except OSError:  # an unwritable cache folder: no disk cache, reads still work
            self._spans = {}

    def get(self, start: int, end: int) -> tuple[int, bytes] | None:
        """(span start, span bytes) of a stored span holding [start, end), or None."""
        with self._lock:
            found = next(((s, e) for s, e in self._spans.items() if s <= start and e >= end), None)
        if found is None:
            return None
        try:
            data = (self.folder / f"{found[0]}-{found[1]}").read_bytes()
        except OSError:
            return None
        return (found[0], data) if len(data) == found[1] - found[0] else None

    def put(self, start: int, data: bytes) -> None:
        end = start + len(data)
        path = self.folder / f"{start}-{end}"
        try:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError:
            return
        with self._lock:
            self._spans[start] = max(end, self._spans.get(start, 0))
            self._written += len(data)
            due = self._written > self.max_bytes // 16
            if due:
                self._written = 0
        if due:  # listing the root costs: only after a sixteenth of its bound was written
            self._trim()

    def _trim(self) -> None:
        """Oldest files out, across every object in the root, until the root fits its bound."""
        try:
            files = [(f.stat().st_mtime, f.stat().st_size, f) for f in self.root.glob("*/*-*")]
        except OSError:
            return
        total = sum(size for _, size, _ in files)
        for _, size, f in sorted(files, key=lambda t: t[0]):
            if total <= self.max_bytes:
                break
            try:
                f.unlink()
            except OSError:
                continue
            total -= size
            if f.parent == self.folder:
                with self._lock:
                    a, _, _ = f.name.partition("-")
                    self._spans.pop(int(a), None)
