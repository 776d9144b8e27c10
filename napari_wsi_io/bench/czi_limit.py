"""The decode limit of a Zeiss CZI: its subblocks decoded by their own codec (zstd, JPEG XR, ...) on one core.

libCZI composes a read from the subblocks of the pyramid layer nearest the level (full resolution where
the file stores no coarser one), so those are the subblocks timed: every plane's, read before the row's
decode is timed, decoded with imagecodecs (``backends._czi_subblocks``), the pixels discarded.
"""

from __future__ import annotations

import os
import time
from itertools import groupby

from ..backends._czi_subblocks import decode_subblock, subblock_data
from .job import Job, Task

__all__ = ["run_czi_decode_limit"]


def _subblocks(job: Job) -> list:
    """The subblocks libCZI decodes for the job's level: its planes', at the nearest stored zoom."""
    slide = job.slide
    parent = getattr(slide, "parent", slide)
    layout = parent.layout
    factor = layout.factors[job.level]
    stored = {round(1 / e.zoom) for e in layout.entries}
    use = max(f for f in stored if f <= factor)
    keys = set(getattr(slide, "keys", [layout.first_plane]))
    meta = layout.meta
    return sorted(
        (
            e
            for e in layout.entries
            if round(1 / e.zoom) == use and meta.plane_key(e.index("C"), e.index("T"), e.index("Z")) in keys
        ),  # every scene's: a level shows them all
        key=lambda e: (e.dims["Y"][0], e.dims["X"][0]),
    )


def run_czi_decode_limit(job: Job) -> None:
    """Decode every subblock under the level on one core; the limit is that speed times the cores."""
    path = job.slide.path
    fd = os.open(path, os.O_RDONLY)
    try:
        _decode_rows(job, path, fd, _subblocks(job))
    finally:
        os.close(fd)


def _decode_rows(job: Job, path: str, fd: int, entries: list) -> None:
    rows = [list(group) for _, group in groupby(entries, key=lambda e: e.dims["Y"][0])]
    decode_subblock(rows[0][0], subblock_data(path, fd, rows[0][0]))  # warm-up, untimed
    w, h = job.slide.level_dimensions[job.level]
    band = -(-h // len(rows))
    job.start_clock()
    total = 0.0
    for i, row in enumerate(rows):
        job.check()
        data = [(e, subblock_data(path, fd, e)) for e in row]
        start = time.perf_counter()
        for entry, raw in data:
            decode_subblock(entry, raw)
        took = time.perf_counter() - start
        y = i * band
        job.tasks.append(Task(0, total, total + took, 0, min(y, h - 1), w, max(1, min(band, h - y))))
        total += took
    job.stop_clock()
    job.seconds = total / job.workers
    modes = sorted({e.compression for e in entries})
    job.note = f"imagecodecs on {len(entries)} subblocks (CZI compression {modes}) on one core: {total:.3f} s; x {job.workers} cores"
