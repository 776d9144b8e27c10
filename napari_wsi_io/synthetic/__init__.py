"""Synthetic whole-slide images for the sample data, tests and benchmarks, written in seconds.

Writers, one module per layout (each returns the path it wrote):

- ``generic``: ``write_synthetic_slide``, a tissue-like JPEG-tiled pyramidal TIFF, or with
  ``aperio=True`` an Aperio SVS; ``sample_slide_path``, the sample slide in the user cache.
- ``aperio``: ``write_aperio_j2k``, an SVS with JPEG 2000 tiles, and the SVS pages both SVS share.
- ``ndpi``: ``write_ndpi``, Hamamatsu NDPI (one JPEG strip with restart markers per level).
- ``scn``, ``bif``, ``philips``: ``write_scn``, ``write_bif``, ``write_philips`` (Leica, Ventana, Philips TIFF).
- ``czi``: ``write_czi_brightfield``, ``write_czi_fluorescence`` (Zeiss CZI, written by pylibCZIrw);
  ``czi_jpegxr``: ``with_jpegxr_subblocks``, a copy whose subblocks are JPEG XR, as Zeiss's scanners store them.
- ``icc``: ICC profiles made from numbers (``adobe_rgb_profile``) and ``with_icc_profile``, a copy of a slide
  that embeds one (TIFF tag or Philips XML).

Shared pieces: ``_tissue`` (what the tissue looks like), ``_tiles`` (pools of pre-encoded tiles
that make gigapixel levels cheap), ``_pyramid`` (level sizes, 2 x 2 means) and ``_pattern`` (the
test pattern of the SCN, BIF and Philips files).  The same arguments always write the same bytes.
"""

from .aperio import aperio_j2k_image, aperio_j2k_levels, encode_aperio_j2k_tile, rgb_to_ycbcr, write_aperio_j2k
from .bif import write_bif
from .generic import GIGAPIXEL_SHAPE, SMALL_SHAPE, sample_slide_path, write_synthetic_slide
from .generic import _cache_dir as _cache_dir  # the benchmarks keep their slides next to the sample
from .ndpi import write_ndpi
from .philips import write_philips
from .scn import write_scn

__all__ = [
    "GIGAPIXEL_SHAPE",
    "SMALL_SHAPE",
    "aperio_j2k_image",
    "aperio_j2k_levels",
    "encode_aperio_j2k_tile",
    "rgb_to_ycbcr",
    "sample_slide_path",
    "write_aperio_j2k",
    "write_bif",
    "write_ndpi",
    "write_philips",
    "write_scn",
    "write_synthetic_slide",
]
