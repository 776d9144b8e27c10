"""Reused buffers: a fresh multi-megabyte array costs page faults on every use.

With numpy's huge pages (it asks for them on arrays of 4 MB and more) and the kernel's default
``defrag=madvise``, the first touch of a fresh 26 MB array stalled for 80 ms in one run, where a
resident buffer took 8 ms to fill.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

__all__ = ["recycled", "scratch"]

_local = threading.local()
_KEPT = 3  # buffers for results handed out: the one shown, the next one, one for another layer
_MIN_KEPT_BYTES = 4 << 20  # smaller arrays fault in no huge pages: not worth keeping
_kept: list[np.ndarray] = []
_kept_lock = threading.Lock()


def scratch(key: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A buffer of this thread with ``shape``, reused by its next call with the same ``key``."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buffers = _local.__dict__.setdefault("buffers", {})
    buf = buffers.get(key)
    if buf is None or buf.nbytes < nbytes:
        buf = buffers[key] = np.empty(max(nbytes, 1), np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def recycled(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A new array for a result that is handed out and dropped again (a view napari shows until the next one).

    Backed by the smallest of a few kept buffers that fits and that nothing references any more (every numpy
    view of a buffer holds the buffer itself as its base, so its reference count tells), otherwise by a new
    buffer, kept while there is room.  A new buffer is as big as the biggest kept one: napari's views change
    size with the level and the chunk edges they snap to, and a buffer sized for each view faulted its pages
    in again on zoom steps (reads of 60-106 ms into a fresh 47-63 MB buffer, 14-28 ms into a kept one, in one
    run).  Its content is undefined, as with ``np.empty``.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes < _MIN_KEPT_BYTES:
        return np.empty(shape, dtype)
    with _kept_lock:
        best = spare = None  # indexes of the smallest free buffer that fits, and of a free one too small
        for i in range(len(_kept)):
            buf = _kept[i]
            if sys.getrefcount(buf) > 3:  # the list, ``buf`` and the argument: anything more holds it
                continue
            if buf.nbytes < nbytes:
                spare = i
            elif best is None or buf.nbytes < _kept[best].nbytes:
                best = i
        if best is not None:
            return _kept[best][:nbytes].view(dtype).reshape(shape)
        buf = np.empty(max([nbytes, *(b.nbytes for b in _kept)]), np.uint8)
        if len(_kept) < _KEPT:
            _kept.append(buf)
        elif spare is not None:  # makes room
            _kept[spare] = buf
    return buf[:nbytes].view(dtype).reshape(shape)
