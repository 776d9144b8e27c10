"""Real TIFF files of every kind the reader meets, generated once per session."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_wsi_io.synthetic import write_synthetic_slide


def pytest_configure(config):
    # Keep the sample slides of the tests out of the user's cache.
    os.environ.setdefault("NAPARI_WSI_IO_CACHE", str(Path(config.rootpath) / ".pytest_cache" / "slides"))


def _image(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise: compresses like tissue, every pixel distinct enough to catch offsets."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    planes = [(x * (c + 1) + y * (3 - c)) % 251 for c in range(channels)]
    img = np.stack(planes, axis=-1) + rng.integers(0, 4, (height, width, channels))
    return img.astype(np.uint8).squeeze()


def write_pyramid(path: Path, image: np.ndarray, levels: int = 3, subifds: bool = False, **kwargs) -> Path:
    """A pyramid in the main IFD chain (like OpenSlide's generic TIFF) or in SubIFDs."""
    kwargs.setdefault("photometric", "rgb" if image.ndim == 3 else "minisblack")
    kwargs.setdefault("resolution", (1e4 / 0.5, 1e4 / 0.5))
    kwargs.setdefault("resolutionunit", "CENTIMETER")
    with tifffile.TiffWriter(path) as tw:
        for level in range(levels):
            opts = dict(kwargs)
            if subifds:
                opts["subifds"] = levels - 1 if level == 0 else None
            tw.write(image[:: 2**level, :: 2**level], subfiletype=1 if level else 0, metadata=None, **opts)
    return path


def patch_tag(path: Path, page: int, code: int, value: int) -> None:
    """Overwrite a SHORT/LONG tag value in place (classic TIFF)."""
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[page].tags[code]
        fmt = "<H" if tag.dtype == 3 else "<I"
        offset = tag.valueoffset
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(fmt, value))


