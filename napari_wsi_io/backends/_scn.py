"""Leica SCN: the collection XML in IFD 0 names, per image, the IFD of every pyramid level.

OpenSlide's rules (openslide-vendor-leica.c): an image whose view covers the whole collection
is the macro; the main image is the brightfield image that is not; its levels are its
``<dimension>`` elements of z-plane 0, widest first.  OpenSlide draws the main image inside
the collection's extent (empty margins around it); here the levels are the main image itself,
which is OpenSlide's ``openslide.bounds-*`` rectangle, given in the properties.
"""

from __future__ import annotations

import base64
import binascii

from .._errors import SlideReadError
from ._vendor import LevelPage, VendorLayout, parse_xml

_NAMESPACES = ("http://www.leica-microsystems.com/scn/2010/03/10", "http://www.leica-microsystems.com/scn/2010/10/01")


def _int(node, name: str, path: str) -> int:
    try:
        return int(node.attrib[name])
    except (KeyError, ValueError):
        raise SlideReadError(path, f"Leica XML: <{node.tag.split('}')[-1]}> has no integer {name!r}") from None


def _text(node, path: str) -> str | None:
    found = node.find(path)
    return found.text.strip() if found is not None and found.text else None


def read_layout(tif, pages: list) -> VendorLayout:
    """Levels: the main image's z = 0 dimensions, widest first; macro: the image whose view is the collection."""
    path = tif.filehandle.path
    root = parse_xml(path, pages[0].description, "Leica XML in ImageDescription")
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    if ns not in _NAMESPACES or root.tag != f"{{{ns}}}scn":
        raise SlideReadError(path, "Leica XML: the root is not <scn> in a Leica namespace")
    q = f"{{{ns}}}"
    collection = root.find(f"{q}collection")
    if collection is None:
        raise SlideReadError(path, "Leica XML: no <collection>")
    mains, macros = _brightfield_images(collection, q, path)
    if not mains:
        raise SlideReadError(path, "Leica XML: no brightfield main image")
    if len(mains) > 1:
        raise SlideReadError(
            path, f"{len(mains)} main images (scanned regions): only single-region slides are supported"
        )
    image, view, dims = mains[0]
    if not dims:
        raise SlideReadError(path, "Leica XML: the main image has no <dimension>")
    levels = _levels(pages, dims, path)
    width, height = dims[0][1], dims[0][2]
    if width < 1 or height < 1 or view[0] < 1 or view[1] < 1:
        raise SlideReadError(path, "Leica XML: the main image has no size")
    mpp = (view[0] / width / 1000, view[1] / height / 1000)
    associated = {"macro": _page(pages, macros[0][2][0][0], "the macro", path)} if macros and macros[0][2] else {}
    props = _properties(collection, image, q)
    # Where the main image lies in the collection, in level-0 pixels (OpenSlide's bounds).
    props["openslide.bounds-x"] = str(int(view[2] / (view[0] / width)))
    props["openslide.bounds-y"] = str(int(view[3] / (view[0] / width)))
    props["openslide.bounds-width"], props["openslide.bounds-height"] = str(width), str(height)
    return VendorLayout(levels, associated, props, mpp)


def _brightfield_images(collection, q: str, path: str) -> tuple[list, list]:
    """The brightfield (image, view, dims) of the collection: main images, and macros (a view of all of it).

    ``view`` is (sizeX, sizeY, offsetX, offsetY) in nm; ``dims`` the (ifd, sizeX, sizeY) of z-plane 0, widest first.
    """
    coll_w, coll_h = _int(collection, "sizeX", path), _int(collection, "sizeY", path)
    mains, macros = [], []
    for image in collection.findall(f"{q}image"):
        view = image.find(f"{q}view")
        if view is None:
            raise SlideReadError(path, "Leica XML: an <image> has no <view>")
        nm = [_int(view, a, path) for a in ("sizeX", "sizeY", "offsetX", "offsetY")]
        dims = []
        for dim in image.findall(f"{q}pixels/{q}dimension"):
            if dim.attrib.get("z", "0") != "0":  # other focal planes: OpenSlide shows z = 0
                continue
            dims.append(tuple(_int(dim, a, path) for a in ("ifd", "sizeX", "sizeY")))
        dims.sort(key=lambda d: -d[1])
        is_macro = nm[2] == 0 and nm[3] == 0 and nm[0] == coll_w and nm[1] == coll_h
        if _text(image, f"{q}scanSettings/{q}illuminationSettings/{q}illuminationSource") != "brightfield":
            continue  # OpenSlide only shows brightfield images
        (macros if is_macro else mains).append((image, nm, dims))
    return mains, macros


def _page(pages: list, ifd: int, what: str, path: str):
    if not 0 <= ifd < len(pages):
        raise SlideReadError(path, f"Leica XML: {what} is in IFD {ifd}, the file has {len(pages)}")
    return pages[ifd]


def _levels(pages: list, dims: list, path: str) -> list[LevelPage]:
    levels = []
    for i, (ifd, w, h) in enumerate(dims):
        p = _page(pages, ifd, f"level {i}", path)
        if (p.imagewidth, p.imagelength) != (w, h):
            raise SlideReadError(
                path, f"Leica XML: level {i} is {w}x{h}, its IFD {ifd} is {p.imagewidth}x{p.imagelength}"
            )
        levels.append(LevelPage(p))
    return levels


def _properties(collection, image, q: str) -> dict[str, str]:
    """OpenSlide's leica.* properties: the barcode, the device and the scan settings."""
    props = {}
    barcode = _text(collection, f"{q}barcode")
    if barcode:
        try:
            props["leica.barcode"] = base64.b64decode(barcode, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            props["leica.barcode"] = barcode
    elif "barcode" in collection.attrib:
        props["leica.barcode"] = collection.attrib["barcode"]
    device = image.find(f"{q}device")
    for name, value in (
        ("aperture", _text(image, f"{q}scanSettings/{q}illuminationSettings/{q}numericalAperture")),
        ("creation-date", _text(image, f"{q}creationDate")),
        ("device-model", device.attrib.get("model") if device is not None else None),
        ("device-version", device.attrib.get("version") if device is not None else None),
        ("illumination-source", "brightfield"),
        ("objective", _text(image, f"{q}scanSettings/{q}objectiveSettings/{q}objective")),
    ):
        if value:
            props[f"leica.{name}"] = value
    return props
