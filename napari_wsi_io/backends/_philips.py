"""Philips TIFF: the DPUfsImport XML in IFD 0 gives each level's pixel spacing; the TIFF pads
every level to whole tiles, so a level's real size is level 0's divided by its downsample.

OpenSlide's rules (openslide-vendor-philips-tiff.c): the tiled IFDs are the levels, level 0
first, the others reduced-resolution images; downsample = round of the mean spacing ratio;
size = level 0's TIFF size / downsample.  Strip IFDs described "Label..." and "Macro..." are
the label and macro, else base64 JPEG streams in the XML (PIM_DP_IMAGE_DATA); mpp is the WSI image's DICOM_PIXEL_SPACING (mm: row, column).
"""

from __future__ import annotations

import base64
import binascii
import math

from .._errors import SlideReadError
from ._jpeg import jpeg_frame
from ._vendor import EmbeddedJpeg, LevelPage, VendorLayout, parse_xml

_SCANNED = "PIM_DP_SCANNED_IMAGES"
_REPRESENTATIONS = "PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE"


def _attr(node, name: str):
    for child in node.findall("Attribute"):
        if child.attrib.get("Name") == name:
            return child
    return None


def _add_properties(props: dict[str, str], nodes, prefix: str) -> None:
    """OpenSlide's philips.* properties: leaf attributes, the WSI image's, the per-level sequence."""
    for node in nodes:
        name = node.attrib.get("Name")
        if not name:
            continue
        if name == _SCANNED:
            wsi = [d for d in node.findall("Array/DataObject") if _image_type(d) == "WSI"]
            if wsi:
                _add_properties(props, wsi[0].findall("Attribute"), prefix)
        elif name == _REPRESENTATIONS:
            for i, obj in enumerate(node.findall("Array/DataObject")):
                _add_properties(props, obj.findall("Attribute"), f"{prefix}.{name}[{i}]")
        elif len(node) == 0:
            props[f"{prefix}.{name}"] = "".join(node.itertext())


def _image_type(obj) -> str | None:
    node = _attr(obj, "PIM_DP_IMAGE_TYPE")
    return node.text.strip() if node is not None and node.text else None


def _spacing(text: str | None, path: str, what: str) -> tuple[float, float]:
    """(x, y) in mm from '"row" "column"'."""
    parts = (text or "").replace('"', " ").split()
    try:
        h, w = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)
    except ValueError:
        h = w = math.nan
    if not (0 < w < math.inf and 0 < h < math.inf):
        raise SlideReadError(path, f"Philips XML: {what} pixel spacing {text!r} is not two positive numbers")
    return w, h


def _embedded(scanned, kind: str) -> EmbeddedJpeg | None:
    """The first LABELIMAGE / MACROIMAGE as a JPEG stream, or None (like OpenSlide, skipped when unreadable)."""
    for obj in scanned.findall("Array/DataObject") if scanned is not None else ():
        if _image_type(obj) == kind:
            node = _attr(obj, "PIM_DP_IMAGE_DATA")
            try:
                data = base64.b64decode("".join(node.itertext()) if node is not None else "")
            except (binascii.Error, ValueError):
                return None
            frame = jpeg_frame(data)
            return EmbeddedJpeg(data, *frame) if frame and frame[2] in (1, 3) else None
    return None


def read_layout(tif, pages: list) -> VendorLayout:
    """Levels: the tiled IFDs, each sized from level 0 by its pixel spacing; label and macro: strips or XML."""
    path = tif.filehandle.path
    root = parse_xml(path, pages[0].description, "Philips XML in ImageDescription")
    if root.tag != "DataObject" or root.attrib.get("ObjectType") != "DPUfsImport":
        raise SlideReadError(path, "Philips XML: the root is not a DPUfsImport DataObject")
    scanned = _attr(root, _SCANNED)
    spacings = _level_spacings(scanned, path)
    level_pages, associated = _tiled_pages(pages, path)
    if len(spacings) != len(level_pages):
        raise SlideReadError(
            path, f"Philips XML: {len(spacings)} level pixel spacings for {len(level_pages)} tiled levels"
        )
    levels = _levels(level_pages, spacings, path)
    for name, kind in (("label", "LABELIMAGE"), ("macro", "MACROIMAGE")):
        if name not in associated and (image := _embedded(scanned, kind)) is not None:
            associated[name] = image
    props: dict[str, str] = {}
    _add_properties(props, root.findall("Attribute"), "philips")
    mpp = None
    if "philips.DICOM_PIXEL_SPACING" in props:
        sx, sy = _spacing(props["philips.DICOM_PIXEL_SPACING"], path, "the image's")
        mpp = (1e3 * sx, 1e3 * sy)
    return VendorLayout(levels, associated, props, mpp)


def _level_spacings(scanned, path: str) -> list:
    """The DICOM_PIXEL_SPACING node of each of the WSI image's pixel data representations (one per level)."""
    wsi = [d for d in scanned.findall("Array/DataObject") if _image_type(d) == "WSI"] if scanned is not None else []
    if len(wsi) != 1:
        raise SlideReadError(path, f"Philips XML: expected one WSI image, found {len(wsi)}")
    return [
        node
        for rep in wsi[0].findall(f"Attribute[@Name='{_REPRESENTATIONS}']/Array/DataObject")
        if rep.attrib.get("ObjectType") == "PixelDataRepresentation"
        for node in [_attr(rep, "DICOM_PIXEL_SPACING")]
        if node is not None
    ]


def _tiled_pages(pages: list, path: str) -> tuple[list, dict]:
    """The tiled IFDs (level 0, then reduced-resolution images, never larger), and the label and macro strips."""
    level_pages, associated = [], {}
    for page in pages:
        desc = page.description or ""
        if page.is_tiled:
            if level_pages:
                last = level_pages[-1]
                if not int(page.subfiletype) & 1:
                    raise SlideReadError(path, f"Philips level {len(level_pages)} is not a reduced-resolution image")
                if page.imagewidth > last.imagewidth or page.imagelength > last.imagelength:
                    raise SlideReadError(path, f"Philips level {len(level_pages)} is larger than the level above")
            level_pages.append(page)
        elif desc.startswith("Label"):
            associated["label"] = page
        elif desc.startswith("Macro"):
            associated["macro"] = page
    if not level_pages:
        raise SlideReadError(path, "no tiled levels in this Philips file")
    return level_pages, associated


def _levels(level_pages: list, spacings: list, path: str) -> list[LevelPage]:
    """Each level at level 0's size divided by its downsample (the round of the mean spacing ratio)."""
    w0, h0 = level_pages[0].imagewidth, level_pages[0].imagelength
    sx0, sy0 = _spacing(spacings[0].text, path, "level 0")
    # Philips leaves blank tiles unstored; they show as white glass (cuCIM's Philips background).
    levels = [LevelPage(level_pages[0], fill=255)]
    for i, (page, node) in enumerate(zip(level_pages[1:], spacings[1:]), 1):
        sx, sy = _spacing(node.text, path, f"level {i}")
        ds = round((sx / sx0 + sy / sy0) / 2)
        if ds < 1:
            raise SlideReadError(path, f"Philips XML: level {i} is finer than level 0")
        # The padding past this size is not image (black tiles' edges).
        levels.append(LevelPage(page, int(w0 / ds), int(h0 / ds), fill=255))
    return levels
