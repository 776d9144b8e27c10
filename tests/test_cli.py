from napari_wsi_io.cli import main


def test_info_prints_levels_backend_and_associated(slides, capsys):
    assert main(["info", str(slides["svs"])]) == 0
    out = capsys.readouterr().out
    assert "vendor:     aperio" in out
    assert "mpp:        0.2520 x 0.2520 µm/px" in out
    assert "associated: thumbnail, label, macro" in out
    assert "    1     2000     1500      2.000    256x256" in out


def test_info_reports_the_fallback_reason(slides, capsys):
    assert main(["info", str(slides["striped"])]) == 0
    assert "backend:    tifffile (fallback: striped, not tiled" in capsys.readouterr().out


def test_bad_path_exits_2_with_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.svs")]) == 2
    err = capsys.readouterr().err
    assert err == f"napari-wsi-io: cannot read {tmp_path / 'missing.svs'}: no such file\n"


def test_a_directory_is_called_a_directory(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    reason = "it is a directory holding no whole-slide DICOM series"
    assert capsys.readouterr().err == f"napari-wsi-io: cannot read {tmp_path}: {reason}\n"


def test_help_is_plain_text(capsys):
    import pytest

    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out and "describe a slide, measure how fast its levels load" in " ".join(out.split())


def test_bad_arguments_exit_2_with_one_line(capsys):
    import pytest

    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "invalid choice" in err
