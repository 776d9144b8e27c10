"""Ventana BIF slides."""

from __future__ import annotations

import os
from pathlib import Path

from ._pattern import STRIPS, TILED, level_resolution, vendor_pattern
from ._pyramid import halve, pyramid

_XMP = 700  # the TIFF tag that carries BIF's XML


def write_bif(
    path: str | os.PathLike,
    shape: tuple[int, int] = (1536, 2048),
    levels: int = 3,
    mpp: float = 0.25,
    overlap: tuple[int, int] = (0, 0),
    seed: int = 0,
) -> Path:
    """Ventana BIF: XMP <iScan> in IFD 0 "Label Image", IFD 1 "Thumbnail", then "level=N mag=M"
    tiled IFDs; level 0's XMP holds the <EncodeInfo> tile joints (serpentine numbering from the
    bottom-left tile, as OpenSlide reads them) with ``overlap`` pixels between neighbours."""
    import tifffile

    path = Path(path)
    height, width = shape
    main = pyramid(vendor_pattern(height, width, seed), levels)
    mag = 40 * 0.25 / mpp
    encode_info = _encode_info_xml(-(-height // 256), -(-width // 256), overlap)
    software = "ScanOutputManager 1.1.0.15854"
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write(
            vendor_pattern(300, 280, seed + 2),
            description="Label Image",
            software=software,
            extratags=[(_XMP, 1, 0, _iscan_xml(mag, mpp).encode(), True)],
            **STRIPS,
        )
        tw.write(halve(halve(halve(main[0]))), description="Thumbnail", software=software, **STRIPS)
        for i, m in enumerate(main):
            tw.write(
                m,
                description=f"level={i} mag={mag / 2**i:g} quality=90",
                software=software,
                extratags=[(_XMP, 1, 0, encode_info.encode(), True)] if i == 0 else [],
                **level_resolution(mpp, i),
                **TILED,
            )
    return path


def _iscan_xml(mag: float, mpp: float) -> str:
    """The scanner's <iScan> element: magnification and resolution of level 0."""
    return (
        '<?xml version="1.0" encoding="utf-8"?><Metadata><iScan CameraCapture="1" '
        f'Magnification="{mag:g}" ScanRes="{mpp}" ScannerModel="VENTANA DP 200" UnitNumber="SYNTH" '
        'BuildVersion="1.1.0.15854" SlideAnnotation="synthetic" ShowLabel="1"/></Metadata>'
    )


def _tile_joints(rows: int, cols: int) -> list[tuple[int, int, str]]:
    """(tile, tile, direction) of each pair of neighbours; tiles are numbered from 1 in a serpentine."""
    joints = []
    for row in range(rows):  # row 0 is the bottom row, walked left to right, the next one back
        for i in range(cols):
            number = row * cols + i + 1
            if i < cols - 1:
                left, right = (number, number + 1) if row % 2 == 0 else (number + 1, number)
                joints.append((left, right, "RIGHT"))
            if row < rows - 1:
                above = (row + 1) * cols + (cols - 1 - i) + 1
                joints.append((number, above, "UP"))
    return joints


def _encode_info_xml(rows: int, cols: int, overlap: tuple[int, int]) -> str:
    """<EncodeInfo>: a grid of rows x cols 256 px tiles and how each joins its neighbours."""
    joint_xml = "".join(
        f'<TileJointInfo FlagJoined="1" Direction="{d}" Tile1="{a}" Tile2="{b}" '
        f'OverlapX="{overlap[0] if d == "RIGHT" else 0}" OverlapY="{overlap[1] if d == "UP" else 0}" Confidence="100"/>'
        for a, b, d in _tile_joints(rows, cols)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><EncodeInfo Ver="2"><AoiOrigin><AOI0 OriginX="0" OriginY="0"/>'
        "</AoiOrigin><SlideStitchInfo>"
        f'<ImageInfo AOIScanned="1" AOIIndex="0" Width="256" Height="256" NumRows="{rows}" NumCols="{cols}" '
        f'Pos-X="0" Pos-Y="0">{joint_xml}</ImageInfo></SlideStitchInfo></EncodeInfo>'
    )
