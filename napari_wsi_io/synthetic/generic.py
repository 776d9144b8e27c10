"""Synthetic whole-slide images: tissue-like JPEG pyramids written in seconds.

Level 0 of a gigapixel slide has tens of thousands of tiles; encoding each one
would take minutes.  Instead every level draws its tiles from a small pool of
pre-encoded JPEG tiles (tissue and background), picked by a hash of the tile
position under a smooth tissue mask, so tifffile only copies bytes.  Levels
with few tiles are rendered pixel by pixel so the overview looks smooth.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = [
    "GIGAPIXEL_SHAPE",
    "SMALL_SHAPE",
    "sample_slide_path",
    "write_synthetic_slide",
]

GIGAPIXEL_SHAPE = (40000, 60000)  # (height, width): 2.4 gigapixels
SMALL_SHAPE = (3000, 4000)
_POOL_SIDE = 1024  # pool texture side in pixels: (1024 / tile) ** 2 distinct tiles
_BACKGROUND = np.array([242, 240, 244], np.float32)
_EOSIN = np.array([232, 150, 196], np.float32)
_HEMATOXYLIN = np.array([70, 40, 130], np.float32)
_FULL_RENDER_MAX_TILES = 512


def _upsample(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a small 2D field to ``shape``."""
    return _sample(field, np.linspace(0, 1, shape[0]), np.linspace(0, 1, shape[1]))


def _sample(field: np.ndarray, fy: np.ndarray, fx: np.ndarray) -> np.ndarray:
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


def _tissue_field(seed: int) -> np.ndarray:
    """A smooth random field on the unit square; > 0.5 is tissue."""
    rng = np.random.default_rng(seed)
    coarse = _upsample(rng.random((5, 7), dtype=np.float32), (33, 49))
    fine = _upsample(rng.random((17, 25), dtype=np.float32), (33, 49))
    field = 0.75 * coarse + 0.25 * fine
    # Blank a margin like a real slide, with tissue in the middle.
    yy, xx = np.mgrid[0:33, 0:49]
    margin = np.minimum.reduce([yy, xx, 32 - yy, 48 - xx]) / 4
    return field * np.clip(margin, 0, 1) + 0.05


