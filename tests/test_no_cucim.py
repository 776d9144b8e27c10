"""Without cuCIM (macOS, Windows, no CUDA) every feature runs on the fallback backend.

cuCIM is hidden in a subprocess by a ``sys.meta_path`` finder that refuses to
import it, exactly as on a machine without the wheel; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile

HIDE_CUCIM = textwrap.dedent(
    """
    import sys

    class HideCucim:
        def find_spec(self, name, path=None, target=None):
            if name == "cucim" or name.startswith("cucim."):
                raise ImportError(f"No module named {name!r} (hidden by the test)")
            return None

    sys.meta_path.insert(0, HideCucim())
    """
)


def run_without_cucim(code: str, tmp_path: Path, timeout: int = 240) -> dict:
    """Run ``code`` with cuCIM hidden; it fills the dict ``out``, which comes back as JSON."""
    script = tmp_path / "no_cucim.py"
    result_file = tmp_path / "result.json"
    script.write_text(
        HIDE_CUCIM
        + "out = {}\n"
        + textwrap.dedent(code)
        + f"\nimport json\nopen({str(result_file)!r}, 'w').write(json.dumps(out))\n"
    )
    env = dict(os.environ, NAPARI_WSI_IO_BACKEND="", PYTHONWARNINGS="")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(result_file.read_text())


def test_reader_info_and_errors_work_without_cucim(slides, tmp_path):
    svs = slides["svs"]
    out = run_without_cucim(
        f"""
        import contextlib, io, warnings
        import numpy as np
        try:
            import cucim
            out["cucim_import"] = "imported"
        except ImportError as exc:
            out["cucim_import"] = str(exc)
        from napari_wsi_io import SlideReadError, open_slide
        from napari_wsi_io.backends import available_backends, cucim_version, gpu_problem
        from napari_wsi_io._reader import read_slide
        from napari_wsi_io.cli import main

        out["version"] = cucim_version()
        out["backends"] = available_backends()
        out["gpu"] = gpu_problem()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with open_slide({str(svs)!r}) as slide:
                out["backend"], out["reason"] = slide.backend, slide.fallback_reason
                np.save({str(tmp_path / "level2.npy")!r}, slide.read_level(2, 0, 0, *slide.level_dimensions[2]))
            open_slide({str(slides["deflate"])!r}).close()
            layers = read_slide({str(svs)!r})
        out["notices"] = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        out["layer_backend"] = layers[0][1]["metadata"]["backend"]
        out["layers"] = [kwargs["name"] for _, kwargs, _ in layers]
        np.save({str(tmp_path / "layer2.npy")!r}, np.asarray(layers[0][0][2]))
        try:
            open_slide({str(svs)!r}, backend="cucim")
        except SlideReadError as exc:
            out["forced"] = str(exc)
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            out["info_rc"] = main(["info", {str(svs)!r}])
        out["info"] = stdout.getvalue()
        """,
        tmp_path,
    )
    assert "hidden by the test" in out["cucim_import"]
    assert out["version"] is None and "cucim" not in out["backends"] and "tifffile" in out["backends"]
    assert out["gpu"] == "cuCIM is not installed"
    assert (out["backend"], out["reason"]) == ("tifffile", "cuCIM is not installed")
    # One notice for the session, however many slides are opened.
    assert len(out["notices"]) == 1 and "cuCIM is not installed" in out["notices"][0]
    expected = tifffile.TiffFile(svs).pages[3].asarray()  # level 2 (page 1 is the thumbnail)
    np.testing.assert_array_equal(np.load(tmp_path / "level2.npy"), expected)
    np.testing.assert_array_equal(np.load(tmp_path / "layer2.npy"), expected)
    assert out["layer_backend"] == "tifffile" and out["layers"][0] == "aperio"
    assert out["forced"] == f"cannot read {svs}: backend 'cucim' is not installed"
    assert out["info_rc"] == 0
    assert "backend:    tifffile (fallback: cuCIM is not installed)" in out["info"]


def test_bench_and_convert_work_without_cucim(slides, tmp_path):
    svs = slides["svs"]
    store = tmp_path / "out.ome.zarr"
    out = run_without_cucim(
        f"""
        import contextlib, io
        from napari_wsi_io.cli import main

        for name, argv in {{
            "bench": ["bench", {str(svs)!r}, "--level", "2", "--strategy", "serial,threads,cucim",
                      "--workers", "1", "--backend", "cucim,tifffile"],
            "convert": ["convert", {str(svs)!r}, {str(store)!r}, "--levels", "2", "--workers", "1"],
        }}.items():
            stdout, stderr = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                out[name] = {{"rc": main(argv), "out": stdout.getvalue(), "err": stderr.getvalue()}}
        """,
        tmp_path,
    )
    bench = out["bench"]
    assert bench["rc"] == 0, bench["err"]
    assert "note: cucim is not installed: skipped" in bench["err"]
    assert "the cucim strategy needs the cucim backend: skipped" in bench["err"]
    rows = [line.split() for line in bench["out"].splitlines()[1:] if line.strip() and line.split()[0] == "2"]
    measured = [row for row in rows if row[2] != "decode-limit"]  # the limit is plain imagecodecs
    assert measured and {row[1] for row in measured} == {"tifffile"}
    assert {row[2] for row in measured} == {"serial", "threads"}
    convert = out["convert"]
    assert convert["rc"] == 0, convert["err"]
    import zarr

    group = zarr.open_group(store, mode="r")
    written = np.asarray(group["0"])
    expected = tifffile.TiffFile(svs).pages[3].asarray()
    np.testing.assert_array_equal(np.moveaxis(written, 0, -1), expected)


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="the dock needs a display (run under xvfb-run)")
def test_dock_opens_without_cucim(slides, tmp_path):
    out = run_without_cucim(
        f"""
        import napari
        from napari_wsi_io._qt.bench_widget import BenchmarkWidget

        viewer = napari.Viewer(show=False)
        try:
            viewer.open({str(slides["svs"])!r}, plugin="napari-wsi-io")
            widget = BenchmarkWidget(viewer)
            out["layer_backend"] = viewer.layers[0].metadata["backend"]
            out["cucim_enabled"] = widget.backends.boxes["cucim"].enabled
            out["cucim_tooltip"] = widget.backends.boxes["cucim"].tooltip
            out["checked"] = widget.backends.value
        finally:
            viewer.close()
        """,
        tmp_path,
    )
    assert out["layer_backend"] == "tifffile"
    assert out["cucim_enabled"] is False and out["cucim_tooltip"] == "cucim is not installed"
    assert "cucim" not in out["checked"]
