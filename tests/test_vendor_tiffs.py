"""Leica SCN, Ventana BIF and Philips TIFF, with OpenSlide 4 as the oracle.

The files are generated to each vendor's layout (napari_wsi_io.synthetic); OpenSlide
opening them with the right vendor driver is what makes them faithful.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openslide
import pytest

from napari_wsi_io import SlideReadError, open_slide
from napari_wsi_io._reader import slide_layers
from napari_wsi_io.synthetic.bif import write_bif
from napari_wsi_io.synthetic.philips import write_philips
from napari_wsi_io.synthetic.scn import write_scn

WRITERS = {"leica": (write_scn, "scn"), "ventana": (write_bif, "bif"), "philips": (write_philips, "tiff")}
VENDORS = list(WRITERS)
JPEG_TOLERANCE = 3  # mean absolute difference, 0-255: two JPEG decoders (libjpeg vs libjpeg-turbo)


@pytest.fixture(scope="module")
def vendor_files(tmp_path_factory):
    made: dict[str, Path] = {}

    def get(vendor: str) -> Path:
        if vendor not in made:
            writer, suffix = WRITERS[vendor]
            made[vendor] = writer(tmp_path_factory.mktemp(vendor) / f"slide.{suffix}")
        return made[vendor]

    return get


def _patch(src: Path, dst: Path, old: bytes, new: bytes, count: int = 1) -> Path:
    """A copy of ``src`` with ``old`` replaced by ``new`` (same length, so no offset moves)."""
    assert len(old) == len(new)
    data = src.read_bytes()
    assert old in data
    dst.write_bytes(data.replace(old, new, count))
    return dst


def _oracle_origin(osl: openslide.OpenSlide, vendor: str) -> tuple[int, int]:
    # OpenSlide draws a Leica main image inside the collection; ours is that bounds rectangle.
    if vendor == "leica":
        return int(osl.properties["openslide.bounds-x"]), int(osl.properties["openslide.bounds-y"])
    return 0, 0


def _oracle_sizes(osl: openslide.OpenSlide, vendor: str) -> list[tuple[int, int]]:
    if vendor == "leica":
        w, h = int(osl.properties["openslide.bounds-width"]), int(osl.properties["openslide.bounds-height"])
        return [(round(w / d), round(h / d)) for d in osl.level_downsamples]
    return list(osl.level_dimensions)


def _oracle(osl, vendor, level, x, y, w, h) -> np.ndarray:
    ox, oy = _oracle_origin(osl, vendor)
    ds = osl.level_downsamples[level]
    region = osl.read_region((ox + round(x * ds), oy + round(y * ds)), level, (w, h))
    return np.asarray(region)[..., :3].astype(np.int16)


def _close(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    diff = np.abs(ours.astype(np.int16) - ref)
    assert diff.mean() < JPEG_TOLERANCE, f"mean difference {diff.mean():.2f}"


@pytest.mark.parametrize("vendor", VENDORS)
def test_layout_matches_openslide(vendor_files, vendor):
    path = vendor_files(vendor)
    osl = openslide.OpenSlide(str(path))
    assert osl.properties["openslide.vendor"] == vendor  # the generator is faithful
    with open_slide(path) as slide:
        assert slide.vendor == vendor
        assert list(slide.level_dimensions) == _oracle_sizes(osl, vendor)
        assert slide.mpp == pytest.approx(
            (float(osl.properties["openslide.mpp-x"]), float(osl.properties["openslide.mpp-y"]))
        )
        assert sorted(slide.associated_images) == sorted(osl.associated_images)
        prefix = f"{vendor}."
        theirs = {k: v for k, v in osl.properties.items() if k.startswith(prefix)}
        ours = {k: v for k, v in slide.properties.items() if k.startswith(prefix)}
        assert theirs.items() <= ours.items()


@pytest.mark.parametrize("vendor", VENDORS)
def test_pixels_match_openslide(vendor_files, vendor):
    path = vendor_files(vendor)
    osl = openslide.OpenSlide(str(path))
    with open_slide(path) as slide:
        w, h = slide.level_dimensions[0]
        # A level-0 region across tile borders, and the whole coarsest level.
        x, y = w // 3, h // 4
        _close(slide.read_level(0, x, y, 700, 600), _oracle(osl, vendor, 0, x, y, 700, 600))
        last = slide.level_count - 1
        lw, lh = slide.level_dimensions[last]
        _close(slide.read_level(last, 0, 0, lw, lh), _oracle(osl, vendor, last, 0, 0, lw, lh))
        for name, image in osl.associated_images.items():
            _close(slide.read_associated(name), np.asarray(image)[..., :3].astype(np.int16))


@pytest.mark.parametrize("vendor", VENDORS)
def test_reader_layer_matches_openslide(vendor_files, vendor):
    path = vendor_files(vendor)
    osl = openslide.OpenSlide(str(path))
    [(data, kwargs, kind)] = slide_layers(path)
    assert kind == "image" and kwargs["rgb"]
    assert kwargs["metadata"]["vendor"] == vendor
    assert sorted(kwargs["metadata"]["associated_images"]) == sorted(osl.associated_images)
    mpp = float(osl.properties["openslide.mpp-y"])
    assert kwargs["scale"][0] == pytest.approx(mpp)
    sizes = _oracle_sizes(osl, vendor)
    assert [tuple(level.shape[1::-1]) for level in data[: len(sizes)]] == sizes[: len(data)]
    _close(np.asarray(data[0][300:556, 500:900]), _oracle(osl, vendor, 0, 500, 300, 400, 256))
    last = len(sizes) - 1
    lw, lh = sizes[last]
    _close(np.asarray(data[last][:lh, :lw]), _oracle(osl, vendor, last, 0, 0, lw, lh))


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(SlideReadError) as info:
        open_slide(path).close()
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message
    return message


# Damaged vendor metadata: (vendor, bytes replaced, replacement of the same length, words the error must hold).
DAMAGE = {
    "scn damaged xml": ("leica", b"</image>", b"</imagX>", ["Leica XML"]),
    # tifffile no longer calls it SCN; the Leica namespace still does, so it is not shown as the macro.
    "scn xml damaged at its end": ("leica", b"</scn>", b"</scX>", ["Leica XML"]),
    "scn level in a missing ifd": ("leica", b'z="0" ifd="4"', b'z="0" ifd="9"', ["IFD 9"]),
    "scn level size disagrees with its ifd": (
        "leica",
        b'sizeX="1000" sizeY="750"',
        b'sizeX="1001" sizeY="750"',
        ["1001x750"],
    ),
    "bif damaged xmp": ("ventana", b"</Metadata>", b"</Metadatx>", ["XMP is damaged"]),
    "bif missing level": ("ventana", b"level=1 mag=20 ", b"level=5 mag=20 ", ["level 5"]),
    "bif damaged tile joints": ("ventana", b'Tile2="2"', b'Tile2="0"', ["out of range"]),
    "bif levels out of magnification order": ("ventana", b"level=2 mag=10 ", b"level=2 mag=80 ", ["magnification"]),
    "philips damaged xml": (
        "philips",
        b'Name="DICOM_MANUFACTURER"',
        b'Name="DICOM_MANUFACTURER<',
        ["Philips XML", "damaged"],
    ),
    "philips level without its spacing": (
        "philips",
        b'ObjectType="PixelDataRepresentation"',
        b'ObjectType="PixelDataRepresentatioX"',
        ["3 level pixel spacings for 4 tiled levels"],
    ),
    # Level 1's spacing made level 0's: it would be 2000x1500 inside a 1024x768 TIFF image.
    "philips level beyond its tiff image": (
        "philips",
        b"0.0005&quot; &quot;0.0005",
        b"0.0003&quot; &quot;0.0003",
        ["level 1", "2000x1500"],
    ),
    "philips damaged spacing": (
        "philips",
        b"0.0005&quot; &quot;0.0005",
        b"0.000x&quot; &quot;0.0005",
        ["pixel spacing"],
    ),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_vendor_metadata_is_refused(vendor_files, tmp_path, case):
    vendor, old, new, words = DAMAGE[case]
    src = vendor_files(vendor)
    _refused(_patch(src, tmp_path / f"bad{src.suffix}", old, new), *words)


# -- Leica SCN --------------------------------------------------------------


def test_scn_without_a_brightfield_main_image_is_refused(vendor_files, tmp_path):
    src = vendor_files("leica")
    data = src.read_bytes()
    # The main image is the second <image>: make its illumination fluorescence (same length).
    i = data.index(b"<illuminationSource>brightfield", data.index(b'name="main"'))
    bad = tmp_path / "bad.scn"
    bad.write_bytes(data[:i] + b"<illuminationSource>fluorescent" + data[i + 31 :])
    _refused(bad, "no brightfield main image")


# -- Ventana BIF -------------------------------------------------------------


def test_bif_label_and_thumbnail_are_not_levels(vendor_files):
    with open_slide(vendor_files("ventana")) as slide:
        # IFD 0 is the "Label Image" (OpenSlide's "macro"), IFD 1 the thumbnail: neither is level 0.
        assert slide.level_dimensions[0] == (2048, 1536)
        assert slide.layout.level_pages[0].description.startswith("level=0 ")


@pytest.mark.parametrize(
    ("overlap", "coarse_tolerance"),
    [
        # Whole-pixel advances at every level (252 / 2 / 4): OpenSlide's pixels exactly.
        ((4, 4), JPEG_TOLERANCE),
        # 253 x 254 px advances: coarser levels place tiles at fractions of a pixel, which OpenSlide
        # blends and the reader rounds to the nearest pixel (a sharp test pattern shows it most).
        ((3, 2), 6),
    ],
)
def test_bif_overlapping_tiles_are_stitched_like_openslide(tmp_path, overlap, coarse_tolerance):
    path = write_bif(tmp_path / "overlap.bif", shape=(1024, 1536), levels=3, overlap=overlap)
    osl = openslide.OpenSlide(str(path))
    with open_slide(path) as slide:
        assert list(slide.level_dimensions) == list(osl.level_dimensions)
        assert slide.level_dimensions[0] == (1536 - 5 * overlap[0], 1024 - 3 * overlap[1])
        for level in range(slide.level_count):
            w, h = slide.level_dimensions[level]
            ref = np.asarray(osl.read_region((0, 0), level, (w, h)))
            opaque = ref[..., 3] == 255  # OpenSlide leaves a partly covered last row or column translucent
            diff = np.abs(slide.read_level(level, 0, 0, w, h).astype(np.int16) - ref[..., :3])[opaque]
            assert diff.mean() < (JPEG_TOLERANCE if level == 0 else coarse_tolerance), (level, diff.mean())
        # A region read on its own gives the same pixels as the whole level.
        whole = slide.read_level(0, 0, 0, *slide.level_dimensions[0])
        np.testing.assert_array_equal(slide.read_level(0, 250, 500, 300, 20), whole[500:520, 250:550])


def test_bif_implausible_overlaps_are_refused(tmp_path):
    path = write_bif(tmp_path / "overlap.bif", shape=(512, 768), levels=2, overlap=(13, 0))
    bad = _patch(path, tmp_path / "bad.bif", b'OverlapX="13"', b'OverlapX="-9"', count=-1)
    _refused(bad, "implausible tile overlaps")
    # A damaged tile count is refused before any array is sized from it.
    huge = _patch(path, tmp_path / "huge.bif", b'NumCols="3"', b'NumCols="9"')
    _refused(huge, "9x2 tiles do not fit the TIFF image")


# -- Philips TIFF ------------------------------------------------------------


def test_philips_levels_are_clipped_to_their_real_size(vendor_files):
    with open_slide(vendor_files("philips")) as slide:
        # The TIFF pads level 1 to 1024x768 (black); the image is 1000x750.
        assert slide.layout.level_pages[1].imagewidth == 1024
        assert slide.level_dimensions[1] == (1000, 750)
        right_edge = slide.read_level(1, 990, 0, 10, 750)
        assert right_edge.mean() > 20  # image, not the black padding


def test_philips_with_label_strips_stays_away_from_cucim(vendor_files):
    with open_slide(vendor_files("philips")) as slide:
        assert slide.backend == "tifffile"
        assert "SubfileType 0" in slide.fallback_reason


def test_philips_cucim_reads_the_clipped_levels_like_openslide(tmp_path):
    # Label and macro inside the XML: only the levels are IFDs, and cuCIM takes the file.
    path = write_philips(tmp_path / "xml_label.tiff", shape=(750, 1000), levels=3, label_in_xml=True)
    osl = openslide.OpenSlide(str(path))
    assert sorted(osl.associated_images) == ["label", "macro"]
    with open_slide(path, "cucim") as slide:
        assert list(slide.level_dimensions) == list(osl.level_dimensions)
        for level in (1, slide.level_count - 1):
            w, h = slide.level_dimensions[level]
            _close(slide.read_level(level, 0, 0, w, h), _oracle(osl, "philips", level, 0, 0, w, h))
    with open_slide(path) as slide:
        assert slide.backend == "cucim"
        assert sorted(slide.associated_images) == ["label", "macro"]
        for name, image in osl.associated_images.items():
            _close(slide.read_associated(name), np.asarray(image)[..., :3].astype(np.int16))


def test_philips_damaged_label_in_the_xml_gives_a_clear_error(tmp_path):
    path = write_philips(tmp_path / "xml_label.tiff", label_in_xml=True)
    data = path.read_bytes()
    start = data.index(b'PMSVR="IString">/9j/') + len(b'PMSVR="IString">')
    at = start + 4 * 2000  # inside the entropy-coded data: bytes FF C4 there are a stray marker
    bad = tmp_path / "bad.tiff"
    bad.write_bytes(data[:at] + b"/8T/xP/E" + data[at + 8 :])
    with open_slide(bad) as slide:
        assert "label" in slide.associated_images
        with pytest.raises(SlideReadError, match="associated image 'label'") as info:
            slide.read_associated("label")
        assert str(bad) in str(info.value)


@pytest.mark.parametrize("backend", ["tifffile", "cucim"])
def test_philips_unstored_tiles_read_as_white_glass(tmp_path, backend):
    path = write_philips(tmp_path / "sparse.tiff", shape=(750, 1000), levels=3, label_in_xml=True, sparse=True)
    osl = openslide.OpenSlide(str(path))
    with open_slide(path, backend) as slide:
        assert not slide.tiles[0].missing.all() and slide.tiles[0].missing[0]
        for level in (0, 1):
            w, h = slide.level_dimensions[level]
            ours = slide.read_level(level, 0, 0, w, h)
            ref = np.asarray(osl.read_region((0, 0), level, (w, h)))
            stored = ref[..., 3] == 255  # OpenSlide leaves unstored tiles transparent
            assert (~stored).any()
            assert (ours[~stored] == 255).all()
            assert np.abs(ours[stored].astype(np.int16) - ref[..., :3][stored]).mean() < JPEG_TOLERANCE


def test_unstored_tiles_outside_philips_are_still_damage(tmp_path):
    import tifffile

    from napari_wsi_io.synthetic.philips import _sparse_tiles

    image = np.full((512, 768, 3), 120, np.uint8)
    image[:256, :256] = 255
    path = tmp_path / "generic.tif"
    tifffile.imwrite(
        path,
        _sparse_tiles(image),
        shape=image.shape,
        dtype=np.uint8,
        tile=(256, 256),
        compression="jpeg",
        photometric="rgb",
    )
    _refused(path, "level 0: 1 tiles have no data")


def test_philips_xml_damaged_at_its_end_is_refused_not_shown_padded(vendor_files, tmp_path):
    data = vendor_files("philips").read_bytes()
    end = data.rindex(b"</DataObject>")
    bad = tmp_path / "bad.tiff"
    bad.write_bytes(data[:end] + b"</DataObjecX>" + data[end + 13 :])
    _refused(bad, "Philips XML", "damaged")


def test_scn_through_the_openslide_backend_reads_the_main_image(vendor_files):
    path = vendor_files("leica")
    with open_slide(path, "openslide") as theirs, open_slide(path, "tifffile") as ours:
        assert theirs.level_dimensions == ours.level_dimensions
        for level in (0, ours.level_count - 1):
            w, h = ours.level_dimensions[level]
            x, y = w // 5, h // 6
            a, b = theirs.read_level(level, x, y, w - x, h - y), ours.read_level(level, x, y, w - x, h - y)
            assert np.abs(a.astype(np.int16) - b).mean() < JPEG_TOLERANCE


def _metadata_spans(path: Path, vendor: str) -> list[tuple[int, int]]:
    """Where the vendor XML lies in the file: Leica, Philips: IFD 0's ImageDescription;
    Ventana: IFD 0's XMP (iScan) and level 0's XMP (tile joints)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if vendor != "ventana":
            tag = tif.pages[0].tags[270]
            return [(tag.valueoffset, tag.count)]
        return [(tif.pages[i].tags[700].valueoffset, tif.pages[i].tags[700].count) for i in (0, 2)]


