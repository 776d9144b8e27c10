"""ICC profiles and profiled slides for tests and benchmarks, made without network or profile files.

``matrix_trc_profile`` writes a minimal ICC v2 display profile (header, desc, wtpt, rXYZ/gXYZ/bXYZ,
rTRC/gTRC/bTRC): what scanners embed (Aperio GT450: Adobe RGB (1998)).  ``with_icc_profile`` copies a
tiled TIFF slide with a profile in tag 34675 of its first page (or Philips XML), tiles copied as stored.
"""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

import numpy as np

__all__ = ["ADOBE_RGB", "adobe_rgb_profile", "matrix_trc_profile", "with_icc_profile"]

_D50 = (0.9642, 1.0, 0.8249)  # the profile connection space's illuminant
#: Adobe RGB (1998) as its own profile states it: D50-adapted colorants, D65 white, gamma 563/256.
ADOBE_RGB = {
    "red": (0.60974, 0.31111, 0.01947),
    "green": (0.20528, 0.62567, 0.06087),
    "blue": (0.14919, 0.06322, 0.74457),
    "white": (0.95045, 1.0, 1.08905),
    "gamma": 563 / 256,
}


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    # ASCII part, then empty Unicode and ScriptCode parts (ICC.1:2001-04, textDescriptionType).
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + struct.pack(">II", 0, 0) + b"\0\0\0" + b"\0" * 67


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def matrix_trc_profile(
    red: tuple[float, float, float],
    green: tuple[float, float, float],
    blue: tuple[float, float, float],
    white: tuple[float, float, float],
    gamma: float,
    description: str = "napari-wsi-io test profile",
    intent: int = 0,
) -> bytes:
    """The bytes of an ICC v2 RGB display profile: colorants (XYZ, D50-adapted), white point, one gamma."""
    curve = _curve(gamma)
    tags = [
        (b"desc", _desc(description)),
        (b"wtpt", _xyz(white)),
        (b"rXYZ", _xyz(red)),
        (b"gXYZ", _xyz(green)),
        (b"bXYZ", _xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += _pad(data)
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"none"  # preferred CMM
        + bytes([2, 0x10, 0, 0])  # version 2.1
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 24  # platform, flags, manufacturer, model, attributes
        + struct.pack(">I", intent)
        + b"".join(_s15(v) for v in _D50)
        + b"\0" * 48  # creator, profile ID, reserved
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def adobe_rgb_profile() -> bytes:
    """A profile with Adobe RGB (1998)'s colorants, white and gamma."""
    return matrix_trc_profile(**ADOBE_RGB, description="Adobe RGB (1998) compatible (napari-wsi-io)")


_PHILIPS_WSI = '<Attribute Name="PIM_DP_IMAGE_TYPE" Group="0x301D" Element="0x1004" PMSVR="IString">WSI</Attribute>'


def with_icc_profile(src: str | os.PathLike, dst: str | os.PathLike, icc: bytes, place: str = "tag") -> Path:
    """Copy the TIFF slide ``src`` to ``dst`` with ``icc`` in tag 34675 of its first page, or with
    ``place="philips-xml"`` in the Philips XML of a ``write_philips`` slide (DICOM_ICCPROFILE, base64).

    Tiled pages keep their encoded tiles; other pages (label, macro) are decoded and written again
    with their compression.  Descriptions, software, subfile types and resolutions are kept.
    """
    import tifffile

    if place not in ("tag", "philips-xml"):
        raise ValueError(f"unknown place {place!r}")
    dst = Path(dst)
    with tifffile.TiffFile(src) as tif, tifffile.TiffWriter(dst, bigtiff=tif.is_bigtiff) as tw:
        for i, page in enumerate(tif.pages):
            description = page.description or None
            if i == 0 and place == "philips-xml":
                description = _philips_xml_with(description or "", icc)
            opts = {
                "photometric": page.photometric,
                "compression": page.compression,
                "subfiletype": int(page.subfiletype),
                "description": description,
                "software": page.software or None,
                "metadata": None,
                "extratags": [(34675, 7, len(icc), icc, True)] if i == 0 and place == "tag" else [],
            }
            if page.tags.get(296) is not None and page.tags.get(282) is not None:
                opts["resolution"] = (page.tags[282].value, page.tags[283].value)
                opts["resolutionunit"] = page.tags[296].value
            if page.is_tiled and page.compression == 7 and 347 not in page.tags:
                tw.write(
                    _stored_tiles(tif.filehandle, page),
                    shape=page.shape,
                    dtype=page.dtype,
                    tile=(page.tilelength, page.tilewidth),
                    **opts,
                )
            else:
                tile = (page.tilelength, page.tilewidth) if page.is_tiled else None
                tw.write(np.asarray(page.asarray()), tile=tile, **opts)
    return dst


def _philips_xml_with(xml: str, icc: bytes) -> str:
    if _PHILIPS_WSI not in xml:
        raise ValueError("not the XML of a write_philips slide")
    data = base64.b64encode(icc).decode("ascii")
    attribute = f'<Attribute Name="DICOM_ICCPROFILE" Group="0x0028" Element="0x2000" PMSVR="IString">{data}</Attribute>'
    return xml.replace(_PHILIPS_WSI, _PHILIPS_WSI + attribute, 1)


def _stored_tiles(fh, page):
    for offset, count in zip(page.dataoffsets, page.databytecounts):
        fh.seek(offset)
        yield fh.read(count)
