"""An embedded ICC profile to sRGB on 8-bit RGB pixels: Pillow's ImageCms rendering, applied in place.

The transform is built once per profile, like ``ImageCms.buildTransform(profile, sRGB, "RGB", "RGB",
default intent)`` (what napari-wsi and OpenSlide's examples show).  It runs in Little CMS straight on
the NumPy buffer, through the very library Pillow's ``_imagingcms`` is linked to (found through that
module with ctypes; ctypes lets go of the GIL, so reading threads transform in parallel).  Through
Pillow's own ``applyTransform`` the pixels go into a 4-byte-per-pixel image and back: about 2.5x slower
in the runs of ``benchmarks/icc.py``.  That path is left only where the library is not reachable (a
Pillow with Little CMS linked in statically) or where a probe of 4096 colours does not match
Pillow's rendering exactly.
"""

from __future__ import annotations

import ctypes
import functools
import io
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["SrgbTransform", "lcms_library"]

_TYPE_RGB_8 = (4 << 16) | (3 << 3) | 1  # Little CMS: COLORSPACE_SH(PT_RGB) | CHANNELS_SH(3) | BYTES_SH(1)
_PARALLEL_PIXELS = 1 << 22  # above this, one call is split into row bands over the cores (a whole level)
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


@functools.cache
def lcms_library() -> ctypes.CDLL | None:
    """Little CMS as Pillow's ImageCms uses it, or None where its functions cannot be reached."""
    try:
        from PIL import _imagingcms

        lib = ctypes.CDLL(_imagingcms.__file__)  # its own dependencies are searched too
        vp, u32 = ctypes.c_void_p, ctypes.c_uint32
        lib.cmsOpenProfileFromMem.restype, lib.cmsOpenProfileFromMem.argtypes = vp, [ctypes.c_char_p, u32]
        lib.cmsCreate_sRGBProfile.restype, lib.cmsCreate_sRGBProfile.argtypes = vp, []
        lib.cmsCreateTransform.restype = vp
        lib.cmsCreateTransform.argtypes = [vp, u32, vp, u32, u32, u32]
        lib.cmsDoTransformLineStride.restype = None
        lib.cmsDoTransformLineStride.argtypes = [vp, vp, vp, u32, u32, u32, u32, u32, u32]
        lib.cmsDeleteTransform.restype, lib.cmsDeleteTransform.argtypes = None, [vp]
        lib.cmsCloseProfile.restype, lib.cmsCloseProfile.argtypes = ctypes.c_int, [vp]
    except (ImportError, OSError, AttributeError):
        return None
    return lib


def _probe() -> np.ndarray:
    """16 levels per channel, the extremes included: 4096 colours as a 64 x 64 RGB image."""
    v = np.linspace(0, 255, 16).round().astype(np.uint8)
    return np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1).reshape(64, 64, 3)


class SrgbTransform:
    """Pixels rendered from an ICC profile to sRGB.  Raises ValueError for a broken or unsupported profile.

    ``engine="pillow"`` forces ImageCms.applyTransform (the benchmark's comparison).
    """

    def __init__(self, icc: bytes, engine: str = "auto") -> None:
        from PIL import ImageCms

        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            space = profile.profile.xcolor_space.strip()
            self.description = (ImageCms.getProfileDescription(profile) or "").strip()
            self.intent = int(ImageCms.getDefaultIntent(profile))
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
            raise ValueError(f"a damaged ICC profile ({exc})") from None
        if space != "RGB":
            raise ValueError(f"an ICC profile for {space or 'unknown'} pixels, not RGB")
        try:
            self._pillow = ImageCms.buildTransform(profile, ImageCms.createProfile("sRGB"), "RGB", "RGB", self.intent)
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            raise ValueError(f"an ICC profile Little CMS cannot render to sRGB ({exc})") from None
        self._lcms = self._direct(icc) if engine == "auto" else None
        #: "lcms" (Little CMS on the NumPy buffer) or "pillow" (ImageCms.applyTransform).
        self.engine = "lcms" if self._lcms is not None else "pillow"

    def _direct(self, icc: bytes):
        lib = lcms_library()
        if lib is None:
            return None
        source, srgb = lib.cmsOpenProfileFromMem(icc, len(icc)), lib.cmsCreate_sRGBProfile()
        handle = lib.cmsCreateTransform(source, _TYPE_RGB_8, srgb, _TYPE_RGB_8, self.intent, 0) if source else None
        for profile in (source, srgb):
            if profile:
                lib.cmsCloseProfile(profile)
        if not handle:
            return None
        # Not at interpreter exit: a chunk worker may still be transforming while the exit handlers run.
        weakref.finalize(self, lib.cmsDeleteTransform, handle).atexit = False
        probe = _probe()
        if not np.array_equal(self._lcms_apply(handle, probe.copy()), self._pillow_apply(probe)):
            return None
        return handle

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """``pixels`` (height, width, 3) uint8 in sRGB: transformed in place when writable, else a new array."""
        out = pixels if pixels.flags.writeable else pixels.copy()
        h = out.shape[0]
        if out.size // 3 <= _PARALLEL_PIXELS or h < 2:
            return self._apply(out)
        bands = min(os.cpu_count() or 1, h)
        edges = [h * i // bands for i in range(bands + 1)]
        list(_executor().map(lambda i: self._apply(out[edges[i] : edges[i + 1]]), range(bands)))
        return out

    def _apply(self, out: np.ndarray) -> np.ndarray:
        if self._lcms is None:
            out[...] = self._pillow_apply(out)
            return out
        if out.strides[1:] != (3, 1):  # pixels not packed along a row: transform a packed copy
            out[...] = self._lcms_apply(self._lcms, np.ascontiguousarray(out))
            return out
        return self._lcms_apply(self._lcms, out)

    @staticmethod
    def _lcms_apply(handle, out: np.ndarray) -> np.ndarray:
        """In place (Little CMS reads each pixel before writing it); the GIL is released meanwhile."""
        h, w = out.shape[:2]
        if h and w:
            row = out.strides[0]
            lcms_library().cmsDoTransformLineStride(handle, out.ctypes.data, out.ctypes.data, w, h, row, row, 0, 0)
        return out

    def _pillow_apply(self, pixels: np.ndarray) -> np.ndarray:
        from PIL import Image, ImageCms

        h, w = pixels.shape[:2]
        image = Image.frombuffer("RGB", (w, h), np.ascontiguousarray(pixels), "raw", "RGB", 0, 1)
        return np.asarray(ImageCms.applyTransform(image, self._pillow))


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="napari-wsi-io-colour")
        return _pool
