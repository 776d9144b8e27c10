"""What the slide's figures are compared with: raw cuCIM viewport reads and the in-memory pyramid."""

from __future__ import annotations

import time

import numpy as np

from .canvas import CANVAS

PATTERN = 2048  # side of the resident pattern the in-memory pyramid copies from


def reference_centers(shape: tuple[int, int], n: int) -> list[tuple[int, int]]:
    """``n`` (y, x) centres for the raw reads, at seeded random places inside the slide's middle."""
    h0, w0 = shape
    rng = np.random.default_rng(1)
    return [(int(rng.uniform(0.2, 0.8) * h0), int(rng.uniform(0.2, 0.8) * w0)) for _ in range(n)]


def raw_reference(path: str, centers: list[tuple[int, int]]) -> list[float]:
    """Seconds per cuCIM read of one viewport at level 0 around each (y, x) centre."""
    from napari_wsi_io import open_slide

    times = []
    with open_slide(path, backend="cucim") as slide:
        w0, h0 = slide.dimensions
        for cy, cx in centers:
            x = int(np.clip(cx - CANVAS[1] // 2, 0, w0 - CANVAS[1]))
            y = int(np.clip(cy - CANVAS[0] // 2, 0, h0 - CANVAS[0]))
            start = time.perf_counter()
            slide.read_cucim(0, x, y, CANVAS[1], CANVAS[0])
            times.append(time.perf_counter() - start)
    return times


class PatternLevel:
    """One level of the in-memory reference: reads are memory copies from a small resident pattern.

    The pattern (the slide's own pixels, ``PATTERN`` px square) repeats across the level, so any region
    of any level is a copy and even level 0 of a gigapixel slide takes no memory.
    """

    def __init__(self, pattern: np.ndarray, shape: tuple[int, ...]) -> None:
        self.pattern, self.shape, self.dtype, self.ndim = pattern, shape, pattern.dtype, len(shape)

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        (y0, y1, _), (x0, x1, _) = (k.indices(n) for k, n in zip(key[:2], self.shape))  # noqa: B905
        p = self.pattern.shape[0]
        out = np.empty((max(0, y1 - y0), max(0, x1 - x0), *self.shape[2:]), self.dtype)
        y = y0
        while y < y1:
            h = min(y1 - y, p - y % p)
            x = x0
            while x < x1:
                w = min(x1 - x, p - x % p)
                out[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = self.pattern[y % p : y % p + h, x % p : x % p + w]
                x += w
            y += h
        return out


def centre_pattern(image, w0: int, h0: int) -> np.ndarray:
    """The ``PATTERN`` px square (or less, for a small slide) at the centre of level 0 of ``image`` (w0 x h0)."""
    side = min(PATTERN, w0, h0)
    return np.asarray(image.read_level(0, (w0 - side) // 2, (h0 - side) // 2, side, side))


def add_pattern_copy(viewer, layer, pattern: np.ndarray, name: str, **settings):
    """napari's own in-memory pyramid in ``layer``'s place: its level shapes, dtype, chunks, scale and contrast.

    ``settings``: more of ``layer``'s own (``rgb``, ``colormap``, ...), passed to ``add_image``.
    """
    import dask.array as da

    levels = [
        da.from_array(PatternLevel(pattern, level.shape), chunks=level.chunksize, asarray=False, fancy=False)
        for level in layer.data
    ]
    return viewer.add_image(
        levels,
        multiscale=True,
        scale=layer.scale,
        translate=layer.translate,
        contrast_limits=layer.contrast_limits,
        cache=False,
        name=name,
        **settings,
    )


def reference_layer(viewer, layer, path: str):
    """The in-memory pyramid of the slide layer."""
    from napari_wsi_io import open_slide

    with open_slide(path, backend="cucim") as slide:
        pattern = centre_pattern(slide, *slide.dimensions)
    return add_pattern_copy(viewer, layer, pattern, "in-memory reference", rgb=layer.rgb)


def tile_equals_slide(layer, path: str) -> bool:
    """Sanity check of the tile napari drew last: it equals the slide's level-0 pixels at its place."""
    from napari_wsi_io import open_slide

    with open_slide(path, backend="cucim") as slide:
        t2d = layer._transforms["tile2data"]
        raw = np.asarray(layer._slice.image.raw)
        y, x = (int(v) for v in np.asarray(t2d.translate)[:2])
        return bool(np.array_equal(raw, slide.read_level(0, x, y, raw.shape[1], raw.shape[0])))
