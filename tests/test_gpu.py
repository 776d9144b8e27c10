"""The GPU path: ``device="cuda"`` reads decode with nvJPEG into cupy arrays.

Tests marked ``gpu`` need a CUDA GPU with cupy and skip cleanly without one;
the others check what a machine without a GPU gets.  nvJPEG and libjpeg-turbo
may round a few pixels differently, so GPU pixels are compared with a small
tolerance; ``benchmarks/gpu_check.py`` reports the exact differences.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from napari_wsi_io import SlideReadError, open_slide
from napari_wsi_io.backends import cucim_version, gpu_problem

NO_GPU = gpu_problem()
skip_without_gpu = pytest.mark.skipif(NO_GPU is not None, reason=f"no GPU: {NO_GPU}")
MAX_GPU_DIFF = 8  # nvJPEG's IDCT and chroma upsampling against libjpeg-turbo's
MAX_GPU_MEAN_DIFF = 0.5


def assert_close_to(gpu: np.ndarray, cpu: np.ndarray) -> None:
    assert gpu.shape == cpu.shape and gpu.dtype == cpu.dtype
    diff = np.abs(gpu.astype(np.int16) - cpu.astype(np.int16))
    assert diff.max() <= MAX_GPU_DIFF and diff.mean() <= MAX_GPU_MEAN_DIFF, (diff.max(), diff.mean())


@pytest.mark.skipif(NO_GPU is None, reason="this machine has a GPU")
def test_cuda_is_refused_clearly_without_a_gpu(slides):
    with pytest.raises(ValueError, match=r"^device 'cuda' is not available: "):
        open_slide(slides["svs"], device="cuda")
    with open_slide(slides["svs"], device="auto") as slide:  # auto falls back to the CPU quietly
        assert slide.backend in ("cucim", "tifffile")
        if slide.backend == "cucim":
            assert slide.device == "cpu"
            with pytest.raises(ValueError, match="device 'cuda' is not available"):
                slide.read_level_gpu(0, 0, 0, 16, 16)


def test_unknown_device_and_wrong_backend_are_refused(slides):
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        open_slide(slides["svs"], device="tpu")
    with pytest.raises(ValueError, match="device 'cuda' needs the cucim backend"):
        open_slide(slides["svs"], backend="tifffile", device="cuda")


def _has_nvimgcodec() -> bool:
    try:
        return importlib.util.find_spec("nvidia.nvimgcodec") is not None
    except ModuleNotFoundError:  # no nvidia namespace package at all
        return False


@pytest.mark.skipif(cucim_version() is None, reason="cuCIM is not installed")
@pytest.mark.skipif(not _has_nvimgcodec(), reason="cuslide2 needs nvImageCodec (nvidia-nvimgcodec-cu12)")
def test_cuslide2_plugin_is_loaded_and_recorded_when_enabled(slides):
    """cuslide2 (nvImageCodec) also decodes on the CPU: same pixels, and the slide says which plugin ran.

    (A generic TIFF: without CUDA cuslide2 gets no TIFF tags and takes an SVS's
    label and macro for levels, which the level check refuses.)
    """
    code = (
        "import numpy as np, tifffile; from napari_wsi_io import open_slide;"
        f"s = open_slide({str(slides['jpeg'])!r}, backend='cucim');"
        "ref = tifffile.TiffFile(s.path).pages[2].asarray();"
        "print(s.plugin, np.array_equal(s.read_level(2, 0, 0, *s.level_dimensions[2]), ref))"
    )
    for enable, plugin in (("0", "cuslide"), ("1", "cuslide2")):
        env = dict(os.environ, ENABLE_CUSLIDE2=enable)
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.split()[-2:] == [plugin, "True"], result.stdout[-2000:]


@pytest.mark.gpu
@skip_without_gpu
def test_gpu_read_gives_cupy_array_close_to_cpu(slides):
    import cupy

    with open_slide(slides["svs"], backend="cucim") as slide:
        w, h = slide.level_dimensions[1]
        gpu = slide.read_level_gpu(1, 0, 0, w, h)
        assert isinstance(gpu, cupy.ndarray)
        assert_close_to(cupy.asnumpy(gpu), slide.read_level(1, 0, 0, w, h))


@pytest.mark.gpu
@skip_without_gpu
def test_reader_on_cuda_returns_numpy_close_to_cpu(slides):
    with open_slide(slides["svs"], device="cuda") as gpu, open_slide(slides["svs"], device="cpu") as cpu:
        assert (gpu.backend, gpu.device, cpu.device) == ("cucim", "cuda", "cpu")
        assert gpu.plugin in ("cuslide", "cuslide2")
        region = (2, 100, 50, 700, 500)
        got = gpu.read_level(*region)
        assert isinstance(got, np.ndarray)
        assert_close_to(got, cpu.read_level(*region))


@pytest.mark.gpu
@skip_without_gpu
def test_corrupt_tile_is_reported_on_the_gpu_too(corrupt_slide):
    with open_slide(corrupt_slide, device="cuda") as slide:
        with pytest.raises(SlideReadError, match=r"level 0, tile \(5, 0\): JPEG tile"):
            slide.read_level(0, 5 * 256, 0, 100, 100)
        with pytest.raises(SlideReadError, match=r"tile \(5, 0\)"):
            slide.read_level_gpu(0, 0, 0, 2048, 256)


@pytest.mark.gpu
@skip_without_gpu
def test_cuslide2_on_the_gpu(slides):
    code = (
        "import cupy, numpy as np; from napari_wsi_io import open_slide;"
        f"s = open_slide({str(slides['svs'])!r}, backend='cucim');"
        "w, h = s.level_dimensions[1]; g = cupy.asnumpy(s.read_level_gpu(1, 0, 0, w, h));"
        "d = np.abs(g.astype(int) - s.read_level(1, 0, 0, w, h)); print(s.plugin, d.max(), d.mean())"
    )
    env = dict(os.environ, ENABLE_CUSLIDE2="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    plugin, max_diff, mean_diff = result.stdout.split()[-3:]
    assert plugin == "cuslide2"
    assert int(max_diff) <= MAX_GPU_DIFF and float(mean_diff) <= MAX_GPU_MEAN_DIFF


def _run(plan):
    from napari_wsi_io.bench import run_plan

    steps = run_plan(plan)
    try:
        while True:
            next(steps)
    except StopIteration as stop:
        return stop.value


@pytest.mark.skipif(NO_GPU is None, reason="this machine has a GPU")
def test_bench_notes_that_the_gpu_strategy_cannot_run(slides):
    from napari_wsi_io.bench import BenchPlan

    plan = BenchPlan(path=str(slides["svs"]), levels=[2], strategies=["serial", "gpu"], workers=[1])
    notes = plan.check()
    assert any(n.startswith("the gpu strategy cannot run here (") for n in notes)
    result = _run(plan)
    assert {r.strategy for r in result.records} == {"serial", "decode-limit"}


@pytest.mark.gpu
@skip_without_gpu
def test_bench_gpu_strategy_matches_the_cpu_read(slides):
    from napari_wsi_io.bench import BenchPlan

    plan = BenchPlan(path=str(slides["svs"]), levels=[1], strategies=["serial", "gpu"], workers=[2], sink="assemble")
    records = {r.strategy: r for r in _run(plan).records}
    assert records["gpu"].max_abs_diff is not None and records["gpu"].max_abs_diff <= 2
