"""The level check: are the pixels a strategy stored those of the serial reference reading?

The reference is the serial cuCIM reading of the level (tifffile when cuCIM cannot
read the file), kept as a checksum only: a record whose checksum differs re-reads
the reference band by band to find its largest difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from ..backends import Slide
from .sinks import Sink, checksum

__all__ = ["Reference", "compare"]

_BAND_ROWS = 512


class Reference:
    """The checksum of a level read serially by ``slide``; ``compute`` fills it in."""

    def __init__(self, slide: Slide, level: int) -> None:
        self.slide, self.level = slide, level
        self.width, self.height = slide.level_dimensions[level]
        self.checksum: str | None = None

    def band(self, y: int, rows: int) -> np.ndarray:
        return self.slide.read_level(self.level, 0, y, self.width, rows).reshape(rows, self.width, -1)

    def compute(self, cancelled: Callable[[], bool]) -> None:
        bands = ((y, self.band(y, min(_BAND_ROWS, self.height - y))) for y in range(0, self.height, _BAND_ROWS))
        self.checksum = checksum(bands, cancelled)

    def max_abs_diff(self, bands: Iterable[tuple[int, np.ndarray]], cancelled: Callable[[], bool]) -> int | None:
        worst = 0
        for y, band in bands:
            if cancelled():
                return None
            band = np.asarray(band)
            ref = self.band(y, band.shape[0])
            if not np.array_equal(band, ref):
                worst = max(worst, int(np.abs(band.astype(np.int32) - ref.astype(np.int32)).max()))
        return worst


def compare(sink: Sink, reference: Reference, cancelled: Callable[[], bool]) -> tuple[str | None, int | None]:
    """(checksum, largest difference from the reference) of the level stored in ``sink``; None when cancelled."""
    digest = checksum(sink.bands(), cancelled)
    if digest is None:
        return None, None
    if digest == reference.checksum:
        return digest, 0
    return digest, reference.max_abs_diff(sink.bands(), cancelled)
