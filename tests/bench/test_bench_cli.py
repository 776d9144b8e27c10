from __future__ import annotations

import json

import pytest

from napari_wsi_io.bench._cli import default_level
from napari_wsi_io.bench.readers import open_cpu
from napari_wsi_io.cli import main


def test_bench_prints_a_summary_and_writes_its_files(bench_slide, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "bench",
            str(bench_slide),
            "--level",
            "1",
            "--strategy",
            "serial,threads,cucim",
            "--workers",
            "1,2",
            "--backend",
            "cucim,openslide",
            "--sink",
            "assemble",
            "--json",
            f"{out}.json",
            "--csv",
            f"{out}.csv",
            "--plot",
            f"{out}.png",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "of limit" in captured.out and "max diff" in captured.out
    assert "level 1: best cucim" in captured.out and "x OpenSlide" in captured.out
    assert "100%" in captured.err  # the progress bar
    data = json.loads((tmp_path / "run.json").read_text())
    assert {r["strategy"] for r in data["results"]} == {"decode-limit", "serial", "threads", "cucim"}
    assert len((tmp_path / "run.csv").read_text().splitlines()) == len(data["results"]) + 1
    assert (tmp_path / "run.png").read_bytes()[:4] == b"\x89PNG"


def test_default_level_is_the_largest_of_at_most_200_megapixels(bench_slide):
    with open_cpu(str(bench_slide)) as slide:
        assert default_level(slide) == 0


def test_bench_default_runs(bench_slide, capsys):
    assert main(["bench", str(bench_slide), "--strategy", "threads", "--workers", "2", "--backend", "tifffile"]) == 0
    assert "level 0: best tifffile threads/tiles x2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--level", "7"], "level 7 does not exist"),
        (["--sink", "assemble", "--backend", "openslide", "--strategy", "cucim"], "needs the cucim backend"),
    ],
)
def test_bad_values_exit_2_with_one_line(bench_slide, capsys, args, message):
    assert main(["bench", str(bench_slide), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["--strategy", "warp"],
        ["--workers", "0"],
        ["--workers", "two"],
        ["--level", "top"],
        ["--sink", "disk"],
        ["--repeat", "0"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(bench_slide, capsys, args):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", str(bench_slide), *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("napari-wsi-io bench: error:")


def test_a_bad_path_exits_2_with_one_line(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "missing.svs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"napari-wsi-io: cannot read {tmp_path / 'missing.svs'}: no such file"
