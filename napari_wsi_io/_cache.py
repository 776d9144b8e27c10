"""A bounded cache of decoded chunks, shared by every slide and level on display.

napari re-slices the whole visible region each time the view leaves it, and panning goes back over
old ground, so decoded chunks are kept, least recently used first out, up to a size in bytes.  One
cache serves all layers and levels, so the bound holds however many slides are open.  Its size comes
from ``NAPARI_WSI_IO_CACHE_MB`` (default 256) and can be changed at any time with
``set_cache_size(megabytes)``; 0 turns caching off.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

__all__ = [
    "CACHE_ENV_VAR",
    "DEFAULT_CACHE_MB",
    "TileCache",
    "cache_info",
    "release_free_memory",
    "set_cache_size",
    "tile_cache",
]

CACHE_ENV_VAR = "NAPARI_WSI_IO_CACHE_MB"
DEFAULT_CACHE_MB = 256


class TileCache:
    """Thread-safe LRU map from a key to a read-only array, bounded by the arrays' total bytes.

    ``get_or_load`` loads each key once even when several threads ask at the same time: the
    prefetcher and the viewer never decode the same chunk twice.
    """

    def __init__(self, max_bytes: int) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._loading: dict[Hashable, threading.Event] = {}
        self.max_bytes = max(0, int(max_bytes))
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self.evicted_bytes = 0  # since the allocator last gave memory back (see release_free_memory)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            array = self._items.get(key)
            if array is not None:
                self._items.move_to_end(key)
            return array

    def put(self, key: Hashable, array: np.ndarray) -> None:
        array.flags.writeable = False  # shared between readers: nobody may change it
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.nbytes -= old.nbytes
            if array.nbytes > self.max_bytes:
                return
            self._items[key] = array
            self.nbytes += array.nbytes
            self._evict()

    def get_or_load(self, key: Hashable, load: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached array, or ``load()``'s, stored; waits when another thread is loading the key."""
        while True:
            with self._lock:
                array = self._items.get(key)
                if array is not None:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return array
                pending = self._loading.get(key)
                if pending is None:
                    pending = self._loading[key] = threading.Event()
                    self.misses += 1
                    break
            pending.wait()  # then look again: cached, or (failed, too big) load it here
        try:
            array = load()
            self.put(key, array)
            return array
        finally:
            with self._lock:
                del self._loading[key]
            pending.set()

    def loading(self, key: Hashable) -> bool:
        return key in self._loading

    def discard(self, predicate: Callable[[Hashable], bool]) -> None:
        """Drop every entry whose key matches (a closed slide's chunks)."""
        with self._lock:
            for key in [k for k in self._items if predicate(k)]:
                self.nbytes -= self._items.pop(key).nbytes

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self.max_bytes = max(0, int(max_bytes))
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0

    def info(self) -> dict[str, int]:
        with self._lock:
            return {
                "max_bytes": self.max_bytes,
                "nbytes": self.nbytes,
                "items": len(self._items),
                "hits": self.hits,
                "misses": self.misses,
            }

    def _evict(self) -> None:
        while self.nbytes > self.max_bytes and self._items:
            _, old = self._items.popitem(last=False)
            self.nbytes -= old.nbytes
            self.evicted_bytes += old.nbytes

    def take_evicted_bytes(self) -> int:
        """Bytes evicted since the last call."""
        with self._lock:
            evicted, self.evicted_bytes = self.evicted_bytes, 0
            return evicted


def release_free_memory() -> None:
    """Hand the C allocator's free pages back to the system (glibc only; elsewhere nothing to do).

    Decoded chunks are large blocks allocated and freed by several threads; glibc keeps such freed
    blocks in per-thread arenas, so without this the process grows by hundreds of megabytes more
    than the cache holds while panning (measured in benchmarks/pan.py).  Dask's distributed workers
    trim the same way.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # musl and others: no malloc_trim
        return None


def _env_megabytes() -> float:
    value = os.environ.get(CACHE_ENV_VAR, "").strip()
    if not value:
        return DEFAULT_CACHE_MB
    try:
        megabytes = float(value)
        if megabytes < 0 or megabytes != megabytes:
            raise ValueError
    except ValueError:
        warnings.warn(f"{CACHE_ENV_VAR}={value!r} is not a size in megabytes; using {DEFAULT_CACHE_MB}", stacklevel=3)
        return DEFAULT_CACHE_MB
    return megabytes


_cache: TileCache | None = None
_cache_lock = threading.Lock()


def tile_cache() -> TileCache:
    """The process-wide chunk cache, sized from ``NAPARI_WSI_IO_CACHE_MB`` on first use."""
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = TileCache(int(_env_megabytes() * 2**20))
        return _cache


def set_cache_size(megabytes: float) -> None:
    """Bound the decoded-chunk cache of all slides to ``megabytes`` (0 disables it); evicts at once."""
    if not megabytes >= 0:
        raise ValueError(f"cache size must be >= 0 megabytes, not {megabytes!r}")
    tile_cache().resize(int(megabytes * 2**20))


def cache_info() -> dict[str, int]:
    """Bytes held and allowed, entries, hits and misses of the chunk cache."""
    return tile_cache().info()
