"""Leica SCN slides."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np

from ._pattern import TILED, level_resolution, vendor_pattern
from ._pyramid import pyramid

_MARGIN_NM = 100_000  # the main image's offset inside the collection
_MACRO_NM = 2000  # the macro's pixel size


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
    main = pyramid(vendor_pattern(height, width, seed), levels)
    nm = round(mpp * 1000)
    view_w, view_h = width * nm, height * nm
    coll_w, coll_h = view_w + 2 * _MARGIN_NM, view_h + 2 * _MARGIN_NM
    macro = pyramid(vendor_pattern(coll_h // _MACRO_NM, coll_w // _MACRO_NM, seed + 1), 2)
    images = _image_xml("macro", macro, 0, (coll_w, coll_h, 0, 0), 1.25, focal_plane=False) + _image_xml(
        "main", main, len(macro), (view_w, view_h, _MARGIN_NM, _MARGIN_NM), 20, focal_plane=True
    )
    xml = _collection_xml(coll_w, coll_h, images)
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for i, m in enumerate(macro):
            res = 1e4 / 2.0 * (m.shape[1] / macro[0].shape[1])
            tw.write(
                m,
                description=xml if i == 0 else None,
                software="Leica SCN",
                resolution=(res, res),
                resolutionunit="CENTIMETER",
                **TILED,
            )
        for i, m in enumerate(main):
            tw.write(m, **level_resolution(mpp, i), **TILED)
    return path


def _collection_xml(width_nm: int, height_nm: int, images: str) -> str:
    """The SCN document: one collection of ``width_nm`` x ``height_nm`` holding ``images``."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<scn xmlns="http://www.leica-microsystems.com/scn/2010/10/01">'
        f'<collection name="synthetic" uuid="urn:uuid:collection" sizeX="{width_nm}" sizeY="{height_nm}">'
        f"<barcode>{base64.b64encode(b'SYNTH-SCN-1').decode()}</barcode>" + images + "</collection></scn>"
    )


def _image_xml(
    name: str,
    levels: list[np.ndarray],
    first_ifd: int,
    view: tuple[int, int, int, int],
    objective: float,
    *,
    focal_plane: bool,
) -> str:
    """One <image>: its levels stored from IFD ``first_ifd`` on (each naming focal plane 0 with
    ``focal_plane``), and where it lies in the collection (nm: width, height, x, y)."""
    z = ' z="0"' if focal_plane else ""
    dims = "".join(
        f'<dimension sizeX="{m.shape[1]}" sizeY="{m.shape[0]}" r="{i}"{z} ifd="{i + first_ifd}"/>'
        for i, m in enumerate(levels)
    )
    return (
        f'<image name="{name}" uuid="urn:uuid:{name}"><creationDate>2026-01-02T03:04:05.67Z</creationDate>'
        '<device model="Leica SCN400;Leica SCN" version="1.5.1.10804 2012/05/10 13:29:07;1.5.1.10864"/>'
        f'<pixels sizeX="{levels[0].shape[1]}" sizeY="{levels[0].shape[0]}">{dims}</pixels>'
        f'<view sizeX="{view[0]}" sizeY="{view[1]}" offsetX="{view[2]}" offsetY="{view[3]}" spacingZ="0"/>'
        f"<scanSettings><objectiveSettings><objective>{objective}</objective></objectiveSettings>"
        "<illuminationSettings><numericalAperture>0.5</numericalAperture>"
        "<illuminationSource>brightfield</illuminationSource></illuminationSettings></scanSettings></image>"
    )
