"""How the synthetic slides' levels shrink: the level sizes, and 2 x 2 means of pixels."""

from __future__ import annotations

import numpy as np


def level_shapes(height: int, width: int, min_side: int, multiple: tuple[int, int] = (1, 1)) -> list[tuple[int, int]]:
    """Level 0, then halves (rounded down to ``multiple`` rows and columns) until a short side would drop under
    ``min_side``."""
    shapes = [(height, width)]
    while min(shapes[-1]) // 2 >= min_side:
        h, w = shapes[-1]
        shapes.append((h // 2 // multiple[0] * multiple[0], w // 2 // multiple[1] * multiple[1]))
    return shapes


def mean_2x2(img: np.ndarray) -> np.ndarray:
    """Each 2 x 2 block's mean (float); an odd last row or column is dropped."""
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    return img[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean((1, 3))


def halve(img: np.ndarray) -> np.ndarray:
    """Half the size, means truncated to uint8."""
    return mean_2x2(img).astype(np.uint8)


def pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """``img`` and ``levels - 1`` halvings of it."""
    out = [img]
    for _ in range(levels - 1):
        out.append(halve(out[-1]))
    return out
