"""Prefetch guesses: the chunks the next view will probably need, in the order they are wanted."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from .._prefetch import ring
from .jobs import Job, current, decode_job

if TYPE_CHECKING:
    from .state import PyramidDisplayState

__all__ = ["ViewMotion", "guess_jobs"]

_PREFETCH_MARGIN = 1024  # pixels around the view to prefetch: more than a half-viewport pan step


class ViewMotion:
    """Where the last view was, to guess where the next one goes; each new view makes older guesses stale."""

    def __init__(self) -> None:
        #: Counts the views guessed for: a queued guess made for an older one is dropped (``jobs.current``).
        self.generation = 0
        self._last_view: dict[int, tuple[float, float]] = {}  # level: centre, in chunks
        self._lock = threading.Lock()

    def moved_to(self, level: int, rows: range, cols: range) -> tuple[int, tuple[float, float]]:
        """A new view: its generation, and how far its centre moved (in chunks) since the last view of the level."""
        center = ((rows.start + rows.stop) / 2, (cols.start + cols.stop) / 2)
        with self._lock:
            self.generation += 1
            last = self._last_view.get(level, center)
            self._last_view = {level: center}
            return self.generation, (center[0] - last[0], center[1] - last[1])


def guess_jobs(state: PyramidDisplayState, level: int, rows: range, cols: range) -> list[Job]:
    """Decode jobs for the guesses around this view, the likeliest first (priority 1 on)."""
    if level == len(state.shapes) - 1 and len(rows) * len(cols) == state.grids[level][0] * state.grids[level][1]:
        return []  # napari's thumbnail, not a view: keep the plan of the view
    generation, motion = state.motion.moved_to(level, rows, cols)
    ref = weakref.ref(state)
    still = current(ref, generation)
    jobs = []
    for priority, (lvl, (r, c)) in enumerate(_plan(state, level, rows, cols, motion), start=1):
        key = state.key(lvl, r, c)
        if key not in state.cache and not state.cache.loading(key):
            jobs.append((priority, decode_job(ref, lvl, r, c), still))
    return jobs


def _plan(
    state: PyramidDisplayState, level: int, rows: range, cols: range, motion: tuple[float, float]
) -> list[tuple[int, tuple[int, int]]]:
    """(level, (row, column)) of the chunks to guess: around the view, then zoomed out, then zoomed in."""
    width = -(-_PREFETCH_MARGIN // min(state.shapes[level]))
    plan = [(level, rc) for rc in ring(rows, cols, state.grids[level], motion, width)]
    if level + 1 < len(state.shapes):
        # Zoom out: halving the zoom shows twice the extent, which napari draws from the next level
        # as a region as big as this one: the same place there, and a quarter of it around.
        coarse = _under(state, level, rows, cols, level + 1)
        (ch, cw), (och, ocw) = state.shapes[level], state.shapes[level + 1]
        around = max(-(-len(rows) * ch // (4 * och)), -(-len(cols) * cw // (4 * ocw)), 1)
        plan += [(level + 1, (r, c)) for r in coarse[0] for c in coarse[1]]
        plan += [(level + 1, rc) for rc in ring(*coarse, state.grids[level + 1], motion, around)]
    if level > 0:  # zoom in: the middle half of the view one level finer, with a chunk around it
        fine = _under(state, level, rows, cols, level - 1, middle=True)
        plan += [(level - 1, (r, c)) for r in fine[0] for c in fine[1]]
        plan += [(level - 1, rc) for rc in ring(*fine, state.grids[level - 1])]
    return plan


def _under(
    state: PyramidDisplayState, level: int, rows: range, cols: range, other: int, middle: bool = False
) -> tuple[range, range]:
    """Chunks of level ``other`` under chunks ``rows`` x ``cols`` of ``level`` (their middle half)."""
    (ch, cw), (och, ocw) = state.shapes[level], state.shapes[other]
    ds = state.slide.level_downsamples
    f = ds[level] / ds[other]
    y0, y1, x0, x1 = rows.start * ch, rows.stop * ch, cols.start * cw, cols.stop * cw
    if middle:
        y0, y1 = y0 + (y1 - y0) / 4, y1 - (y1 - y0) / 4
        x0, x1 = x0 + (x1 - x0) / 4, x1 - (x1 - x0) / 4
    gr, gc = state.grids[other]
    return (
        range(max(0, int(y0 * f // och)), min(gr, int(-(-y1 * f // och)))),
        range(max(0, int(x0 * f // ocw)), min(gc, int(-(-x1 * f // ocw)))),
    )
