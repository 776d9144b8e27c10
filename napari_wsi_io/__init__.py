"""napari-wsi-io: whole-slide images in napari, read with cuCIM, and how fast they load.

Importing the package imports no Qt; the widgets live in ``napari_wsi_io._qt``.
"""

from __future__ import annotations

from ._cache import cache_info, set_cache_size
from ._errors import SlideReadError
from .backends import open_slide
from .pyramid import pyramid

__version__ = "0.1.0"
__all__ = ["SlideReadError", "__version__", "cache_info", "open_slide", "pyramid", "set_cache_size"]
