"""Ventana BIF: levels are the IFDs described "level=N mag=M", whatever their place in the file.

OpenSlide's rules (openslide-vendor-ventana.c): IFD 0's XMP holds the ``<iScan>`` scan
metadata (``ScanRes`` is the mpp); "Label Image" is the slide photo OpenSlide calls "macro",
"Thumbnail" the thumbnail.  Level 0's XMP ``<EncodeInfo>`` lists the scanned areas (AOIs) and,
per pair of neighbouring camera tiles (numbered in a serpentine from the bottom left), how far
they overlap.  OpenSlide lays every tile out at one advance: the tile size less the
confidence-weighted mean overlap; each tile covers the one before it, and a TIFF tile of a
level downsampled d times holds d x d such tiles, each laid out on its own.  Without overlap that is the TIFF tile grid;
with overlap the level is stitched the same way (``LevelPage.remap``), to the nearest pixel where
OpenSlide blends a fractional position.  Overlapping tiles in several or shifted AOIs are refused.
"""

from __future__ import annotations

import math

import numpy as np

from .._errors import SlideReadError
from ._vendor import LevelPage, VendorLayout, parse_xml

_MACRO = ("Label Image", "Label_Image")


def _xmp(page, path: str, what: str):
    tag = page.tags.get(700)
    if tag is None:
        return None
    value = tag.value
    return parse_xml(path, value if isinstance(value, bytes) else str(value), f"Ventana {what} XMP")


def _iscan(root, path: str):
    if root is not None and root.tag == "iScan":
        return root
    if root is not None and root.tag == "Metadata":
        found = root.find("iScan")
        if found is not None:
            return found
    raise SlideReadError(path, "Ventana XMP in IFD 0 has no <iScan> element")


def _num(node, name: str, path: str, kind=int):
    try:
        value = kind(node.attrib[name])
    except (KeyError, ValueError):
        raise SlideReadError(path, f"Ventana EncodeInfo: <{node.tag}> has no valid {name!r}") from None
    if kind is float and not math.isfinite(value):
        raise SlideReadError(path, f"Ventana EncodeInfo: <{node.tag}> has no valid {name!r}")
    return value


def _level_fields(description: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in description.split(" ") if "=" in pair)


