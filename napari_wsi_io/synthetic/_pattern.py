"""The test pattern and JPEG TIFF settings shared by the SCN, BIF and Philips writers."""

from __future__ import annotations

import numpy as np


def vendor_pattern(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Gradients, a grid and blobs: smooth enough for JPEG, distinct enough to catch a misplaced tile."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(x / 97.0), 128 + 100 * np.cos(y / 71.0), (x + y) / (height + width) * 255], -1)
    img[(y.astype(int) % 128 < 6) | (x.astype(int) % 128 < 6)] = (40, 30, 90)
    for cy, cx, r in zip(rng.integers(0, height, 12), rng.integers(0, width, 12), rng.integers(20, 120, 12)):
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.integers(0, 255, 3)
    return img.clip(0, 255).astype(np.uint8)


def _halve(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    return img[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean((1, 3)).astype(np.uint8)


def _pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [img]
    for _ in range(levels - 1):
        out.append(_halve(out[-1]))
    return out


def _jpeg(img: np.ndarray) -> bytes:
    import imagecodecs

    return imagecodecs.jpeg8_encode(img, level=90)


_TILED = {
    "tile": (256, 256),
    "compression": "jpeg",
    "compressionargs": {"level": 90},
    "photometric": "rgb",
    "metadata": None,
}
_STRIPS = {
    "compression": "jpeg",
    "compressionargs": {"level": 90},
    "photometric": "rgb",
    "metadata": None,
    "rowsperstrip": 16,
}
