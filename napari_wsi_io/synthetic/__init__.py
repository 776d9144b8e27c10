"""Synthetic whole-slide images for the sample data, tests and benchmarks."""

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