def corrupt_tile(path: Path, level_page: int, tile: int, seed: int = 0) -> Path:
    """Replace the second half of one JPEG tile with random bytes."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[level_page]
        offset, count = page.dataoffsets[tile], page.databytecounts[tile]
    rng = np.random.default_rng(seed)
    with open(path, "r+b") as f:
        f.seek(offset + count // 2)
        f.write(rng.integers(0, 256, count - count // 2 - 2, dtype=np.uint8).tobytes())
    return path


@pytest.fixture(scope="session")
def slides(tmp_path_factory) -> dict[str, Path]:
    """Good slides, by kind."""
    d = tmp_path_factory.mktemp("slides")
    img = _image(1037, 1553)  # odd sizes: not a tile multiple
    return {
        "svs": write_synthetic_slide(d / "aperio.svs", (3000, 4000), aperio=True, mpp=0.2520),
        "jpeg": write_synthetic_slide(d / "generic-jpeg.tif", (1037 * 2, 1553 * 2), mpp=0.5, min_level_side=256),
        "deflate": write_pyramid(d / "deflate.tif", img, tile=(256, 256), compression="zlib"),
        "deflate-small-tiles": write_pyramid(
            d / "deflate16.tif", img[:300, :400], tile=(16, 16), compression="zlib", predictor=True
        ),
        "lzw": write_pyramid(
            d / "lzw.tif", img, tile=(128, 128), compression="lzw", resolutionunit="INCH", resolution=(50800, 50800)
        ),
        "raw": write_pyramid(d / "raw.tif", img, tile=(256, 256)),
        "striped": write_pyramid(d / "striped.tif", img, levels=1, rowsperstrip=64, compression="jpeg"),
        "gray16": write_pyramid(
            d / "gray16.tif", (_image(1037, 1553, 1).astype(np.uint16) * 257), tile=(256, 256), compression="zlib"
        ),
        "subifds": write_pyramid(d / "subifds.ome.tif", img, subifds=True, tile=(256, 256), compression="jpeg"),
    }


@pytest.fixture(scope="session")
def bad_slides(tmp_path_factory, slides) -> dict[str, Path]:
    """Damaged files, by kind, with a word the error must contain."""
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(7)
    (d / "random.tif").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (d / "empty.svs").write_bytes(b"")
    data = slides["svs"].read_bytes()
    (d / "truncated.svs").write_bytes(data[: len(data) // 2])
    unsupported = write_pyramid(d / "unsupported.tif", _image(300, 400), levels=1, tile=(128, 128), compression="zlib")
    patch_tag(unsupported, 0, 259, 34999)
    return {
        "random": d / "random.tif",
        "empty": d / "empty.svs",
        "truncated": d / "truncated.svs",
        "unsupported": unsupported,
    }


@pytest.fixture(scope="session")
def corrupt_slide(tmp_path_factory) -> Path:
    """A JPEG pyramid whose level-0 tile 5 (column 5, row 0) is damaged."""
    path = write_synthetic_slide(tmp_path_factory.mktemp("corrupt") / "corrupt.tif", (2048, 2048), min_level_side=256)
    return corrupt_tile(path, 0, 5)


@pytest.fixture(scope="session")
def channel_slides(tmp_path_factory) -> dict[str, Path]:
    """Slides that store channels, by kind (what each holds: ``synthetic.ome.ome_planes``, ``qptiff_planes``)."""
    from napari_wsi_io.synthetic.ome import write_ome_tiff
    from napari_wsi_io.synthetic.qptiff import write_qptiff

    d = tmp_path_factory.mktemp("channels")
    return {
        "ome16": write_ome_tiff(d / "ome16.ome.tif"),
        "ome16-pages": write_ome_tiff(d / "ome16-pages.ome.tif", subifds=False),
        "ome8": write_ome_tiff(d / "ome8.ome.tif", dtype=np.uint8, shape=(700, 900), compression="lzw"),
        "ome32": write_ome_tiff(d / "ome32.ome.tif", dtype=np.uint32, shape=(700, 900), levels=2),
        "omef32": write_ome_tiff(d / "omef32.ome.tif", dtype=np.float32, shape=(700, 900), compression="zstd"),
        "ome-z": write_ome_tiff(
            d / "ome-z.ome.tif", shape=(600, 800), z=3, channels=(("DAPI", None), ("CD8", None)), levels=2
        ),
        "ome-tz": write_ome_tiff(
            d / "ome-tz.ome.tif", shape=(300, 400), z=2, t=2, channels=(("a", None), ("b", None)), levels=2
        ),
        "qptiff8": write_qptiff(d / "vectra8.qptiff"),
        "qptiff32": write_qptiff(d / "vectra32.qptiff", dtype=np.float32, shape=(600, 900), compression=None),
    }


@pytest.fixture(scope="session")
def czi_slides(tmp_path_factory) -> dict[str, Path]:
    """Zeiss CZI files written by Zeiss's pylibCZIrw (what each holds: ``synthetic.czi.expected_*``); the
    "-jxr" ones are "bgr24", "bgr48" and "fluo" with every subblock JPEG XR, as Zeiss's scanners store them."""
    pytest.importorskip("pylibCZIrw")
    from napari_wsi_io.synthetic.czi import write_czi_brightfield, write_czi_fluorescence
    from napari_wsi_io.synthetic.czi_jpegxr import with_jpegxr_subblocks

    d = tmp_path_factory.mktemp("czi")
    zstd = "zstd1:ExplicitLevel=1;PreProcess=HiLoByteUnpack"
    files = {
        "bgr24": write_czi_brightfield(d / "bgr24.czi", 3001, 2003, origin=(-5000, 1200), pyramid=True),
        "bgr48": write_czi_brightfield(d / "bgr48.czi", 2048, 1536, dtype=np.uint16),
        "fluo": write_czi_fluorescence(d / "fluo.czi", 2048, 2048, z_count=3, pyramid=True),
        "fluo-zstd": write_czi_fluorescence(d / "fluo-zstd.czi", 3000, 2000, compression=zstd),
    }
    for kind in ("bgr24", "bgr48", "fluo"):
        files[f"{kind}-jxr"] = with_jpegxr_subblocks(files[kind], d / f"{kind}-jxr.czi")
    return files
