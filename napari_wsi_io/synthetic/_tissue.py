"""What the tissue-like slides look like: where tissue lies, its H&E texture and the glass around it."""

from __future__ import annotations

import numpy as np

BACKGROUND = np.array([242, 240, 244], np.float32)
EOSIN = np.array([232, 150, 196], np.float32)
HEMATOXYLIN = np.array([70, 40, 130], np.float32)


def upsample(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a small 2D field to ``shape``."""
    return sample(field, np.linspace(0, 1, shape[0]), np.linspace(0, 1, shape[1]))


def sample(field: np.ndarray, fy: np.ndarray, fx: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``field`` on the grid of unit coordinates ``fy`` x ``fx``."""
    h, w = field.shape
    ys = (fy * (h - 1)).astype(np.float32)
    xs = (fx * (w - 1)).astype(np.float32)
    y0 = np.minimum(ys.astype(int), h - 2)
    x0 = np.minimum(xs.astype(int), w - 2)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    a = field[y0][:, x0]
    b = field[y0][:, x0 + 1]
    c = field[y0 + 1][:, x0]
    d = field[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def tissue_field(seed: int) -> np.ndarray:
    """A smooth random field on the unit square; > 0.5 is tissue."""
    rng = np.random.default_rng(seed)
    coarse = upsample(rng.random((5, 7), dtype=np.float32), (33, 49))
    fine = upsample(rng.random((17, 25), dtype=np.float32), (33, 49))
    field = 0.75 * coarse + 0.25 * fine
    # Blank a margin like a real slide, with tissue in the middle.
    yy, xx = np.mgrid[0:33, 0:49]
    margin = np.minimum.reduce([yy, xx, 32 - yy, 48 - xx]) / 4
    return field * np.clip(margin, 0, 1) + 0.05


def tissue_weight(values: np.ndarray) -> np.ndarray:
    """Tissue weight in [0, 1] of field values: a soft edge around 0.5."""
    return np.clip((values - 0.45) * 12, 0, 1)


def tissue_mask(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Tissue weight in [0, 1] sampled on a grid of ``shape``."""
    return tissue_weight(upsample(field, shape))


def tissue_thumbnail(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A flat overview: eosin where the field says tissue, glass elsewhere (float RGB)."""
    return tissue_mask(field, shape)[..., None] * (EOSIN - BACKGROUND) + BACKGROUND


def he_texture(side: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """H&E-like tissue texture (side x side x 3 float) at 1/``scale`` of level 0."""
    stroma = upsample(rng.random((side // 32 + 2,) * 2, dtype=np.float32), (side, side))
    img = EOSIN * (0.85 + 0.25 * stroma[..., None])
    nuclei = _nuclei(side, scale, rng)
    weight = np.clip(nuclei, 0, 1)[..., None]
    img = img * (1 - weight) + HEMATOXYLIN * (0.8 + 0.4 * stroma[..., None]) * weight
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    return img


def _nuclei(side: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Elliptic nuclei scattered over a side x side plane: each pixel's strength, 0 outside."""
    nuclei = np.zeros((side, side), np.float32)
    radius = max(1.0, 6.0 / scale)
    count = int(side * side / (radius * radius * 30))
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    for cy, cx, rr in zip(
        rng.integers(0, side - 2 * r - 1, count),
        rng.integers(0, side - 2 * r - 1, count),
        rng.uniform(0.6, 1.2, count),
    ):
        disk = ((yy / rr) ** 2 + (xx / (rr * 1.3)) ** 2) <= radius * radius
        region = nuclei[cy : cy + 2 * r + 1, cx : cx + 2 * r + 1]
        np.maximum(region, disk * rr, out=region)
    return nuclei


def glass_background(side: int, rng: np.random.Generator) -> np.ndarray:
    """Empty glass with a little noise (side x side x 3 float)."""
    return BACKGROUND + rng.normal(0, 2, (side, side, 3)).astype(np.float32)
