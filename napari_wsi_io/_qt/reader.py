"""The reader napari calls (``napari.yaml``): the core reader (``_reader``), then slicing before the render
(``prerender``) in the viewer that opens the slide, with no plugin dock opened.

Imports no Qt: ``npe2.read`` in a script comes here too and stays Qt-free, and ``prerender`` is imported
only where napari's Qt part already is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from .. import _reader
from .._reader import LayerData

__all__ = ["napari_get_reader"]


def napari_get_reader(path: str | list[str]) -> Callable[[str | list[str]], list[LayerData]] | None:
    """The core ``napari_get_reader``'s reader, followed by installing the pre-render path; None where it is."""
    read = _reader.napari_get_reader(path)
    if read is None:
        return None

    def read_in_viewer(path: str | list[str]) -> list[LayerData]:
        layers = read(path)
        _prerender_in_viewer()
        return layers

    return read_in_viewer


def _prerender_in_viewer() -> None:
    """In napari's GUI, slice before the render in the viewer opening the slide (``prerender``)."""
    if "napari._qt" not in sys.modules:  # a script (npe2.read): no viewer, and no Qt to import
        return
    from .prerender import install_on_current_viewer

    install_on_current_viewer()
