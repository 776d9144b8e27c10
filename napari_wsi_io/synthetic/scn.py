"""Leica SCN slides."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from ._pattern import _TILED, _pyramid, vendor_pattern


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
