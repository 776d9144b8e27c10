"""What a TIFF holds, read from its IFDs alone (no pixels): the vendor, the levels, the metadata.

Every backend starts here: the layout decides whether cuCIM may see the file
(``_cucim_safety``), supplies the metadata (cuCIM reports no Aperio MPP), and
hands each backend its levels' tiles (``_tile_decode``) bound to the slide's
byte source (``_source``: a local file or a remote object), which the layout owns.  Which IFDs are levels is the
vendor's rule: a vendor module (``_ndpi``, ``_scn``, ``_bif``, ``_philips``; ``_ome`` and ``_qptiff`` for slides
with channels, whose every plane is described here too: ``plane_levels``) or, for generic TIFF, Aperio and RGB
OME-TIFF, the first image and its reductions (``_generic_layout`` below).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
from pathlib import Path

from .._errors import SlideReadError
from ._channels import ChannelLayout, PlaneKey, describe_planes
from ._cucim_safety import find_cucim_problem
from ._source import ByteSource, LocalSource
from ._tiff_level import TiffLevel, describe_level
from ._tile_decode import EmbeddedTiles, TiffTiles
from ._vendor import EmbeddedJpeg, LevelPage, VendorLayout

__all__ = ["TiffLayout", "is_tiff_file"]

_MAX_PAGES = 256
_MAX_CHANNEL_PAGES = 1 << 14  # a slide with channels has a page per channel, plane and level
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_tiff_file(path: str | os.PathLike) -> bool:
    """True when the file starts with a (Big)TIFF header."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in _TIFF_MAGIC
    except OSError:
        return False


def _parse_aperio(description: str) -> dict[str, str]:
    fields = description.split("|")[1:]
    pairs = (f.split("=", 1) for f in fields if "=" in f)
    return {f"aperio.{k.strip()}": v.strip() for k, v in pairs}


def _resolution_mpp(page) -> tuple[float, float] | None:
    unit = page.tags.get("ResolutionUnit")
    um_per_unit = {2: 25400.0, 3: 10000.0}.get(int(unit.value) if unit else 2)
    xres, yres = page.tags.get("XResolution"), page.tags.get("YResolution")
    if um_per_unit is None or xres is None or yres is None:
        return None
    try:
        mpp = tuple(um_per_unit * v[1] / v[0] for v in (xres.value, yres.value))
    except (TypeError, ZeroDivisionError, IndexError):
        return None
    # Writers store 1 or 72 dpi as a placeholder: such values are not a scan resolution.
    return mpp if all(0.01 < m < 1000 for m in mpp) else None


# Vendors whose layout has its own module (OpenSlide's vendor names).
_VENDOR_MODULES: dict[str, str] = {
    "hamamatsu": "._ndpi",
    "leica": "._scn",
    "ventana": "._bif",
    "philips": "._philips",
    "ome": "._ome",  # None for an RGB OME-TIFF: the generic rules
    "qptiff": "._qptiff",  # None for a brightfield QPTIFF: the generic rules
}


def _vendor(tif) -> str:
    for attr, name in (
        ("is_svs", "aperio"),
        ("is_ndpi", "hamamatsu"),
        ("is_scn", "leica"),
        ("is_bif", "ventana"),
        ("is_philips", "philips"),
        ("is_ome", "ome"),
        ("is_qpi", "qptiff"),
    ):
        if getattr(tif, attr, False):
            return name
    # tifffile looks for "</scn>" or "</DataObject>" at the very end (and "Philips DP"): a damaged
    # or unusual vendor XML must not open as a generic TIFF (the macro as the slide, padded levels).
    first = tif.pages.first
    head = (first.description or "")[:1024]
    if "leica-microsystems.com/scn" in head:
        return "leica"
    if (first.software or "").startswith("Philips") and "DPUfsImport" in head:
        return "philips"
    return "generic-tiff"


def _associated_name(page, index: int, vendor: str) -> str:
    text = (page.description or "").lower()
    for name in ("label", "macro", "thumbnail"):
        if re.search(rf"\b{name}\b", text):
            return name
    return "thumbnail" if vendor == "aperio" and index == 1 else f"image{index}"


