"""Reading an export back the way other tools do (ome-zarr-py), shared by the export tests."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.io import parse_url
from ome_zarr.reader import Multiscales, Reader


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def ngff_version(path: Path) -> str:
    return "0.5" if (Path(path) / "zarr.json").is_file() else "0.4"


def read_image(path: Path):
    """The exported image as ome-zarr-py's reader sees it: (node, list of numpy levels).

    The store is opened as the NGFF version it claims to be (0.5 is ome-zarr-py's default), and
    ome-zarr-py must log no warning, such as "version mismatch", while reading it.
    """
    fmt = FormatV05() if ngff_version(path) == "0.5" else FormatV04()
    logger, caught = logging.getLogger("ome_zarr"), _Warnings()
    logger.addHandler(caught)
    try:
        location = parse_url(str(path), mode="r", fmt=fmt)
        assert location is not None, f"ome-zarr-py does not see a Zarr store at {path}"
        nodes = list(Reader(location)())
        assert nodes and any(isinstance(spec, Multiscales) for spec in nodes[0].specs)
        levels = [np.asarray(level) for level in nodes[0].data]
    finally:
        logger.removeHandler(caught)
    assert caught.messages == [], caught.messages
    return nodes[0], levels


def slide_level(slide, level: int) -> np.ndarray:
    """A whole level as the export lays it out: (c, y, x) for RGB, (y, x) for grayscale."""
    w, h = slide.level_dimensions[level]
    pixels = slide.read_level(level, 0, 0, w, h)
    return np.moveaxis(pixels, -1, 0) if pixels.ndim == 3 else pixels


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def data_files(array: Path) -> list[Path]:
    """The chunk or shard files of one exported array (everything but its metadata)."""
    return sorted(p for p in array.rglob("*") if p.is_file() and p.name not in ("zarr.json", ".zarray", ".zattrs"))