def _tissue_mask(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Tissue weight in [0, 1] sampled on a grid of ``shape``."""
    return _weight(_upsample(field, shape))


def _weight(values: np.ndarray) -> np.ndarray:
    return np.clip((values - 0.45) * 12, 0, 1)


def _texture(side: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """H&E-like tissue texture (side x side x 3 float) at 1/``scale`` of level 0."""
    stroma = _upsample(rng.random((side // 32 + 2,) * 2, dtype=np.float32), (side, side))
    img = _EOSIN * (0.85 + 0.25 * stroma[..., None])
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
    weight = np.clip(nuclei, 0, 1)[..., None]
    img = img * (1 - weight) + _HEMATOXYLIN * (0.8 + 0.4 * stroma[..., None]) * weight
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    return img


def _background(side: int, rng: np.random.Generator) -> np.ndarray:
    return _BACKGROUND + rng.normal(0, 2, (side, side, 3)).astype(np.float32)


def _encode(tile: np.ndarray, quality: int) -> bytes:
    import imagecodecs

    return imagecodecs.jpeg8_encode(np.clip(tile, 0, 255).astype(np.uint8), level=quality)


def _level_shapes(height: int, width: int, min_side: int) -> list[tuple[int, int]]:
    shapes = [(height, width)]
    while min(shapes[-1]) // 2 >= min_side:
        h, w = shapes[-1]
        shapes.append((h // 2, w // 2))
    return shapes


def _pool_tiles(level: int, tile: int, quality: int, seed: int) -> tuple[list, list]:
    """Pre-encoded (tissue, background) tiles for one level."""
    rng = np.random.default_rng((seed, level))
    texture = _texture(_POOL_SIDE, 2.0**level, rng)
    n = _POOL_SIDE // tile
    tissue = [
        _encode(texture[y * tile : (y + 1) * tile, x * tile : (x + 1) * tile], quality)
        for y in range(n)
        for x in range(n)
    ]
    background = [_encode(_background(tile, rng), quality) for _ in range(4)]
    return tissue, background


def _pooled_tiles(
    shape: tuple[int, int], level: int, tile: int, field: np.ndarray, quality: int, seed: int
) -> Iterator[bytes]:
    tissue, background = _pool_tiles(level, tile, quality, seed)
    rows, cols = -(-shape[0] // tile), -(-shape[1] // tile)
    mask = _tissue_mask(field, (rows, cols)) > 0.5
    rng = np.random.default_rng((seed, level, 1))
    picks = rng.integers(0, len(tissue), (rows, cols))
    bg_picks = rng.integers(0, len(background), (rows, cols))
    for y in range(rows):
        for x in range(cols):
            yield tissue[picks[y, x]] if mask[y, x] else background[bg_picks[y, x]]


def _rendered_tiles(
    shape: tuple[int, int], level: int, tile: int, field: np.ndarray, quality: int, seed: int
) -> Iterator[bytes]:
    rng = np.random.default_rng((seed, level, 2))
    rows, cols = -(-shape[0] // tile), -(-shape[1] // tile)
    texture = _texture(_POOL_SIDE, 2.0**level, rng)
    background = _background(_POOL_SIDE, rng)
    fx = np.arange(cols * tile) / shape[1]
    reps = (1, -(-cols * tile // _POOL_SIDE), 1)
    for y in range(rows):
        fy = np.arange(y * tile, (y + 1) * tile) / shape[0]
        weight = _weight(_sample(field, np.minimum(fy, 1), np.minimum(fx, 1)))[..., None]
        band = slice((y * tile) % _POOL_SIDE, (y * tile) % _POOL_SIDE + tile)
        tissue = np.tile(texture[band], reps)
        paper = np.tile(background[band], reps)
        img = tissue[:, : cols * tile] * weight + paper[:, : cols * tile] * (1 - weight)
        for x in range(cols):
            yield _encode(img[:, x * tile : (x + 1) * tile], quality)


def _level_tiles(shape, level, tile, field, quality, seed) -> Iterator[bytes]:
    ntiles = -(-shape[0] // tile) * -(-shape[1] // tile)
    make = _rendered_tiles if ntiles <= _FULL_RENDER_MAX_TILES else _pooled_tiles
    return make(shape, level, tile, field, quality, seed)


def _aperio_description(shape, tile, mpp, extra="") -> str:
    h, w = shape
    return (
        f"Aperio Image Library v12.0.15 \r\n{w}x{h} [0,0 {w}x{h}] ({tile}x{tile}) "
        f"JPEG/RGB Q=80{extra}|AppMag = 40|MPP = {mpp:.4f}|ScannerType = napari-wsi-io synthetic"
    )


def _associated(kind: str, seed: int) -> np.ndarray:
    """A small label or macro image."""
    rng = np.random.default_rng((seed, 99))
    if kind == "label":
        img = np.full((400, 400, 3), 250, np.uint8)
        img[60:340:20, 40:360] = rng.integers(0, 60, (14, 320, 3), dtype=np.uint8)
        return img
    img = np.full((500, 1500, 3), 200, np.uint8)
    img[50:450, 400:1400] = (_texture(400, 16.0, rng)[:, :400].repeat(5, axis=1)[:, :1000]).clip(0, 255)
    return img


def write_synthetic_slide(
    path: str | os.PathLike,
    shape: tuple[int, int] = SMALL_SHAPE,
    *,
    tile: int = 256,
    mpp: float = 0.25,
    aperio: bool = False,
    quality: int = 80,
    min_level_side: int = 512,
    seed: int = 0,
) -> Path:
    """Write a tissue-like JPEG-tiled pyramidal TIFF and return its path.

    ``shape`` is (height, width) of level 0.  Each further level halves it
    until its short side would drop under ``min_level_side``.  With
    ``aperio=True`` the file is laid out like an Aperio SVS (MPP in the
    ImageDescription, thumbnail, label and macro images); otherwise it is a
    generic tiled TIFF whose resolution tags carry ``mpp``.
    """
    import tifffile

    if tile % 16 or _POOL_SIDE % tile:
        raise ValueError(f"tile must be a multiple of 16 dividing {_POOL_SIDE}, not {tile}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    field = _tissue_field(seed)
    shapes = _level_shapes(*shape, min_level_side)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")  # two processes may generate at once
    # JPEG tiles of 256 px average ~20 kB; switch to BigTIFF well before 4 GB.
    bigtiff = shape[0] * shape[1] * 3 // 8 > 3 * 2**30
    px_per_cm = 1e4 / mpp
    with tifffile.TiffWriter(tmp, bigtiff=bigtiff) as tw:
        for level, lshape in enumerate(shapes):
            description = _aperio_description(lshape, tile, mpp) if aperio else None
            scale = shape[1] / lshape[1]
            tw.write(
                _level_tiles(lshape, level, tile, field, quality, seed),
                shape=(*lshape, 3),
                dtype=np.uint8,
                tile=(tile, tile),
                compression="jpeg",
                photometric="rgb",
                # Aperio marks no level as reduced-resolution (tifffile and tiffslide rely on it).
                subfiletype=1 if level and not aperio else 0,
                resolution=(px_per_cm / scale, px_per_cm / scale),
                resolutionunit="CENTIMETER",
                description=description,
                metadata=None,
            )
            if aperio and level == 0:
                thumb = _tissue_mask(field, (192, 256))[..., None] * (_EOSIN - _BACKGROUND) + _BACKGROUND
                tw.write(
                    thumb.astype(np.uint8),
                    photometric="rgb",
                    compression="jpeg",
                    description=_aperio_description(shape, tile, mpp, " -> 256x192"),
                    metadata=None,
                )
        if aperio:
            tw.write(
                _associated("label", seed),
                photometric="rgb",
                compression="lzw",
                subfiletype=1,
                description="Aperio Image Library v12.0.15\r\nlabel 400x400",
                metadata=None,
            )
            tw.write(
                _associated("macro", seed),
                photometric="rgb",
                compression="jpeg",
                subfiletype=9,
                description="Aperio Image Library v12.0.15\r\nmacro 1500x500",
                metadata=None,
            )
    os.replace(tmp, path)
    return path


def _cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("NAPARI_WSI_IO_CACHE", user_cache_dir("napari-wsi-io")))


def sample_slide_path(small: bool = False) -> Path:
    """The sample slide in the user cache directory, generated on first use."""
    shape = SMALL_SHAPE if small else GIGAPIXEL_SHAPE
    name = f"synthetic-{shape[1]}x{shape[0]}-v1.svs"
    path = _cache_dir() / name
    if not path.exists():
        write_synthetic_slide(path, shape, aperio=True)
    return path
