"""Slide access: cuCIM first, tifffile/imagecodecs as the fallback, OpenSlide for what is not TIFF.

``open_slide`` probes the TIFF structure with tifffile (IFDs only), sends the
file to cuCIM when cuCIM reads it correctly and safely, and otherwise to the
fallback.  Formats that are not TIFF (MIRAX, VMS/VMU, DICOM, Sakura) go to
OpenSlide; Zeiss CZI to libCZI (``_czi``).  ``NAPARI_WSI_IO_BACKEND`` forces a backend.  A URL (``https://``,
``s3://``, ...) is read by byte ranges (``_remote``) with the fallback: cuCIM and
OpenSlide read local files only.
"""

from __future__ import annotations

import importlib
import os
import warnings

from .._errors import SlideReadError
from ._base import Slide
from ._colour import COLOUR_ENV_VAR, COLOURS, colour_attributes, colour_metadata, resolve_colour, use_colour
from ._cucim import DEVICES, cucim_plugin, cucim_version, gpu_problem
from ._czi_directory import is_czi_file
from ._openslide import OpenSlideFileSlide, dicom_file, openslide_format
from ._planes import PlanesAsSamples, planes_as_samples
from ._source import is_url, open_source, redact
from ._tiff_layout import TiffLayout, is_tiff_file

__all__ = [
    "BACKENDS",
    "COLOURS",
    "COLOUR_ENV_VAR",
    "DEVICES",
    "PlanesAsSamples",
    "Slide",
    "available_backends",
    "colour_attributes",
    "colour_metadata",
    "cucim_plugin",
    "cucim_version",
    "dicom_file",
    "gpu_problem",
    "is_czi_file",
    "is_tiff_file",
    "is_url",
    "open_slide",
    "openslide_format",
    "planes_as_samples",
    "redact",
]

ENV_VAR = "NAPARI_WSI_IO_BACKEND"
DEVICE_ENV_VAR = "NAPARI_WSI_IO_DEVICE"
BACKENDS = {
    "cucim": ("._cucim", "CucimSlide", "cucim"),
    "tifffile": ("._tifffile", "TifffileSlide", "imagecodecs"),
    "openslide": ("._others", "OpenSlideSlide", "openslide"),
    "tiffslide": ("._others", "TiffslideSlide", "tiffslide"),
    "czi": ("._czi", "CziSlide", "pylibCZIrw"),  # Zeiss CZI only
}
_warned_no_cucim = False


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except Exception:
        return False
    return True


def available_backends() -> list[str]:
    """Backends whose libraries import here, in order of preference."""
    return [name for name, (_, _, needs) in BACKENDS.items() if _importable(needs)]


def _backend_class(name: str) -> type[Slide]:
    module, cls, _ = BACKENDS[name]
    return getattr(importlib.import_module(module, __name__), cls)


def _notice_no_cucim() -> None:
    global _warned_no_cucim
    if not _warned_no_cucim:
        _warned_no_cucim = True
        warnings.warn(
            "cuCIM is not installed; napari-wsi-io reads slides with its tifffile/imagecodecs backend instead. "
            "On Linux, `pip install --no-deps cucim-cu12` adds cuCIM's CPU reader (see the README).",
            RuntimeWarning,
            stacklevel=3,
        )


def _resolve_device(device: str | None) -> str:
    device = device or os.environ.get(DEVICE_ENV_VAR) or "cpu"
    if device not in ("auto", *DEVICES):
        raise ValueError(f"unknown device {device!r}; choose from auto, {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if gpu_problem() is None else "cpu"
    return device


def open_slide(
    path: str | os.PathLike, backend: str | None = None, device: str | None = None, colour: str | None = None
) -> Slide:
    """Open a slide with ``backend``, or the best safe one when None.

    ``device`` ("cpu", "cuda" or "auto"; default ``$NAPARI_WSI_IO_DEVICE`` or
    "cpu") is where cuCIM decodes; reads return NumPy arrays either way.
    ``colour`` ("srgb" or "raw"; default ``$NAPARI_WSI_IO_COLOUR`` or "srgb"):
    with "srgb", a slide that embeds an ICC profile reads in sRGB (``_colour``).
    Raises ``SlideReadError`` ("cannot read <file>: <reason>") for bad files.
    """
    colour = resolve_colour(colour)
    slide = _open(path, backend, device)
    try:
        return use_colour(slide, colour)
    except BaseException:
        slide.close()
        raise


def _open(path: str | os.PathLike, backend: str | None, device: str | None) -> Slide:
    name = backend or os.environ.get(ENV_VAR) or "auto"
    if name != "auto" and name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from auto, {', '.join(BACKENDS)}")
    device = _resolve_device(device)
    if device == "cuda" and name not in ("auto", "cucim"):
        raise ValueError(f"device 'cuda' needs the cucim backend, not {name!r}")
    if is_url(path):
        return _open_remote(path, name)
    if os.path.isdir(path):  # a DICOM series is a folder of files
        path = dicom_file(path) or path
    if is_czi_file(path):
        if name not in ("auto", "czi"):
            raise SlideReadError(path, f"backend {name!r} cannot read CZI files; libCZI (pylibCZIrw) reads them")
        from ._czi import CziSlide

        return CziSlide(path)
    if not is_tiff_file(path) and (fmt := openslide_format(path)):
        if name not in ("auto", "openslide"):
            raise SlideReadError(path, f"backend {name!r} cannot read {fmt} files; OpenSlide reads them")
        slide = OpenSlideFileSlide(path)
        slide.fallback_reason = f"not a TIFF file: OpenSlide reads {fmt} files"
        return slide
    if name == "czi":
        raise SlideReadError(path, "backend 'czi' reads only Zeiss CZI files")
    layout = TiffLayout(path)
    try:
        if name != "auto":
            if not _importable(BACKENDS[name][2]):
                raise SlideReadError(path, f"backend {name!r} is not installed")
            if name == "cucim":
                return _backend_class(name)(path, layout, device=device)
            return _backend_class(name)(path, layout)
        reason = layout.cucim_problem()
        if cucim_version() is None:
            _notice_no_cucim()
            reason = reason or "cuCIM is not installed"
        if reason is None:
            try:
                return _backend_class("cucim")(path, layout, device=device)
            except SlideReadError as exc:
                reason = exc.reason
        slide = _backend_class("tifffile")(path, layout)
        slide.fallback_reason = reason if device == "cpu" else f"{reason} (decoding on the CPU)"
        return slide
    except BaseException:
        layout.close()
        raise


def _open_remote(url: str, name: str) -> Slide:
    """A TIFF-based slide at a URL, read by byte ranges with the tifffile/imagecodecs backend."""
    if name not in ("auto", "tifffile"):
        raise SlideReadError(redact(url), f"backend {name!r} reads local files only; tifffile reads URLs")
    layout = TiffLayout(open_source(url))
    try:
        slide = _backend_class("tifffile")(layout.source, layout)
    except BaseException:
        layout.close()
        raise
    if name == "auto":
        slide.fallback_reason = "cuCIM reads local files only: a URL is read by byte ranges and decoded here"
    return slide
