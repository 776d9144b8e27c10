"""``napari-wsi-io convert``: exit codes, progress on stderr, summary on stdout, interrupted runs."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from export_helpers import data_files, leftovers, read_image, slide_level
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader

from napari_wsi_io import open_slide
from napari_wsi_io.cli import main
from napari_wsi_io.synthetic import write_synthetic_slide


def test_convert_writes_store_with_progress_and_summary(slides, tmp_path, capsys):
    out = tmp_path / "s.ome.zarr"
    rc = main(["convert", str(slides["svs"]), str(out), "--levels", "1,2", "--chunk", "256", "--workers", "2"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "convert:" in captured.err and "100%" in captured.err  # the tqdm bar
    summary = captured.out.strip()
    assert summary.startswith(f"wrote {out}") and "MP/s" in summary and "ratio" in summary
    _, levels = read_image(out)
    with open_slide(slides["svs"]) as slide:
        np.testing.assert_array_equal(levels[1], slide_level(slide, 2))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--levels", "5"], "level 5 does not exist: the slide has levels 0 to 2"),
        (["--compression", "gzip"], "unknown compression"),
        (["--chunk", "0"], "chunk must be"),
        (["--scheduler", "fibers"], "scheduler must be"),
        (["--shard", "1000"], "shard must be a multiple of the chunk"),
        (["--shard", "wide"], "shard must be a number of pixels"),
        (["--format", "0.4", "--shard", "2048"], "sharding needs Zarr v3"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(slides, tmp_path, capsys, args, message):
    rc = main(["convert", str(slides["svs"]), str(tmp_path / "x.ome.zarr"), *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_bad_slide_exits_2_with_one_line(bad_slides, tmp_path, capsys):
    for path in bad_slides.values():
        rc = main(["convert", str(path), str(tmp_path / "x.ome.zarr")])
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith(f"napari-wsi-io: cannot read {path}: ") and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "metadata", "files"),
    [
        ([], "zarr.json", 1),  # 0.5 sharded by default: one 4096 px shard holds the 8 x 6 chunks of 256 px
        (["--shard", "none"], "zarr.json", 48),
        (["--format", "0.4"], ".zgroup", 48),
    ],
)
def test_format_and_shard_options(slides, tmp_path, capsys, args, metadata, files):
    out = tmp_path / "f.ome.zarr"
    rc = main(["convert", str(slides["svs"]), str(out), "--levels", "1", "--chunk", "256", *args])
    assert rc == 0, capsys.readouterr().err
    assert (out / metadata).is_file() and len(data_files(out / "0")) == files
    _, (data,) = read_image(out)
    with open_slide(slides["svs"]) as slide:
        np.testing.assert_array_equal(data, slide_level(slide, 1))


def test_existing_output_exits_2_unless_overwrite(slides, tmp_path, capsys):
    out = tmp_path / "o.ome.zarr"
    assert main(["convert", str(slides["svs"]), str(out), "--levels", "2"]) == 0
    capsys.readouterr()
    assert main(["convert", str(slides["svs"]), str(out), "--levels", "2"]) == 2
    assert capsys.readouterr().err == f"napari-wsi-io: error: {out} already exists; pass --overwrite to replace it\n"
    assert main(["convert", str(slides["svs"]), str(out), "--levels", "2", "--overwrite"]) == 0


def test_failed_block_exits_2_for_a_corrupt_tile(corrupt_slide, tmp_path, capsys):
    out = tmp_path / "bad.ome.zarr"
    rc = main(["convert", str(corrupt_slide), str(out), "--levels", "0"])
    assert rc == 2 and "cannot read" in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.fixture(scope="module")
def big_slide(tmp_path_factory) -> Path:
    """Large enough (200 MP at level 0) that one worker is still writing when the test interrupts it."""
    return write_synthetic_slide(tmp_path_factory.mktemp("big") / "big.tif", (10240, 20480), min_level_side=2048)


_DATA_FILES = {"0.4": "0/0/*/*", "0.5": "0/c/*/*/*"}  # chunk files (0.4) or shard files (0.5) of level 0


def _start_and_wait_for_chunks(slide: Path, out: Path, ngff: str = "0.5") -> subprocess.Popen:
    # A terminal's Ctrl-C raises KeyboardInterrupt; a test run started in the background inherits an ignored
    # SIGINT, which Python keeps, so the child puts the usual handler back.
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from napari_wsi_io.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    args = ["convert", str(slide), str(out), "--levels", "0", "--workers", "1", "--chunk", "256", "--format", ngff]
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        partial = [p for p in out.parent.glob(f"{out.name}.partial-*")]
        if partial and any(partial[0].glob(_DATA_FILES[ngff])):  # chunk or shard files are being written
            return proc
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"the export never started writing chunks: {proc.communicate()}")


def test_ctrl_c_cleans_up_and_exits_130(big_slide, tmp_path):
    out = tmp_path / "int.ome.zarr"
    proc = _start_and_wait_for_chunks(big_slide, out)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("ngff", ["0.5", "0.4"])
def test_killed_export_never_looks_complete(big_slide, tmp_path, ngff):
    out = tmp_path / "kill.ome.zarr"
    proc = _start_and_wait_for_chunks(big_slide, out, ngff)
    proc.kill()
    proc.wait(timeout=60)
    assert not out.exists()
    (partial,) = [tmp_path / name for name in leftovers(tmp_path)]
    # What is left carries no NGFF metadata: no reader takes it for an image.
    location = parse_url(str(partial), mode="r", fmt=FormatV04() if ngff == "0.4" else FormatV05())
    nodes = list(Reader(location)()) if location else []
    assert not any(node.data for node in nodes)
    attributes = zarr.open_group(partial, mode="r").attrs.asdict()
    assert not {"ome", "multiscales", "omero"} & set(attributes)
