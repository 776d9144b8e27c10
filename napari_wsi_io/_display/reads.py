"""Who reads a chunk of a displayed level, and the frame in which napari slices one."""

from __future__ import annotations

import contextlib
import enum
import threading
from collections.abc import Iterator

__all__ = ["Read", "frame_read", "slicing_in_frame"]


class Read(enum.Enum):
    """Who reads a chunk: it decides whether the chunk is cached, may be drawn coarse, or reports a damaged tile."""

    #: A slice of a view napari asked for lately: the chunk is cached; a damaged tile is reported and blanked.
    VIEW = "view"
    #: A view sliced for the frame being drawn (``slicing_in_frame``): as VIEW, except that a chunk not decoded
    #: yet is drawn from a coarser level while someone listens for it to land (``PyramidDisplayState.subscribe``).
    FRAME = "frame"
    #: A worker decoding the view's chunks or the guesses around it: cached; a damaged tile raises (only the
    #: read that shows it tells the user).
    PREFETCH = "prefetch"
    #: A chunk in no recent view (an export, a computation over the level): cached pixels are used, none added.
    COMPUTATION = "computation"


_frame = threading.local()


@contextlib.contextmanager
def slicing_in_frame(coarse: bool = True) -> Iterator[None]:
    """Within (this thread): napari slices a displayed level for the frame being drawn (``_qt.prerender``).

    The view is read at once from the cached chunks, without dask's scheduler (a third of a pan step in one
    profile: 22 of 27 ms of slicing).  With ``coarse`` (a ``Read.FRAME``), chunks not decoded yet are drawn
    from a cached coarser level instead of waited for; the pyramid tells its subscribers when the fine pixels
    are cached, and the viewer slices again.  Without, the frame waits for them (a ``Read.VIEW``).  Every
    other slice (scripts, the console, exports, napari's async slicing) gets a dask array of the level's own
    pixels.  napari's slicing cannot pass the kind of read down, hence this context.
    """
    before = frame_read()
    _frame.read = Read.FRAME if coarse else Read.VIEW
    try:
        yield
    finally:
        _frame.read = before


def frame_read() -> Read | None:
    """How a slice for a frame on this thread reads (``slicing_in_frame``); None outside a frame."""
    return getattr(_frame, "read", None)
