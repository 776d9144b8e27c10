"""napari sample data: the synthetic slides, generated once into the user cache."""

from __future__ import annotations

from ._reader import slide_layers
from .synthetic import sample_slide_path

__all__ = ["gigapixel_sample", "small_sample"]


def gigapixel_sample() -> list[tuple]:
    """Synthetic 60000x40000 px (2.4 gigapixel) Aperio-style slide."""
    return slide_layers(sample_slide_path())


def small_sample() -> list[tuple]:
    """Synthetic 4000x3000 px slide for quick looks and tests."""
    return slide_layers(sample_slide_path(small=True))
