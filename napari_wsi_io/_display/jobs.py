"""Jobs for the chunk workers (``_prefetch``), and when each is still wanted.

A job holds its pyramid's display state only weakly: once napari lets go of the levels (layer removed,
viewer closed) the state is collected and its queued jobs are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .reads import Read

if TYPE_CHECKING:
    from .state import PyramidDisplayState

__all__ = ["Job", "alive", "always", "current", "decode_job", "landing_job"]

#: (priority, run, still wanted), as ``ChunkWorkers.submit`` takes them.
Job = tuple[int, Callable[[], None], Callable[[], bool]]
StateRef = Callable[[], "PyramidDisplayState | None"]  # a weakref.ref to the state


def decode_job(ref: StateRef, level: int, r: int, c: int) -> Callable[[], None]:
    """Decode a chunk into the cache ahead of the view (or under it, helping the reading thread)."""

    def run() -> None:
        state = ref()
        if state is not None:
            # A damaged chunk is left for the read that shows it: only that one tells the user.
            state.chunk(level, r, c, Read.PREFETCH)

    return run


def landing_job(ref: StateRef, level: int, r: int, c: int) -> Callable[[], None]:
    """Decode a chunk drawn coarse, then tell the state it landed (its subscribers slice again)."""

    def run() -> None:
        state = ref()
        if state is not None and not state.closed:
            try:
                state.chunk(level, r, c, Read.PREFETCH)
            except Exception:
                state.unreadable.add(state.key(level, r, c))
                raise
            finally:  # a damaged chunk too: the refresh reads it again, without the coarse stand-in, and reports it
                state.landed(level, r, c)

    return run


def always() -> bool:
    return True


def alive(ref: StateRef) -> Callable[[], bool]:
    """Wanted while the pyramid is neither collected nor closed."""

    def wanted() -> bool:
        state = ref()
        return state is not None and not state.closed

    return wanted


def current(ref: StateRef, generation: int) -> Callable[[], bool]:
    """Wanted while alive and no newer view has been guessed for (``guesses.ViewMotion``)."""

    def wanted() -> bool:
        state = ref()
        return state is not None and not state.closed and state.motion.generation == generation

    return wanted
