"""Encoded tiles for the tissue-like levels, written in seconds however large the level.

Level 0 of a gigapixel slide has tens of thousands of tiles; encoding each one
would take minutes.  Instead a level draws its tiles from a small pool of
pre-encoded tiles (tissue and background), picked at random under a smooth
tissue mask, so the writer only copies bytes.  Levels with few tiles are
rendered pixel by pixel so the overview looks smooth.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ._tissue import glass_background, he_texture, sample, tissue_mask, tissue_weight

POOL_SIDE = 1024  # pool texture side in pixels: (1024 / tile) ** 2 distinct tiles
_FULL_RENDER_MAX_TILES = 512


def encode_jpeg(tile: np.ndarray, quality: int) -> bytes:
    """One baseline JPEG of ``tile``, clipped to uint8."""
    import imagecodecs

    return imagecodecs.jpeg8_encode(np.clip(tile, 0, 255).astype(np.uint8), level=quality)


def pick_from_pools(
    field: np.ndarray,
    rows: int,
    cols: int,
    tissue: Sequence[bytes],
    background: Sequence[bytes],
    rng: np.random.Generator,
) -> Iterator[list[bytes]]:
    """Row by row, a random tissue tile where the field says tissue, else a random background tile."""
    mask = tissue_mask(field, (rows, cols)) > 0.5
    picks = rng.integers(0, len(tissue), (rows, cols))
    bg_picks = rng.integers(0, len(background), (rows, cols))
    for y in range(rows):
        yield [tissue[picks[y, x]] if mask[y, x] else background[bg_picks[y, x]] for x in range(cols)]


def level_tiles(
    shape: tuple[int, int], level: int, tile: int, field: np.ndarray, quality: int, seed: int
) -> Iterator[bytes]:
    """The JPEG tiles of one level in row-major order: rendered if few, else drawn from a pool."""
    ntiles = -(-shape[0] // tile) * -(-shape[1] // tile)
    make = _rendered_tiles if ntiles <= _FULL_RENDER_MAX_TILES else _pooled_tiles
    return make(shape, level, tile, field, quality, seed)


def _pool_tiles(level: int, tile: int, quality: int, seed: int) -> tuple[list[bytes], list[bytes]]:
    """Pre-encoded (tissue, background) tiles for one level."""
    rng = np.random.default_rng((seed, level))
    texture = he_texture(POOL_SIDE, 2.0**level, rng)
    n = POOL_SIDE // tile
    tissue = [
        encode_jpeg(texture[y * tile : (y + 1) * tile, x * tile : (x + 1) * tile], quality)
        for y in range(n)
        for x in range(n)
    ]
    background = [encode_jpeg(glass_background(tile, rng), quality) for _ in range(4)]
    return tissue, background


def _pooled_tiles(
    shape: tuple[int, int], level: int, tile: int, field: np.ndarray, quality: int, seed: int
) -> Iterator[bytes]:
    tissue, background = _pool_tiles(level, tile, quality, seed)
    rows, cols = -(-shape[0] // tile), -(-shape[1] // tile)
    for row in pick_from_pools(field, rows, cols, tissue, background, np.random.default_rng((seed, level, 1))):
        yield from row


def _rendered_tiles(
    shape: tuple[int, int], level: int, tile: int, field: np.ndarray, quality: int, seed: int
) -> Iterator[bytes]:
    rng = np.random.default_rng((seed, level, 2))
    rows, cols = -(-shape[0] // tile), -(-shape[1] // tile)
    texture = he_texture(POOL_SIDE, 2.0**level, rng)
    background = glass_background(POOL_SIDE, rng)
    fx = np.arange(cols * tile) / shape[1]
    reps = (1, -(-cols * tile // POOL_SIDE), 1)
    for y in range(rows):
        fy = np.arange(y * tile, (y + 1) * tile) / shape[0]
        weight = tissue_weight(sample(field, np.minimum(fy, 1), np.minimum(fx, 1)))[..., None]
        band = slice((y * tile) % POOL_SIDE, (y * tile) % POOL_SIDE + tile)
        tissue = np.tile(texture[band], reps)
        paper = np.tile(background[band], reps)
        img = tissue[:, : cols * tile] * weight + paper[:, : cols * tile] * (1 - weight)
        for x in range(cols):
            yield encode_jpeg(img[:, x * tile : (x + 1) * tile], quality)