@pytest.mark.parametrize("vendor", VENDORS)
def test_mutated_vendor_metadata_reads_or_fails_cleanly(vendor_files, tmp_path, vendor):
    """Random bytes in the vendor XML: the slide opens and reads, or a SlideReadError names the file."""
    src = vendor_files(vendor)
    original = src.read_bytes()
    spans = _metadata_spans(src, vendor)
    rng = np.random.default_rng(12)
    outcomes = {"read": 0, "refused": 0}
    for i in range(30):
        data = bytearray(original)
        start, count = spans[i % len(spans)]
        for at in rng.integers(start, start + count, int(rng.integers(1, 4))):
            data[at] = int(rng.choice([0, ord("<"), ord('"'), ord("9"), ord("x"), int(rng.integers(256))]))
        path = tmp_path / f"mutated-{i}.{src.suffix[1:]}"
        path.write_bytes(bytes(data))
        try:
            with open_slide(path) as slide:
                w, h = slide.level_dimensions[-1]
                slide.read_level(slide.level_count - 1, 0, 0, w, h)
                for name in slide.associated_images:
                    slide.read_associated(name)
            outcomes["read"] += 1
        except SlideReadError as exc:
            assert str(path) in str(exc)
            outcomes["refused"] += 1
    assert outcomes["refused"] >= 1, outcomes  # the mutations reach the vendor parsing
    assert outcomes["refused"] >= 1, outcomes
