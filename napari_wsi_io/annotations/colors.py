"""QuPath's colours: packed signed 32-bit RGB ints (0.2, 0.3: ``colorRGB``) or ``[r, g, b]`` lists (0.4+)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DEFAULT_RGB", "decode_color", "encode_color", "object_rgb"]

# QuPath's default colour for objects without a class (PathPrefs.colorDefaultObjects: pure red).
DEFAULT_RGB = (255, 0, 0)


def decode_color(value: object) -> tuple[int, int, int] | None:
    """(r, g, b) in 0-255 from a packed int (e.g. -65536 is red) or an [r, g, b(, a)] list; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        packed = value & 0xFFFFFF  # the alpha byte QuPath packs in the high bits (hence negative ints) is dropped
        return (packed >> 16) & 255, (packed >> 8) & 255, packed & 255
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) >= 3:
        try:
            r, g, b = (int(round(float(c))) for c in value[:3])
        except (TypeError, ValueError):
            return None
        if all(0 <= c <= 255 for c in (r, g, b)):
            return r, g, b
    return None


def encode_color(rgb: Sequence[int]) -> list[int]:
    """The list form QuPath 0.4+ writes and reads."""
    return [int(c) for c in rgb[:3]]


def object_rgb(properties: dict) -> tuple[tuple[int, int, int], tuple[int, int, int] | None]:
    """(display colour, class colour) of a QuPath object: the class colour first, as QuPath draws it."""
    classification = properties.get("classification")
    class_rgb = None
    if isinstance(classification, dict):
        class_rgb = decode_color(classification.get("color", classification.get("colorRGB")))
    own = decode_color(properties.get("color", properties.get("colorRGB")))
    return class_rgb or own or DEFAULT_RGB, class_rgb
