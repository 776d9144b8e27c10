"""Where a slide's bytes come from: one byte source per open slide, a local file or a remote object.

``open_source`` makes it from a path or a URL; the TIFF layout, the tile reads and the dask tokens go
through it, so a URL has this one place to plug in.  A source has a ``name`` (what messages show: the
path, or the URL without credentials), a ``size``, a ``token`` that changes when the file does,
``read(start, count)``, ``prefetch(ranges)`` (fetch many ranges at once where that saves time), a file
object for tifffile (``tiff_file``), and pickles by its path or URL.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .._errors import SlideReadError
from ._transport import is_url, redact

__all__ = ["ByteSource", "LocalSource", "is_url", "open_source", "redact"]


class ByteSource:
    """The interface; ``LocalSource`` and ``_remote.RemoteSource`` implement it."""

    name: str
    size: int
    #: The local path where there is one (cuCIM and OpenSlide read paths), else None.
    local_path: str | None = None
    #: True where fetching a region's tiles together (``prefetch``) beats reading them one by one.
    fetches_ahead: bool = False

    @property
    def token(self) -> str:
        raise NotImplementedError

    def read(self, start: int, count: int) -> bytes:
        """Up to ``count`` bytes from ``start`` (fewer only at the end of the file)."""
        raise NotImplementedError

    def prefetch(self, ranges: Sequence[tuple[int, int]]) -> None:
        """Make the later ``read`` of each (start, count) cheap; local files need nothing."""

    def tiff_file(self):
        """What ``tifffile.TiffFile`` opens: a path, or a file object."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> ByteSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalSource(ByteSource):
    """A local file, read with ``os.pread`` (thread-safe, no seek)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.name = self.local_path = os.fspath(path)
        self._fd = os.open(self.name, os.O_RDONLY)
        stat = os.fstat(self._fd)
        self.size, self._mtime = stat.st_size, stat.st_mtime_ns

    @property
    def token(self) -> str:
        return f"{self.name}|{self._mtime}|{self.size}"

    def read(self, start: int, count: int) -> bytes:
        return os.pread(self._fd, count, start)

    def tiff_file(self) -> str:
        return self.name

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __reduce__(self):
        return type(self), (self.name,)

    def __repr__(self) -> str:
        return f"LocalSource({self.name!r})"


def open_source(path: str | os.PathLike) -> ByteSource:
    """A local file or, for ``http(s)://``, ``s3://``, ``gs://``, ``az://``, a remote object.

    Raises ``SlideReadError`` naming the path (the URL without credentials) and the reason.
    """
    if is_url(path):
        from ._remote import RemoteSource

        return RemoteSource(path)
    path = os.fspath(path)
    if os.path.isdir(path):
        raise SlideReadError(path, "it is a directory holding no whole-slide DICOM series")
    try:
        return LocalSource(path)
    except FileNotFoundError:
        raise SlideReadError(path, "no such file") from None
    except OSError as exc:
        raise SlideReadError(path, exc.strerror or str(exc)) from None


def display_name(path: str | os.PathLike) -> str:
    """What a message or a layer shows for ``path``: a URL without credentials or query."""
    return redact(path) if is_url(path) else os.fspath(path)
