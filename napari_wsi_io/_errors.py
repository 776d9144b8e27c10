"""The one error type users see: ``cannot read <file>: <reason>``."""

from __future__ import annotations

import os

__all__ = ["SlideReadError"]


class SlideReadError(OSError):
    """A slide, or a part of it, cannot be read; the message names file and reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"cannot read {self.path}: {reason}")

    def __reduce__(self):  # keep the two-argument form across processes
        return type(self), (self.path, self.reason)
