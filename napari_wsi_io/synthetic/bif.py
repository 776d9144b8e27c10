"""Ventana BIF slides."""

from __future__ import annotations

import os
from pathlib import Path

from ._pattern import _STRIPS, _TILED, _halve, _pyramid, vendor_pattern


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
    main = _pyramid(vendor_pattern(height, width, seed), levels)
    rows, cols = -(-height // 256), -(-width // 256)
    mag = 40 * 0.25 / mpp
    iscan = (
        '<?xml version="1.0" encoding="utf-8"?><Metadata><iScan CameraCapture="1" '
        f'Magnification="{mag:g}" ScanRes="{mpp}" ScannerModel="VENTANA DP 200" UnitNumber="SYNTH" '
        'BuildVersion="1.1.0.15854" SlideAnnotation="synthetic" ShowLabel="1"/></Metadata>'
    )
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
    joint_xml = "".join(
        f'<TileJointInfo FlagJoined="1" Direction="{d}" Tile1="{a}" Tile2="{b}" '
        f'OverlapX="{overlap[0] if d == "RIGHT" else 0}" OverlapY="{overlap[1] if d == "UP" else 0}" Confidence="100"/>'
        for a, b, d in joints
    )
    encode = (
        '<?xml version="1.0" encoding="utf-8"?><EncodeInfo Ver="2"><AoiOrigin><AOI0 OriginX="0" OriginY="0"/></AoiOrigin><SlideStitchInfo>'
        f'<ImageInfo AOIScanned="1" AOIIndex="0" Width="256" Height="256" NumRows="{rows}" NumCols="{cols}" '
        f'Pos-X="0" Pos-Y="0">{joint_xml}</ImageInfo></SlideStitchInfo></EncodeInfo>'
    )
    label = vendor_pattern(300, 280, seed + 2)
    thumb = _halve(_halve(_halve(main[0])))
    software = "ScanOutputManager 1.1.0.15854"
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write(
            label,
            description="Label Image",
            software=software,
            extratags=[(700, 1, 0, iscan.encode(), True)],
            **_STRIPS,
        )
        tw.write(thumb, description="Thumbnail", software=software, **_STRIPS)
        for i, m in enumerate(main):
            extra = [(700, 1, 0, encode.encode(), True)] if i == 0 else []
            desc = f"level={i} mag={mag / 2**i:g} quality=90"
            res = 1e4 / mpp / 2**i
            tw.write(m, description=desc, software=software, extratags=extra, resolution=(res, res),
                     resolutionunit="CENTIMETER", **_TILED)  # fmt: skip
    return path
