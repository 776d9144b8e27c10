"""Lossless JPEG 2000 codestreams with subsampled components, for the synthetic Aperio 33003 files.

imagecodecs' ``jpeg2k_encode`` gives every component the image's full size, but
Aperio 33003 stores Cb and Cr at half width (SIZ dx=2).  OpenJPEG itself takes a
per-component sampling in ``opj_image_create``; its library ships inside
Pillow's wheels (napari needs Pillow), so it is called here through ctypes.
Test and benchmark files only: the reader never encodes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import tempfile
from collections.abc import Sequence

import numpy as np

__all__ = ["encode_j2k"]

_U32 = ctypes.c_uint32
_OPJ_CODEC_J2K = 0
_OPJ_CLRSPC_UNSPECIFIED = 1
# opj_cparameters_t is ~20 kB in OpenJPEG 2.x; only OpenJPEG reads or writes it.
_CPARAMETERS_BYTES = 1 << 18


class _ComponentParameters(ctypes.Structure):  # opj_image_cmptparm_t
    _fields_ = [(name, _U32) for name in ("dx", "dy", "w", "h", "x0", "y0", "prec", "bpp", "sgnd")]


class _Component(ctypes.Structure):  # opj_image_comp_t
    _fields_ = [
        *((name, _U32) for name in ("dx", "dy", "w", "h", "x0", "y0", "prec", "bpp", "sgnd", "resno", "factor")),
        ("data", ctypes.POINTER(ctypes.c_int32)),
        ("alpha", ctypes.c_uint16),
    ]


class _Image(ctypes.Structure):  # opj_image_t
    _fields_ = [
        *((name, _U32) for name in ("x0", "y0", "x1", "y1", "numcomps")),
        ("color_space", ctypes.c_int),
        ("comps", ctypes.POINTER(_Component)),
        ("icc_profile_buf", ctypes.c_void_p),
        ("icc_profile_len", _U32),
    ]


def _library_candidates() -> list[str]:
    found = []
    try:
        import PIL

        root = os.path.dirname(PIL.__file__)
        for pattern in ("../pillow.libs/libopenjp2*", ".dylibs/libopenjp2*", "../Pillow.libs/libopenjp2*"):
            found += sorted(glob.glob(os.path.join(root, pattern)))
    except ImportError:
        pass
    system = ctypes.util.find_library("openjp2")
    return [*found, *([system] if system else [])]


_lib = None


def _openjpeg() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    for candidate in _library_candidates():
        try:
            lib = ctypes.CDLL(candidate)
            break
        except OSError:
            continue
    else:
        raise RuntimeError("OpenJPEG (libopenjp2) not found: install Pillow or the system's openjpeg library")
    lib.opj_image_create.restype = ctypes.POINTER(_Image)
    lib.opj_image_create.argtypes = [_U32, ctypes.POINTER(_ComponentParameters), ctypes.c_int]
    lib.opj_image_destroy.argtypes = [ctypes.POINTER(_Image)]
    lib.opj_set_default_encoder_parameters.argtypes = [ctypes.c_void_p]
    lib.opj_create_compress.restype = ctypes.c_void_p
    lib.opj_create_compress.argtypes = [ctypes.c_int]
    lib.opj_setup_encoder.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(_Image)]
    lib.opj_stream_create_default_file_stream.restype = ctypes.c_void_p
    lib.opj_stream_create_default_file_stream.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.opj_start_compress.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Image), ctypes.c_void_p]
    for name in ("opj_encode", "opj_end_compress"):
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.opj_stream_destroy.argtypes = [ctypes.c_void_p]
    lib.opj_destroy_codec.argtypes = [ctypes.c_void_p]
    _lib = lib
    return lib


def encode_j2k(planes: Sequence[np.ndarray], sampling: Sequence[tuple[int, int]]) -> bytes:
    """A lossless single-tile J2K codestream of 8-bit ``planes``, component i sampled every ``sampling[i]`` (dx, dy).

    Plane 0 sets the image size; plane i must be ceil(size / sampling).  No
    multi-component transform: the components are stored as given.
    """
    height, width = planes[0].shape
    count = len(planes)
    parameters = (_ComponentParameters * count)()
    for i, (plane, (dx, dy)) in enumerate(zip(planes, sampling)):
        if plane.shape != (-(-height // dy), -(-width // dx)):
            raise ValueError(f"plane {i} is {plane.shape}, sampling {dx}x{dy} of {width}x{height} needs another size")
        parameters[i] = _ComponentParameters(dx, dy, plane.shape[1], plane.shape[0], 0, 0, 8, 8, 0)
    lib = _openjpeg()
    image = lib.opj_image_create(count, parameters, _OPJ_CLRSPC_UNSPECIFIED)
    if not image:
        raise MemoryError("opj_image_create failed")
    codec = stream = None
    fd, name = tempfile.mkstemp(suffix=".j2k")
    os.close(fd)
    try:
        header = image.contents
        header.x0, header.y0, header.x1, header.y1 = 0, 0, width, height
        for i, plane in enumerate(planes):
            component = header.comps[i]
            np.ctypeslib.as_array(component.data, (component.h, component.w))[...] = plane
        # The defaults: reversible 5/3 wavelet, one quality layer, no rate limit = lossless, no MCT.
        options = ctypes.create_string_buffer(_CPARAMETERS_BYTES)
        lib.opj_set_default_encoder_parameters(options)
        codec = lib.opj_create_compress(_OPJ_CODEC_J2K)
        if not codec or not lib.opj_setup_encoder(codec, options, image):
            raise RuntimeError("OpenJPEG refused the encoder setup")
        stream = lib.opj_stream_create_default_file_stream(os.fsencode(name), 0)
        if not stream:
            raise OSError(f"OpenJPEG cannot write {name}")
        ok = lib.opj_start_compress(codec, image, stream)
        ok = ok and lib.opj_encode(codec, stream) and lib.opj_end_compress(codec, stream)
        lib.opj_stream_destroy(stream)  # flushes the file
        stream = None
        if not ok:
            raise RuntimeError("OpenJPEG failed to encode the tile")
        with open(name, "rb") as f:
            return f.read()
    finally:
        if stream:
            lib.opj_stream_destroy(stream)
        if codec:
            lib.opj_destroy_codec(codec)
        lib.opj_image_destroy(image)
        os.unlink(name)
