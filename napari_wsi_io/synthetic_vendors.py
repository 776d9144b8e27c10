"""Small slides laid out like scanner vendors' files, built from OpenSlide's public format descriptions.

Each writer makes a tiled JPEG pyramid of a structured test pattern and wraps it the way the
vendor does (where the XML sits, which IFD holds what), so that OpenSlide 4 opens it with the
vendor's driver: tests use OpenSlide as the oracle for levels, mpp, associated images and pixels.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np

__all__ = ["write_bif", "write_philips", "write_scn"]


def vendor_pattern(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Gradients, a grid and blobs: smooth enough for JPEG, distinct enough to catch a misplaced tile."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(x / 97.0), 128 + 100 * np.cos(y / 71.0), (x + y) / (height + width) * 255], -1)
    img[(y.astype(int) % 128 < 6) | (x.astype(int) % 128 < 6)] = (40, 30, 90)
    for cy, cx, r in zip(rng.integers(0, height, 12), rng.integers(0, width, 12), rng.integers(20, 120, 12)):
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.integers(0, 255, 3)
    return img.clip(0, 255).astype(np.uint8)


def _halve(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    return img[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean((1, 3)).astype(np.uint8)


def _pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [img]
    for _ in range(levels - 1):
        out.append(_halve(out[-1]))
    return out


def _jpeg(img: np.ndarray) -> bytes:
    import imagecodecs

    return imagecodecs.jpeg8_encode(img, level=90)


_TILED = {
    "tile": (256, 256),
    "compression": "jpeg",
    "compressionargs": {"level": 90},
    "photometric": "rgb",
    "metadata": None,
}
_STRIPS = {
    "compression": "jpeg",
    "compressionargs": {"level": 90},
    "photometric": "rgb",
    "metadata": None,
    "rowsperstrip": 16,
}


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


def write_scn(
    path: str | os.PathLike, shape: tuple[int, int] = (1500, 2000), levels: int = 3, mpp: float = 0.5, seed: int = 0
) -> Path:
    """Leica SCN: BigTIFF, XML in IFD 0; IFDs 0-1 are the macro (its view covers the whole
    collection), the main image's levels follow, each named by a <dimension ifd=...> element.

    The main image sits 100 um inside the collection, as a scanned region does on a slide.
    """
    import tifffile

    path = Path(path)
    height, width = shape
    main = _pyramid(vendor_pattern(height, width, seed), levels)
    nm = round(mpp * 1000)
    margin = 100_000  # nm
    view_w, view_h = width * nm, height * nm
    coll_w, coll_h = view_w + 2 * margin, view_h + 2 * margin
    macro = _pyramid(vendor_pattern(coll_h // 2000, coll_w // 2000, seed + 1), 2)  # 2 um/px
    dims_macro = "".join(
        f'<dimension sizeX="{m.shape[1]}" sizeY="{m.shape[0]}" r="{i}" ifd="{i}"/>' for i, m in enumerate(macro)
    )
    dims_main = "".join(
        f'<dimension sizeX="{m.shape[1]}" sizeY="{m.shape[0]}" r="{i}" z="0" ifd="{i + 2}"/>'
        for i, m in enumerate(main)
    )

    def image(name, dims, view, objective):
        return (
            f'<image name="{name}" uuid="urn:uuid:{name}"><creationDate>2026-01-02T03:04:05.67Z</creationDate>'
            '<device model="Leica SCN400;Leica SCN" version="1.5.1.10804 2012/05/10 13:29:07;1.5.1.10864"/>'
            f'<pixels sizeX="{dims[0]}" sizeY="{dims[1]}">{dims[2]}</pixels>'
            f'<view sizeX="{view[0]}" sizeY="{view[1]}" offsetX="{view[2]}" offsetY="{view[3]}" spacingZ="0"/>'
            f"<scanSettings><objectiveSettings><objective>{objective}</objective></objectiveSettings>"
            "<illuminationSettings><numericalAperture>0.5</numericalAperture>"
            "<illuminationSource>brightfield</illuminationSource></illuminationSettings></scanSettings></image>"
        )

    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<scn xmlns="http://www.leica-microsystems.com/scn/2010/10/01">'
        f'<collection name="synthetic" uuid="urn:uuid:collection" sizeX="{coll_w}" sizeY="{coll_h}">'
        f"<barcode>{base64.b64encode(b'SYNTH-SCN-1').decode()}</barcode>"
        + image("macro", (macro[0].shape[1], macro[0].shape[0], dims_macro), (coll_w, coll_h, 0, 0), 1.25)
        + image("main", (width, height, dims_main), (view_w, view_h, margin, margin), 20)
        + "</collection></scn>"
    )
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for i, m in enumerate(macro):
            res = 1e4 / 2.0 * (m.shape[1] / macro[0].shape[1])
            tw.write(
                m,
                description=xml if i == 0 else None,
                software="Leica SCN",
                resolution=(res, res),
                resolutionunit="CENTIMETER",
                **_TILED,
            )
        for i, m in enumerate(main):
            res = 1e4 / mpp / 2**i
            tw.write(m, resolution=(res, res), resolutionunit="CENTIMETER", **_TILED)
    return path


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
