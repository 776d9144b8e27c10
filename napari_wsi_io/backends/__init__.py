"""Slide access: cuCIM first, tifffile/imagecodecs as the fallback.

``open_slide`` probes the TIFF structure with tifffile (IFDs only), sends the
file to cuCIM when cuCIM reads it correctly and safely, and otherwise to the
fallback.  ``NAPARI_WSI_IO_BACKEND`` forces a backend.
"""

from __future__ import annotations

import importlib
import os
import warnings

from .._errors import SlideReadError
from ._base import Slide
from ._cucim import cucim_version
from ._tiff import TiffLayout, is_tiff_file

__all__ = ["BACKENDS", "Slide", "available_backends", "cucim_version", "is_tiff_file", "open_slide"]

ENV_VAR = "NAPARI_WSI_IO_BACKEND"
BACKENDS = {
    "cucim": ("._cucim", "CucimSlide", "cucim"),
    "tifffile": ("._tifffile", "TifffileSlide", "imagecodecs"),
    "openslide": ("._others", "OpenSlideSlide", "openslide"),
    "tiffslide": ("._others", "TiffslideSlide", "tiffslide"),
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
            "cuCIM is not installed (it has wheels for Linux only); napari-wsi-io reads slides "
            "with its tifffile/imagecodecs backend instead.",
            RuntimeWarning,
            stacklevel=3,
        )


def open_slide(path: str | os.PathLike, backend: str | None = None) -> Slide:
    """Open a slide with ``backend``, or the best safe one when None.

    Raises ``SlideReadError`` ("cannot read <file>: <reason>") for bad files.
    """
    name = backend or os.environ.get(ENV_VAR) or "auto"
    if name != "auto" and name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from auto, {', '.join(BACKENDS)}")
    layout = TiffLayout(path)
    try:
        if name != "auto":
            if not _importable(BACKENDS[name][2]):
                raise SlideReadError(path, f"backend {name!r} is not installed")
            return _backend_class(name)(path, layout)
        reason = layout.cucim_problem()
        if reason is None and cucim_version() is None:
            _notice_no_cucim()
            reason = "cuCIM is not installed"
        if reason is None:
            try:
                return _backend_class("cucim")(path, layout)
            except SlideReadError as exc:
                reason = exc.reason
        slide = _backend_class("tifffile")(path, layout)
        slide.fallback_reason = reason
        return slide
    except BaseException:
        layout.close()
        raise
