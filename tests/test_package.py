import tifffile
from qt_free import run_without_qt

from napari_wsi_io.synthetic import sample_slide_path, write_synthetic_slide


def test_import_loads_no_qt():
    run_without_qt(
        "import napari_wsi_io, napari_wsi_io._reader, napari_wsi_io._qt.reader, napari_wsi_io.pyramid,"
        " napari_wsi_io.synthetic"
    )


def test_synthetic_slide_layout(tmp_path):
    path = write_synthetic_slide(tmp_path / "s.svs", (1100, 1700), aperio=True, min_level_side=256)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_svs
        levels = tif.series[0].levels
        assert [lvl.shape for lvl in levels] == [(1100, 1700, 3), (550, 850, 3), (275, 425, 3)]
        assert tif.pages[0].compression == 7 and tif.pages[0].tilewidth == 256
        tile = levels[0].asarray()[:256, :256]
        assert tile.std() > 10  # tissue-like, not flat


def test_sample_slide_is_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("NAPARI_WSI_IO_CACHE", str(tmp_path))
    path = sample_slide_path(small=True)
    mtime = path.stat().st_mtime_ns
    assert sample_slide_path(small=True) == path
    assert path.stat().st_mtime_ns == mtime