class _TifffileComplaints(logging.Handler):
    """Collects what tifffile logs about this thread's file while the layout is read."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            self.messages.append(record.getMessage())

    def __enter__(self) -> _TifffileComplaints:
        logging.getLogger("tifffile").addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("tifffile").removeHandler(self)


class TiffLayout:
    """Levels, associated images and metadata of a TIFF slide.

    Everything is read and checked here, once: tifffile parses damaged tags
    lazily and raises any exception type when one is touched, so after this
    nothing reads a tag again.
    """

    def __init__(self, path: str | os.PathLike | ByteSource) -> None:
        """``path``: a local file, or a byte source (``_source.open_source``) the layout then owns and closes."""
        if isinstance(path, ByteSource):
            self.source = path
        else:
            path = os.fspath(path)
            if Path(path).is_dir():
                raise SlideReadError(path, "it is a directory holding no whole-slide DICOM series")
            if not Path(path).is_file():
                raise SlideReadError(path, "no such file")
            self.source = LocalSource(path)
        self.path, self.file_size = self.source.name, self.source.size
        try:
            self._parse()
        except BaseException:
            self.source.close()
            raise

    def _parse(self) -> None:
        import tifffile

        if self.file_size == 0:
            raise SlideReadError(self.path, "the file is empty")
        if self.source.read(0, 4) not in _TIFF_MAGIC:
            raise SlideReadError(self.path, "not a TIFF file (no TIFF header)")
        with _TifffileComplaints() as complaints:
            try:
                self._tif = tifffile.TiffFile(self.source.tiff_file())
            except SlideReadError:  # the network, not the file
                raise
            except Exception as exc:  # tifffile raises many types for damaged headers
                raise SlideReadError(self.path, f"damaged TIFF structure ({exc})") from None
            try:
                self._inspect()
            except BaseException as exc:
                self._tif.close()
                if isinstance(exc, (SlideReadError, MemoryError)) or not isinstance(exc, Exception):
                    raise
                raise SlideReadError(self.path, f"damaged TIFF tags ({type(exc).__name__}: {exc})") from None
        if getattr(self.source, "failure", None) is not None:  # a failed read tifffile logged and went past
            raise self.source.failure
        # A tag tifffile only warns about (in any IFD, associated images too) has crashed cuCIM's open.
        if complaints.messages and self._cucim_problem is None:
            self._cucim_problem = f"tifffile reports damage ({complaints.messages[0]})"

    def _inspect(self) -> None:
        pages = self._main_pages()
        self.vendor = _vendor(self._tif)
        self.uses_subifds = bool(pages[0].subifds)
        module = _VENDOR_MODULES.get(self.vendor)
        layout = importlib.import_module(module, __package__).read_layout(self._tif, pages) if module else None
        layout = layout or self._generic_layout(pages)
        if not layout.levels:
            raise SlideReadError(self.path, f"no pyramid levels found in this {self.vendor} file")
        #: The channels and their planes, for a slide that stores channels; else None.
        self.channels: ChannelLayout | None = layout.channels
        #: Every plane's levels (``_channels.describe_planes``), for a slide that stores channels.
        self.plane_levels: dict[PlaneKey, list[TiffLevel]] = {}
        self.level_pages = [level.page for level in layout.levels]
        if self.channels is not None:
            self.plane_levels = describe_planes(self.source, self.channels)
            self.levels: list[TiffLevel] = self.plane_levels[(self.channels.channels[0].index, 0, 0)]
        else:
            self.levels = [
                describe_level(self.source, level.page, i, level.size, level.fill, level.remap)
                for i, level in enumerate(layout.levels)
            ]
        self.associated_pages = {
            name: p for name, p in layout.associated.items() if p.shape and 0 < p.imagewidth * p.imagelength <= 1 << 26
        }
        self.properties = self._properties()
        self.properties.update(layout.properties)
        self.mpp = layout.mpp or self._mpp()
        # cuCIM refuses a file with several full-resolution IFDs (a label or macro strip among them).
        self._full_resolution_ifds = sum(int(p.subfiletype) == 0 for p in pages)
        self._cucim_problem = find_cucim_problem(
            self.vendor, self.uses_subifds, self._full_resolution_ifds, self.level_pages, self.levels
        )

    def _generic_layout(self, pages: list) -> VendorLayout:
        """Generic TIFF, Aperio SVS and OME-TIFF: the first image and its reductions."""
        level_pages = self._find_levels(pages)
        associated = {_associated_name(p, i, self.vendor): p for i, p in enumerate(pages) if p not in level_pages}
        return VendorLayout([LevelPage(p) for p in level_pages], associated)

    def _main_pages(self) -> list:
        pages, seen = [], set()
        first = self._tif.pages.first
        most = _MAX_CHANNEL_PAGES if first.is_qpi or first.is_ome else _MAX_PAGES
        for page in self._tif.pages:
            # A loop in the IFD chain can hand back the same IFD again: stop there.
            if page is None or len(pages) >= most or page.offset in seen:
                break
            seen.add(page.offset)
            pages.append(page.keyframe if hasattr(page, "keyframe") else page)
        if not pages:
            raise SlideReadError(self.path, "the TIFF has no images")
        return pages

    def _find_levels(self, pages: list) -> list:
        first = pages[0]
        if self.uses_subifds:
            return [level.keyframe for level in self._tif.series[0].levels]
        if not first.is_tiled:
            return [first]
        levels = [first]
        for page in pages[1:]:
            last = levels[-1]
            if (
                page.is_tiled
                and page.samplesperpixel == first.samplesperpixel
                and page.dtype == first.dtype
                and page.imagewidth < last.imagewidth
                and page.imagelength <= last.imagelength
            ):
                levels.append(page)
        return levels

    def close(self) -> None:
        self._tif.close()
        self.source.close()

    def tiles(self, turbojpeg: bool = False) -> list[TiffTiles]:
        """The levels' tiles, read through the byte source; ``turbojpeg`` also refuses JPEG tiles TurboJPEG
        cannot decode."""
        return [TiffTiles.reading(level, self.source, turbojpeg) for level in self.levels]

    def plane_tiles(self, key: PlaneKey) -> list[TiffTiles]:
        """The tiles of one plane's levels (a slide with channels), read through the byte source."""
        return [TiffTiles.reading(level, self.source) for level in self.plane_levels[key]]

    def associated_tiles(self, name: str) -> TiffTiles | EmbeddedTiles:
        """The tiles (strips) of an associated image, checked like a level's."""
        try:
            page = self.associated_pages[name]
            if isinstance(page, EmbeddedJpeg):
                return EmbeddedTiles(self.path, page, name)
            return TiffTiles.reading(describe_level(self.source, page, name), self.source)
        except (SlideReadError, MemoryError, KeyError):
            raise
        except Exception as exc:
            raise SlideReadError(self.path, f"associated image {name!r}: damaged tags ({exc})") from None

    def _properties(self) -> dict[str, str]:
        page = self.level_pages[0]
        props = {}
        for tag in page.tags:
            try:
                if tag.count < 64 and tag.dtype != 7:
                    props[f"tiff.{tag.name}"] = str(tag.value)
            except Exception:  # a damaged tag the pixels do not need: leave it out
                continue
        if self.vendor == "aperio":
            props.update(_parse_aperio(page.description or ""))
        props["napari_wsi_io.vendor"] = self.vendor
        return props

    def _mpp(self) -> tuple[float, float] | None:
        """Microns per pixel (x, y) at level 0, or None when the file does not say."""
        if self.vendor == "aperio":
            try:
                value = float(self.properties["aperio.MPP"])
            except (KeyError, ValueError):
                value = 0.0
            if 0 < value < 1000:
                return (value, value)
        try:
            return _resolution_mpp(self.level_pages[0])
        except Exception:  # damaged resolution tags: the scale is unknown, the pixels are fine
            return None

    def cucim_problem(self) -> str | None:
        """Why cuCIM must not read this file, or None when it can do so safely and correctly."""
        return self._cucim_problem
