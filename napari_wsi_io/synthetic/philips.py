"""Philips TIFF slides."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ._pattern import STRIPS, TILED, vendor_pattern
from ._pyramid import pyramid
from ._tiles import encode_jpeg

_SOFTWARE = "Philips DP v1.0"


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
    pattern = vendor_pattern(*shape, seed)
    if sparse:
        pattern[:512, :512] = 255
    label, macro = vendor_pattern(320, 300, seed + 2), vendor_pattern(400, 1200, seed + 3)
    embedded = [("LABELIMAGE", label), ("MACROIMAGE", macro)] if label_in_xml else []
    xml = _philips_xml(shape, mpp, levels, embedded)
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for i, m in enumerate(pyramid(pattern, levels)):
            # Level 0 keeps its size; Philips pads the coarser levels to whole tiles (black).
            m = _padded_to_tiles(m) if i else m
            opts = {"description": xml if i == 0 else None, "software": _SOFTWARE, "subfiletype": 1 if i else 0}
            if sparse:
                tw.write(_sparse_tiles(m), shape=m.shape, dtype=np.uint8, **opts, **TILED)
            else:
                tw.write(m, **opts, **TILED)
        if not label_in_xml:
            tw.write(label, description="Label", software=_SOFTWARE, **STRIPS)
            tw.write(macro, description="Macro", software=_SOFTWARE, **STRIPS)
    return path


def _padded_to_tiles(img: np.ndarray) -> np.ndarray:
    """``img`` in the top-left corner of black whole 256 px tiles."""
    padded = np.zeros((-(-img.shape[0] // 256) * 256, -(-img.shape[1] // 256) * 256, 3), np.uint8)
    padded[: img.shape[0], : img.shape[1]] = img
    return padded


def _sparse_tiles(img: np.ndarray) -> Iterator[bytes]:
    """JPEG tiles of ``img``, empty (not stored) where a whole tile is white."""
    for y in range(0, img.shape[0], 256):
        for x in range(0, img.shape[1], 256):
            tile = np.zeros((256, 256, 3), np.uint8)
            part = img[y : y + 256, x : x + 256]
            tile[: part.shape[0], : part.shape[1]] = part
            yield b"" if (part == 255).all() and part.shape[:2] == (256, 256) else encode_jpeg(tile, 90)


def _attribute(name: str, group: str, element: str, vr: str, value: object) -> str:
    """One <Attribute>: a DICOM-style tag (group, element) with Philips' value type (PMSVR)."""
    return f'<Attribute Name="{name}" Group="{group}" Element="{element}" PMSVR="{vr}">{value}</Attribute>'


def _philips_xml(shape: tuple[int, int], mpp: float, levels: int, embedded: list[tuple[str, np.ndarray]]) -> str:
    """The DPUfsImport document: barcode, the WSI's size and per-level pixel spacing (mm), and the
    ``embedded`` (type, image) label and macro."""
    height, width = shape
    spacing = [f"&quot;{mpp * 2**i / 1000:.9g}&quot; &quot;{mpp * 2**i / 1000:.9g}&quot;" for i in range(levels)]
    barcode = base64.b64encode(b"SYNTH-PHILIPS-1").decode()
    derivation = (
        "tiff-useBigTIFF=1-useRgb=0-levels=10003,10002,10000,10001-processing=0-q80-sourceFilename=&quot;s&quot;"
    )
    wsi = (
        '<DataObject ObjectType="DPScannedImage">'
        + _attribute("DICOM_DERIVATION_DESCRIPTION", "0x0008", "0x2111", "IString", derivation)
        + _attribute("DICOM_PIXEL_SPACING", "0x0028", "0x0030", "IDoubleArray", spacing[0])
        + _attribute("PIM_DP_IMAGE_COLUMNS", "0x301D", "0x1007", "IUInt32", width)
        + _attribute("PIM_DP_IMAGE_ROWS", "0x301D", "0x1006", "IUInt32", height)
        + _attribute("PIM_DP_IMAGE_TYPE", "0x301D", "0x1004", "IString", "WSI")
        + _attribute(
            "PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE",
            "0x1001",
            "0x8b01",
            "IDataObjectArray",
            f"<Array>{''.join(_representation_xml(i, s) for i, s in enumerate(spacing))}</Array>",
        )
        + "</DataObject>"
    )
    images = wsi + "".join(_embedded_image_xml(kind, img) for kind, img in embedded)
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<DataObject ObjectType="DPUfsImport">'
        + _attribute("DICOM_MANUFACTURER", "0x0008", "0x0070", "IString", "PHILIPS")
        + _attribute("PIM_DP_UFS_BARCODE", "0x301D", "0x1002", "IString", barcode)
        + _attribute("PIM_DP_SCANNED_IMAGES", "0x301D", "0x1003", "IDataObjectArray", f"<Array>{images}</Array>")
        + "</DataObject>"
    )


def _representation_xml(level: int, spacing: str) -> str:
    """One level's PixelDataRepresentation: its number and pixel spacing."""
    return (
        '<DataObject ObjectType="PixelDataRepresentation">'
        + _attribute("DICOM_PIXEL_SPACING", "0x0028", "0x0030", "IDoubleArray", spacing)
        + _attribute("PIIM_DP_PIXEL_DATA_REPRESENTATION_NUMBER", "0x101D", "0x2001", "IUInt16", level)
        + "</DataObject>"
    )


def _embedded_image_xml(kind: str, img: np.ndarray) -> str:
    """A label or macro stored in the XML as base64 JPEG."""
    return (
        '<DataObject ObjectType="DPScannedImage">'
        + _attribute(
            "PIM_DP_IMAGE_DATA", "0x301D", "0x1005", "IString", base64.b64encode(encode_jpeg(img, 90)).decode()
        )
        + _attribute("PIM_DP_IMAGE_TYPE", "0x301D", "0x1004", "IString", kind)
        + "</DataObject>"
    )
