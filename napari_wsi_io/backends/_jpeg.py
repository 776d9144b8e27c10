"""Cheap structural check of a JPEG tile, without decoding it.

cuCIM prints an error and returns stale or black pixels for a corrupt JPEG
tile instead of raising.  Random bytes in the entropy-coded data almost always
form a marker that may not appear there (0xFF followed by anything but 0x00,
a restart marker or fill), and a cut tile lacks its end marker, so a scan of
the compressed bytes (microseconds, versus a millisecond to decode) catches
what cuCIM lets through.
"""

from __future__ import annotations

import re

__all__ = ["jpeg_problem"]

_SOS = 0xDA
# In entropy-coded data 0xFF may only be followed by 0x00 (stuffing), 0xFF (fill) or a restart marker.
_BAD_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SUPPORTED_SOF = {0xC0, 0xC1, 0xC2}
_UNSUPPORTED_SOF = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_problem(data: bytes) -> str | None:
    """Return why ``data`` is not a well-formed JPEG stream, or None."""
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return "JPEG tile does not start with a JPEG marker"
    if data[-2:] != b"\xff\xd9":
        return "JPEG tile is truncated (no end marker)"
    pos = 2
    progressive = False
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            return "JPEG tile has a corrupt header"
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _UNSUPPORTED_SOF:
            return f"JPEG tile uses an unsupported process (marker 0x{marker:02X})"
        progressive |= marker == 0xC2
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            return "JPEG tile has a corrupt header"
        pos += 2 + length
        if marker == _SOS:
            break
    if pos > len(data) - 2:
        return "JPEG tile has a corrupt header"
    if progressive:  # scans are separated by table markers: the header check is all we do
        return None
    if _BAD_MARKER.search(data, pos, len(data) - 2):
        return "JPEG tile has corrupt compressed data"
    return None