def _tile_layout(encode, tile: tuple[int, int], path: str) -> tuple[tuple[float, float], list]:
    """The tile advance (x, y) at level 0 and the scanned AOIs (col, row, cols, rows, (Pos-X, Pos-Y)).

    As OpenSlide: the advance is the tile size less the confidence-weighted mean overlap of
    the joints, the same for every tile.
    """
    infos = encode.findall("SlideStitchInfo/ImageInfo")
    origins = encode.findall("AoiOrigin/*")
    if not infos or len(infos) != len(origins):
        raise SlideReadError(path, "Ventana EncodeInfo: missing or inconsistent AOI metadata")
    tw, th = tile
    areas = []
    total, weight = [0.0, 0.0], [0, 0]
    for info, origin in zip(infos, origins):
        if not _num(info, "AOIScanned", path):
            continue
        if (_num(info, "Width", path), _num(info, "Height", path)) != (tw, th):
            raise SlideReadError(path, f"Ventana EncodeInfo: camera tiles are not the TIFF tiles ({tw}x{th})")
        ox, oy = _num(origin, "OriginX", path), _num(origin, "OriginY", path)
        cols, rows = _num(info, "NumCols", path), _num(info, "NumRows", path)
        if ox % tw or oy % th or ox < 0 or oy < 0 or cols < 1 or rows < 1:
            raise SlideReadError(path, f"Ventana EncodeInfo: AOI at ({ox}, {oy}) with {cols}x{rows} tiles is invalid")
        for joint in info.findall("TileJointInfo"):
            for name in ("Tile1", "Tile2"):
                if not 1 <= _num(joint, name, path) <= cols * rows:
                    raise SlideReadError(path, f"Ventana EncodeInfo: tile number {joint.attrib[name]} out of range")
            if joint.attrib.get("Direction") not in ("RIGHT", "UP"):
                raise SlideReadError(path, f"Ventana EncodeInfo: bad joint direction {joint.attrib.get('Direction')!r}")
            axis = 0 if joint.attrib["Direction"] == "RIGHT" else 1
            confidence = _num(joint, "Confidence", path)
            total[axis] += confidence * _num(joint, ("OverlapX", "OverlapY")[axis], path, float)
            weight[axis] += confidence
        pos = (_num(info, "Pos-X", path, float), _num(info, "Pos-Y", path, float))
        areas.append((ox // tw, oy // th, cols, rows, pos))
    if not areas:
        raise SlideReadError(path, "Ventana EncodeInfo: no scanned AOI")
    advance = tuple(size - (t / w if w else 0.0) for size, t, w in zip(tile, total, weight))
    if not all(size / 2 <= a <= size for size, a in zip(tile, advance)):
        raise SlideReadError(path, f"Ventana EncodeInfo: implausible tile overlaps (tile advance {advance})")
    return advance, areas


def _grid_extent(areas: list, tile: tuple[int, int], path: str) -> tuple[int, int]:
    """Level 0's size when tiles do not overlap: the TIFF tile grid the AOIs span."""
    tw, th = tile
    # OpenSlide places each AOI at Pos-X and at Pos-Y counted from the bottom; with no overlap
    # that must be the AOI's own place in the TIFF grid.
    top = max(pos[1] + rows * th for _, _, _, rows, pos in areas)
    for col, row, _, rows, pos in areas:
        if pos[0] != col * tw or top - pos[1] - rows * th != row * th:
            raise SlideReadError(path, "Ventana EncodeInfo: AOIs placed off the TIFF tile grid are not supported")
    return (max((c + n) * tw for c, _, n, _, _ in areas), max((r + n) * th for _, r, _, n, _ in areas))


def _stitch_axis(count: int, tile: int, advance: float, ds: float) -> np.ndarray:
    """For each pixel along one axis of a stitched level, its TIFF pixel.

    Tile ``c`` starts at ``c * advance / ds`` and covers the tile before it (as OpenSlide paints
    them); a fractional start takes the nearest source pixel where OpenSlide blends two.
    """
    step, sub = advance / ds, tile / ds
    x = np.arange(math.ceil(((count - 1) * advance + tile) / ds), dtype=np.float64)
    c = np.minimum(np.floor(x / step), count - 1)
    offset = np.clip(np.floor(x - c * step + 0.5), 0, sub - 1)
    return (c * sub + offset).astype(np.int64)


def read_layout(tif, pages: list) -> VendorLayout:
    """Levels: the "level=N" IFDs, widest first, sized (or stitched) from level 0's EncodeInfo as OpenSlide."""
    path = tif.filehandle.path
    iscan = _iscan(_xmp(pages[0], path, "IFD 0"), path)
    props = {f"ventana.{k}": v for k, v in iscan.attrib.items() if v}
    mpp = _scan_mpp(iscan)
    found, associated = _level_pages(pages, path)
    tile = (found[0][0].tilewidth, found[0][0].tilelength)
    if any((p.tilewidth, p.tilelength) != tile for p, _ in found):
        raise SlideReadError(path, "Ventana levels have different tile sizes")
    encode = _xmp(found[0][0], path, "level 0")
    mag0, by_size = found[0][1], sorted(found, key=lambda f: -f[0].imagewidth)
    if encode is None or encode.tag != "EncodeInfo":
        return VendorLayout([LevelPage(page) for page, _ in by_size], associated, props, mpp)
    advance, areas = _tile_layout(encode, tile, path)
    if advance == tile:
        levels = _grid_levels(by_size, mag0, _grid_extent(areas, tile, path))
    else:
        levels = _stitched_levels(by_size, mag0, areas, tile, advance, path)
    return VendorLayout(levels, associated, props, mpp)


def _scan_mpp(iscan) -> tuple[float, float] | None:
    try:
        res = float(iscan.attrib.get("ScanRes", ""))
    except ValueError:
        return None
    return (res, res) if 0 < res < 1000 else None


def _level_pages(pages: list, path: str) -> tuple[list, dict]:
    """The (page, magnification) of each "level=N mag=M" IFD in order of N, and the associated images."""
    found, associated = [], {}
    for page in pages:
        desc = page.description or ""
        if "level=" in desc:
            fields = _level_fields(desc)
            try:
                number, mag = int(fields["level"]), float(fields["mag"])
            except (KeyError, ValueError):
                raise SlideReadError(path, f"Ventana level description {desc[:60]!r} is damaged") from None
            if number != len(found):
                raise SlideReadError(path, f"Ventana level {number} found where level {len(found)} was expected")
            if not (mag > 0 and (not found or mag < found[-1][1])):
                raise SlideReadError(path, f"Ventana level {number}: magnification {mag:g} does not decrease")
            if not page.is_tiled:
                raise SlideReadError(path, f"Ventana level {number} is not tiled")
            found.append((page, mag))
        elif desc in _MACRO:
            associated["macro"] = page
        elif desc == "Thumbnail":
            associated["thumbnail"] = page
    if not found:
        raise SlideReadError(path, "no Ventana 'level=N' images in this BIF file")
    return found, associated


def _grid_levels(by_size: list, mag0: float, extent: tuple[int, int]) -> list[LevelPage]:
    """Levels of tiles that do not overlap: OpenSlide's level is the AOI grid scaled down; past it is padding.

    ``by_size``: (page, magnification), widest first; ``mag0``: level 0's magnification.
    """
    levels = []
    for page, mag in by_size:
        ds = mag0 / mag
        w, h = min(page.imagewidth, math.ceil(extent[0] / ds)), min(page.imagelength, math.ceil(extent[1] / ds))
        levels.append(LevelPage(page, w, h))
    return levels


def _stitched_levels(
    by_size: list, mag0: float, areas: list, tile: tuple[int, int], advance: tuple[float, float], path: str
) -> list[LevelPage]:
    """Overlapping tiles, stitched like OpenSlide: each level's tiles hold ds x ds level-0 tiles."""
    if len(areas) != 1 or areas[0][:2] != (0, 0) or areas[0][4][0] != 0:
        raise SlideReadError(path, "overlapping BIF tiles in several or shifted AOIs: stitching them is not supported")
    _, _, cols, rows, _ = areas[0]
    first = by_size[0][0]
    if cols * tile[0] > first.imagewidth or rows * tile[1] > first.imagelength:  # before sizing arrays from it
        raise SlideReadError(path, f"Ventana EncodeInfo: {cols}x{rows} tiles do not fit the TIFF image")
    levels = []
    for page, mag in by_size:
        ds = mag0 / mag
        if ds != round(ds) or tile[0] % ds or tile[1] % ds:
            raise SlideReadError(path, f"Ventana level at {mag:g}x: downsample {ds:g} does not divide the tiles")
        ys, xs = _stitch_axis(rows, tile[1], advance[1], ds), _stitch_axis(cols, tile[0], advance[0], ds)
        levels.append(LevelPage(page, len(xs), len(ys), remap=(ys, xs)))
    return levels
