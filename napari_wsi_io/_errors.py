"""The one error type users see: ``cannot read <file>: <reason>``; ``SlideFetchError`` when retrying may work."""

from __future__ import annotations

import os

__all__ = ["SlideFetchError", "SlideReadError"]


class SlideReadError(OSError):
    """A slide, or a part of it, cannot be read; the message names file and reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"cannot read {self.path}: {reason}")

    def __reduce__(self):  # keep the two-argument form across processes
        return type(self), (self.path, self.reason)


class SlideFetchError(SlideReadError):
    """A remote read failed on the way (the connection dropped, no answer in time): the next try may work.

    The viewer shows such a region blank without keeping it, so the next view fetches it again.
    """
