"""Reading an export back the way other tools do (ome-zarr-py), shared by the export tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ome_zarr.format import FormatV04
from ome_zarr.io import parse_url
from ome_zarr.reader import Multiscales, Reader


def read_image(path: Path):
    """The exported image as ome-zarr-py's reader sees it: (node, list of numpy levels)."""
    location = parse_url(str(path), mode="r", fmt=FormatV04())
    assert location is not None, f"ome-zarr-py does not see a Zarr store at {path}"
    nodes = list(Reader(location)())
    assert nodes and any(isinstance(spec, Multiscales) for spec in nodes[0].specs)
    return nodes[0], [np.asarray(level) for level in nodes[0].data]


def slide_level(slide, level: int) -> np.ndarray:
    """A whole level as the export lays it out: (c, y, x) for RGB, (y, x) for grayscale."""
    w, h = slide.level_dimensions[level]
    pixels = slide.read_level(level, 0, 0, w, h)
    return np.moveaxis(pixels, -1, 0) if pixels.ndim == 3 else pixels


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".partial-" in p.name or ".old-" in p.name)
