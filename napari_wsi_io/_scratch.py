"""Per-thread scratch buffers: a fresh multi-megabyte array per block costs page faults on every use."""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["scratch"]

_local = threading.local()


def scratch(key: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A buffer of this thread with ``shape``, reused by its next call with the same ``key``."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buffers = _local.__dict__.setdefault("buffers", {})
    buf = buffers.get(key)
    if buf is None or buf.nbytes < nbytes:
        buf = buffers[key] = np.empty(max(nbytes, 1), np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)
