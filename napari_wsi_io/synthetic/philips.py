"""Philips TIFF slides."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np

from ._pattern import _STRIPS, _TILED, _jpeg, _pyramid, vendor_pattern


def _sparse_tiles(img: np.ndarray):
    """JPEG tiles of ``img``, empty (not stored) where a whole tile is white."""
    import imagecodecs

    for y in range(0, img.shape[0], 256):
        for x in range(0, img.shape[1], 256):
            tile = np.zeros((256, 256, 3), np.uint8)
            part = img[y : y + 256, x : x + 256]
            tile[: part.shape[0], : part.shape[1]] = part
            yield (
                b""
                if (part == 255).all() and part.shape[:2] == (256, 256)
                else imagecodecs.jpeg8_encode(tile, level=90)
            )


def write_philips(
    path: str | os.PathLike,
    shape: tuple[int, int] = (1500, 2000),
    levels: int = 4,
    mpp: float = 0.25,
    label_in_xml: bool = False,
    sparse: bool = False,
    seed: int = 0,
) -> Path:
    """Philips TIFF: DPUfsImport XML in IFD 0, every level padded to whole 256 px tiles (black),
    its real size and spacing in the XML; label and macro as JPEG strip IFDs ("Label", "Macro"),
    or base64 JPEG inside the XML (PIM_DP_IMAGE_DATA) with ``label_in_xml``.  With ``sparse``
    the top-left 512 px are blank glass and its all-white tiles are not stored (bytecount 0)."""
    import tifffile

    path = Path(path)
    height, width = shape
    pattern = vendor_pattern(height, width, seed)
    if sparse:
        pattern[:512, :512] = 255
    main = _pyramid(pattern, levels)
    spacing = [f"&quot;{mpp * 2**i / 1000:.9g}&quot; &quot;{mpp * 2**i / 1000:.9g}&quot;" for i in range(levels)]
    reps = "".join(
        '<DataObject ObjectType="PixelDataRepresentation">'
        f'<Attribute Name="DICOM_PIXEL_SPACING" Group="0x0028" Element="0x0030" PMSVR="IDoubleArray">{s}</Attribute>'
        f'<Attribute Name="PIIM_DP_PIXEL_DATA_REPRESENTATION_NUMBER" Group="0x101D" Element="0x2001" '
        f'PMSVR="IUInt16">{i}</Attribute></DataObject>'
        for i, s in enumerate(spacing)
    )
    label, macro = vendor_pattern(320, 300, seed + 2), vendor_pattern(400, 1200, seed + 3)

    def associated(kind, img):
        if not label_in_xml:
            return ""
        data = base64.b64encode(_jpeg(img)).decode()
        return (
            '<DataObject ObjectType="DPScannedImage">'
            f'<Attribute Name="PIM_DP_IMAGE_DATA" Group="0x301D" Element="0x1005" PMSVR="IString">{data}</Attribute>'
            f'<Attribute Name="PIM_DP_IMAGE_TYPE" Group="0x301D" Element="0x1004" PMSVR="IString">{kind}</Attribute>'
            "</DataObject>"
        )

    xml = (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<DataObject ObjectType="DPUfsImport">'
        '<Attribute Name="DICOM_MANUFACTURER" Group="0x0008" Element="0x0070" PMSVR="IString">PHILIPS</Attribute>'
        f'<Attribute Name="PIM_DP_UFS_BARCODE" Group="0x301D" Element="0x1002" PMSVR="IString">'
        f"{base64.b64encode(b'SYNTH-PHILIPS-1').decode()}</Attribute>"
        '<Attribute Name="PIM_DP_SCANNED_IMAGES" Group="0x301D" Element="0x1003" PMSVR="IDataObjectArray"><Array>'
        '<DataObject ObjectType="DPScannedImage">'
        '<Attribute Name="DICOM_DERIVATION_DESCRIPTION" Group="0x0008" Element="0x2111" PMSVR="IString">'
        "tiff-useBigTIFF=1-useRgb=0-levels=10003,10002,10000,10001-processing=0-q80-sourceFilename=&quot;s&quot;"
        "</Attribute>"
        f'<Attribute Name="DICOM_PIXEL_SPACING" Group="0x0028" Element="0x0030" PMSVR="IDoubleArray">{spacing[0]}'
        "</Attribute>"
        f'<Attribute Name="PIM_DP_IMAGE_COLUMNS" Group="0x301D" Element="0x1007" PMSVR="IUInt32">{width}</Attribute>'
        f'<Attribute Name="PIM_DP_IMAGE_ROWS" Group="0x301D" Element="0x1006" PMSVR="IUInt32">{height}</Attribute>'
        '<Attribute Name="PIM_DP_IMAGE_TYPE" Group="0x301D" Element="0x1004" PMSVR="IString">WSI</Attribute>'
        '<Attribute Name="PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE" Group="0x1001" Element="0x8b01" '
        f'PMSVR="IDataObjectArray"><Array>{reps}</Array></Attribute></DataObject>'
        + associated("LABELIMAGE", label)
        + associated("MACROIMAGE", macro)
        + "</Array></Attribute></DataObject>"
    )
    software = "Philips DP v1.0"
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for i, m in enumerate(main):
            # Level 0 keeps its size; Philips pads the coarser levels to whole tiles (black).
            if i:
                padded = np.zeros((-(-m.shape[0] // 256) * 256, -(-m.shape[1] // 256) * 256, 3), np.uint8)
                padded[: m.shape[0], : m.shape[1]] = m
                m = padded
            opts = {"description": xml if i == 0 else None, "software": software, "subfiletype": 1 if i else 0}
            if sparse:
                tw.write(_sparse_tiles(m), shape=m.shape, dtype=np.uint8, **opts, **_TILED)
            else:
                tw.write(m, **opts, **_TILED)
        if not label_in_xml:
            tw.write(label, description="Label", software=software, **_STRIPS)
            tw.write(macro, description="Macro", software=software, **_STRIPS)
    return path
