"""What a benchmark result was measured on: the machine (cores, CPU, memory, library versions) and the slide."""

from __future__ import annotations

import platform
import sys

from ..backends import Slide, cucim_version
from .job import cores

__all__ = ["machine_info", "slide_info"]


def _library_versions() -> dict:
    versions = {"cucim": cucim_version()}
    for module in ("numpy", "tifffile", "imagecodecs", "zarr", "openslide", "tiffslide"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:
            versions[module] = None
    try:
        import imagecodecs

        versions["libjpeg_turbo"] = imagecodecs.jpeg8_version().split(" ")[-1]
    except Exception:
        versions["libjpeg_turbo"] = None
    try:
        import openslide

        versions["openslide_library"] = openslide.__library_version__
    except Exception:
        versions["openslide_library"] = None
    return versions


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    import psutil

    return {
        "cores": cores(),
        "cpu": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / (1 << 30), 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        **_library_versions(),
    }


def slide_info(slide: Slide) -> dict:
    return {
        "path": slide.path,
        "vendor": slide.vendor,
        "backend": slide.backend,
        "fallback_reason": slide.fallback_reason,
        "level_dimensions": [list(d) for d in slide.level_dimensions],
        "level_tile_sizes": [list(t) for t in slide.level_tile_sizes],
        "level_downsamples": list(slide.level_downsamples),
        "mpp": list(slide.mpp) if slide.mpp else None,
        "compression": [t.compression for t in slide.tiles],
        "file_size": slide.file_size,
    }
