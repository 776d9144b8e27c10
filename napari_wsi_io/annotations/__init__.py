"""QuPath annotations (GeoJSON) over slides: read, placed on the slide in µm, written back in level-0 pixels.

``geojson_read`` and ``geojson_write`` turn files into plain arrays and back, ``placement`` finds the
slide and its pixel frame, ``layers`` makes napari layer data, ``napari_io`` is the npe2 reader and
writer.  No Qt is imported here; the "Load annotations…" menu command is ``_qt.annotations``.
"""

from __future__ import annotations

from .geojson_read import AnnotationReadError, Annotations, read_geojson
from .placement import SlideFrame

__all__ = ["AnnotationReadError", "Annotations", "SlideFrame", "read_geojson"]
