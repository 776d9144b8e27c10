"""cuCIM backend: the primary, fastest reader of JPEG/LZW/raw tiled RGB slides.

On the CPU cuCIM decodes with libjpeg-turbo; with ``device="cuda"`` (a CUDA GPU
and cupy) it decodes with nvJPEG and hands back GPU memory.  cuCIM has two
image-format plugins: ``cuslide`` (the default, deprecated) and ``cuslide2``
(nvImageCodec, chosen by ``ENABLE_CUSLIDE2=1`` before the first slide opens);
``cucim_plugin()`` says which one this process loaded.
"""

from __future__ import annotations

import math
import os

import numpy as np

from .._errors import SlideReadError
from ._base import Slide
from ._tiff_layout import TiffLayout
from ._tiff_page import APERIO_J2K_YCBCR
from ._tile_decode import TiffTiles

__all__ = ["DEVICES", "CucimSlide", "cucim_plugin", "cucim_version", "gpu_problem"]

DEVICES = ("cpu", "cuda")
_prepared = False


def cucim_version() -> str | None:
    try:
        import cucim
    except Exception:  # missing wheel or broken CUDA libraries alike
        return None
    return getattr(cucim, "__version__", "unknown")


def cucim_plugin() -> str | None:
    """The image-format plugin cuCIM loaded in this process ("cuslide" or "cuslide2"); None before the first slide."""
    try:
        with open("/proc/self/maps") as f:  # cuCIM has Linux wheels only
            maps = f.read()
    except OSError:
        return None
    if "cucim.kit.cuslide2@" in maps:
        return "cuslide2"
    if "cucim.kit.cuslide@" in maps:
        return "cuslide"
    return None


def _prepare_plugins() -> None:
    """Let cuslide2 find nvImageCodec from its pip wheel (it only looks on the library path)."""
    global _prepared
    if _prepared or os.environ.get("ENABLE_CUSLIDE2") != "1":
        return
    _prepared = True
    try:
        import ctypes

        import nvidia.nvimgcodec as nvimgcodec
    except ImportError:  # installed system-wide, or cuslide2 reports what is missing
        return
    root = os.path.dirname(nvimgcodec.__file__)
    library = os.path.join(root, "libnvimgcodec.so.0")
    if os.path.exists(library):
        ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)  # found by soname when cuslide2 loads it
        os.environ.setdefault("NVIMGCODEC_EXTENSIONS_PATH", os.path.join(root, "extensions"))


def gpu_problem() -> str | None:
    """Why ``device="cuda"`` reads are unavailable here, or None when they are available."""
    if cucim_version() is None:
        return "cuCIM is not installed"
    try:
        import cupy
    except Exception as exc:
        return f"cupy is not installed ({type(exc).__name__}: {exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, or a driver too old for this CUDA runtime
        return f"no usable CUDA device ({exc})"
    return None if count > 0 else "no CUDA device"


def _first_tiles_problem(layout: TiffLayout) -> str | None:
    """A level whose JPEG tiles libjpeg reads but cuCIM cannot (colour space, progressive, subsampling)."""
    for tiles in layout.tiles():
        if tiles.jpeg is None:
            continue
        # The first stored tile (Philips may leave tile 0 unstored).
        ty, tx = divmod(int(np.argmin(tiles.missing)), tiles.cols)
        data = tiles.raw(ty, tx)
        if tiles.jpeg.problem(data) is None and (problem := tiles.jpeg.problem(data, turbojpeg=True)):
            return f"level {tiles.level}: {problem}"
    return None


_COLOUR_TOLERANCE = 2  # cuCIM's YCbCr tables differ from OpenSlide's by 1


def _ycbcr_colour_problem(path: str, image, layout: TiffLayout) -> str | None:
    """cuCIM's colours of level 0's first Aperio 33003 tile against the fallback's (OpenSlide's conversion).

    cuCIM converts 33003's YCbCr itself, with its own chroma upsampling, which
    has changed between releases: one tile shows whether this cuCIM agrees.
    """
    tiles = layout.levels[0]
    if tiles.compression != APERIO_J2K_YCBCR or tiles.samples != 3:
        return None
    h, w = min(tiles.tile_height, tiles.height), min(tiles.tile_width, tiles.width)
    # A tile the fallback refuses is refused in cuCIM too (SlideReadError).
    expected = TiffTiles.reading(tiles, layout.source).read_into(np.empty((h, w, 3), np.uint8), 0, 0)
    try:
        got = np.asarray(image.read_region((0, 0), (w, h), 0))
    except Exception as exc:
        return f"level 0, tile (0, 0): cuCIM: {exc}"
    if got.shape != expected.shape or np.abs(got.astype(np.int16) - expected).max() > _COLOUR_TOLERANCE:
        return "cuCIM decodes the JPEG 2000 YCbCr tiles (Aperio 33003) to other colours than OpenSlide"
    return None


def _level0(v: int, downsample: float) -> int:
    # cuCIM maps a level-0 coordinate to floor(v0 / downsample) at the level,
    # so the smallest v0 that lands on v is ceil(v * downsample).
    v0 = math.ceil(v * downsample)
    while math.floor(v0 / downsample) < v:
        v0 += 1
    return v0


