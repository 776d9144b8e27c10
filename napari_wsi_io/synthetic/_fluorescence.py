"""What the synthetic fluorescence slides hold: a smooth stained field per channel and plane, and its pyramid.

Each (channel, t, z) plane is its own smooth random field (a coarse random grid interpolated up, cubed so
that stained regions stand out of a dark background), plus noise.  16-bit planes span about 1,100-6,600
grey values, as a real 16-bit fluorescence scan does (nowhere near the dtype's range); 8-bit about 10-220;
float ones about 0-30.  The same arguments always give the same pixels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_CHANNELS", "fluorescence_plane", "fluorescence_pyramid", "rgba_int"]

#: The panel of the issue: (name, (r, g, b)).
DEFAULT_CHANNELS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("DAPI", (0, 0, 255)),
    ("CD3", (0, 255, 0)),
    ("CD8", (255, 0, 0)),
    ("PanCK", (255, 255, 0)),
    ("FoxP3", (255, 0, 255)),
    ("PD-L1", (0, 255, 255)),
)
_RANGES = {"u1": (10.0, 210.0, 8), "u2": (1100.0, 5500.0, 40), "f4": (0.05, 30.0, 0.1), "u4": (1100.0, 5500.0, 40)}
_CELL = 48  # px between the coarse grid's points


def _upsample(coarse: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear interpolation of ``coarse`` onto a ``height`` x ``width`` grid."""
    ys = np.linspace(0, coarse.shape[0] - 1.001, height)
    xs = np.linspace(0, coarse.shape[1] - 1.001, width)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None].astype(np.float32), (xs - x0)[None, :].astype(np.float32)
    c = coarse.astype(np.float32)
    top = c[y0][:, x0] * (1 - fx) + c[y0][:, x0 + 1] * fx
    bottom = c[y0 + 1][:, x0] * (1 - fx) + c[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def fluorescence_plane(
    height: int, width: int, channel: int, plane: int = 0, dtype=np.uint16, seed: int = 0
) -> np.ndarray:
    """Plane ``plane`` (a flat (t, z) number) of channel ``channel``: (height, width) of ``dtype``."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng((seed, channel, plane))
    coarse = rng.random((height // _CELL + 2, width // _CELL + 2))
    field = _upsample(coarse, height, width) ** 3
    base, span, noise = _RANGES.get(dtype.str[1:], _RANGES["u2"])
    values = base + span * field + rng.random((height, width), np.float32) * noise
    return values.astype(dtype)


def fluorescence_pyramid(plane: np.ndarray, levels: int) -> list[np.ndarray]:
    """``plane`` and ``levels - 1`` halvings: 2 x 2 means, an odd last row or column dropped."""
    out = [plane]
    for _ in range(levels - 1):
        p = out[-1]
        h, w = p.shape[0] // 2 * 2, p.shape[1] // 2 * 2
        mean = p[:h, :w].reshape(h // 2, 2, w // 2, 2).mean((1, 3))
        out.append(mean.astype(plane.dtype))
    return out


def rgba_int(rgb: tuple[int, int, int]) -> int:
    """An (r, g, b) colour as OME's Color: a signed 32-bit RGBA integer, opaque."""
    r, g, b = rgb
    value = (r << 24) | (g << 16) | (b << 8) | 255
    return value - (1 << 32) if value >= 1 << 31 else value
