"""The test pattern and TIFF settings of the SCN, BIF and Philips writers."""

from __future__ import annotations

from typing import Any

import numpy as np

_JPEG = {"compression": "jpeg", "compressionargs": {"level": 90}, "photometric": "rgb", "metadata": None}
TILED = {**_JPEG, "tile": (256, 256)}
STRIPS = {**_JPEG, "rowsperstrip": 16}


def vendor_pattern(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Gradients, a grid and blobs: smooth enough for JPEG, distinct enough to catch a misplaced tile."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(x / 97.0), 128 + 100 * np.cos(y / 71.0), (x + y) / (height + width) * 255], -1)
    img[(y.astype(int) % 128 < 6) | (x.astype(int) % 128 < 6)] = (40, 30, 90)
    for cy, cx, r in zip(rng.integers(0, height, 12), rng.integers(0, width, 12), rng.integers(20, 120, 12)):
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.integers(0, 255, 3)
    return img.clip(0, 255).astype(np.uint8)


def level_resolution(mpp: float, level: int) -> dict[str, Any]:
    """tifffile's resolution options of a level ``2**level`` times coarser than ``mpp``."""
    res = 1e4 / mpp / 2**level
    return {"resolution": (res, res), "resolutionunit": "CENTIMETER"}