class CucimSlide(Slide):
    """A slide read by cuCIM; ``device="cuda"`` decodes on the GPU (reads still return NumPy)."""

    backend = "cucim"
    _turbojpeg = True

    def __init__(self, path: str | os.PathLike, layout: TiffLayout | None = None, device: str = "cpu") -> None:
        if device not in DEVICES:
            raise ValueError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
        if device == "cuda" and (problem := gpu_problem()):
            raise ValueError(f"device 'cuda' is not available: {problem}")
        own_layout = layout is None
        layout = layout or TiffLayout(path)
        # Everything that can refuse the file comes before Slide.__init__, so that a
        # refused layout stays open for the fallback backend.
        try:
            self._image = self._open_checked(layout.path, layout)
        except BaseException:
            if own_layout:
                layout.close()
            raise
        super().__init__(path, layout)
        self.device = device
        #: The cuCIM plugin that reads this slide: "cuslide" or "cuslide2".
        self.plugin = cucim_plugin()
        self._downsamples = self._image.resolutions["level_downsamples"]

    @staticmethod
    def _open_checked(path: str, layout: TiffLayout):
        if layout.source.local_path is None:
            raise SlideReadError(path, "cuCIM reads local files only")
        problem = layout.cucim_problem() or _first_tiles_problem(layout)
        if problem:
            raise SlideReadError(path, f"cuCIM cannot read it safely: {problem}")
        _prepare_plugins()
        from cucim import CuImage

        try:
            image = CuImage(path)
        except Exception as exc:
            raise SlideReadError(path, f"cuCIM: {exc}") from None
        dims = tuple(tuple(d) for d in image.resolutions["level_dimensions"])
        expected = tuple((t.width, t.height) for t in layout.levels)
        if dims != expected:
            raise SlideReadError(path, f"cuCIM sees levels {dims}, the TIFF has {expected}")
        if problem := _ycbcr_colour_problem(path, image, layout):
            raise SlideReadError(path, f"cuCIM cannot read it correctly: {problem}")
        return image

    def __reduce__(self):
        return (type(self), (self.path, None, self.device))

    def cucim_location(self, level: int, x: int, y: int) -> tuple[int, int]:
        """Level-0 location cuCIM maps back to (x, y) at ``level``."""
        ds = self._downsamples[level]
        return _level0(x, ds), _level0(y, ds)

    def read_cucim(
        self, level: int, x: int, y: int, width: int, height: int, num_workers: int = 0, device: str | None = None
    ):
        """Raw cuCIM read (no tile checks): the benchmarks' reference.

        Returns a NumPy array, or a cupy array when ``device="cuda"``.
        """
        device = device or "cpu"
        region = self._image.read_region(
            self.cucim_location(level, x, y), (width, height), level, num_workers=num_workers, device=device
        )
        if device == "cuda":
            import cupy

            return cupy.asarray(region)
        return np.asarray(region)

    def read_level_gpu(self, level: int, x: int, y: int, width: int, height: int, num_workers: int = 0):
        """``read_level`` decoded on the GPU, as a cupy array that stays in GPU memory."""
        if (problem := gpu_problem()) is not None:
            raise ValueError(f"device 'cuda' is not available: {problem}")
        self._check_region(level, x, y, width, height)
        self.tiles[level].check_region(y, x, height, width)
        try:
            return self.read_cucim(level, x, y, width, height, num_workers, device="cuda")
        except Exception as exc:
            raise SlideReadError(self.path, f"level {level}: cuCIM (cuda): {exc}") from None

    def _check_region(self, level: int, x: int, y: int, width: int, height: int) -> None:
        if not 0 <= level < self.level_count:
            raise ValueError(f"level {level} out of range 0..{self.level_count - 1}")
        w, h = self.level_dimensions[level]
        if width < 1 or height < 1 or x < 0 or y < 0 or x + width > w or y + height > h:
            raise ValueError(f"region ({x}, {y}, {width}x{height}) is outside level {level} ({w}x{h})")

    def _read_new(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        # cuCIM returns stale pixels for a corrupt JPEG tile: check the bytes first.
        self.tiles[level].check_region(y, x, height, width)
        try:
            if self.device == "cuda":
                import cupy

                region = cupy.asnumpy(self.read_cucim(level, x, y, width, height, device="cuda"))
            else:
                region = self.read_cucim(level, x, y, width, height)
        except Exception as exc:
            raise SlideReadError(self.path, f"level {level}: cuCIM: {exc}") from None
        # cuCIM's libtiff may read damaged tags differently (RGBA from its slow path).
        if region.shape != (height, width, self.samples) or region.dtype != self.dtype:
            raise SlideReadError(self.path, f"level {level}: cuCIM returned {region.dtype} {region.shape}")
        return region

    def _read(self, level: int, x: int, y: int, out: np.ndarray) -> None:
        out[...] = self._read_new(level, x, y, out.shape[1], out.shape[0])
