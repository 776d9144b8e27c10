"""Every way a server fails: an error naming the URL and the reason, at once or within the timeout; a dropped
connection while viewing blanks the region without keeping it, and the next view fetches it again."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from napari_wsi_io import SlideReadError, open_slide
from napari_wsi_io._errors import SlideFetchError
from napari_wsi_io.pyramid import display_pyramid
from napari_wsi_io.servers import SilentServer

pytestmark = pytest.mark.timeout(60)


def _refused(target: str, *words: str, within: float = 5.0) -> SlideReadError:
    start = time.monotonic()
    with pytest.raises(SlideReadError) as info:
        open_slide(target)
    assert time.monotonic() - start < within
    message = str(info.value)
    assert message.startswith("cannot read http") and all(w in message for w in words), message
    return info.value


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("slides/missing.svs", ("missing.svs", "not found (404)")),
        ("forbidden/svs.svs", ("forbidden/svs.svs", "access denied (403)")),
        ("loop/svs.svs", ("loop/svs.svs", "redirect")),
        ("norange/svs.svs", ("norange/svs.svs", "does not support byte ranges")),
    ],
)
def test_server_errors_name_the_url_and_the_reason_at_once(proxy, served, where, words):
    _refused(f"{proxy.url}/{where}", *words)


def test_credentials_never_appear_in_errors(proxy):
    error = _refused(proxy.url.replace("://", "://user:pa55word@") + "/slides/missing.svs?X-Amz-Signature=abc", "404")
    assert "pa55word" not in str(error) and "abc" not in str(error) and "user" not in str(error)


def test_a_server_that_never_answers_fails_within_the_timeout(monkeypatch):
    monkeypatch.setenv("NAPARI_WSI_IO_REMOTE_TIMEOUT", "2")
    with SilentServer() as silent:
        error = _refused(f"{silent.url}/slides/slide.svs", "slide.svs", "no answer within 2 s", within=6.0)
    assert isinstance(error, SlideFetchError)


def test_not_a_tiff_at_a_url_says_so(proxy, served, tmp_path):
    path = served["svs"].parent / "notes.svs"
    path.write_bytes(b"plain text, not a slide" * 10)
    _refused(f"{proxy.url}/slides/notes.svs", "not a TIFF file")


def test_a_dropped_connection_blanks_the_view_and_the_next_view_fetches_again(proxy, served, monkeypatch):
    monkeypatch.setenv("NAPARI_WSI_IO_REMOTE_TIMEOUT", "3")
    reported = []
    slide = open_slide(f"{proxy.url}/slides/{served['big'].name}")
    levels = display_pyramid(slide, on_error=reported.append)
    try:
        with open_slide(served["big"], backend="tifffile") as local:
            expected = local.read_level(0, 4096, 4096, 1024, 1024)
        proxy.broken = True
        start = time.monotonic()
        blank = np.asarray(levels[0][4096:5120, 4096:5120])
        assert time.monotonic() - start < 10
        assert not blank.any() and reported and isinstance(reported[0], SlideFetchError)
        assert "connection" in str(reported[0]) and served["big"].name in str(reported[0])
        proxy.broken = False
        np.testing.assert_array_equal(np.asarray(levels[0][4096:5120, 4096:5120]), expected)
    finally:
        proxy.broken = False
        slide.close()


def test_a_slide_changed_on_the_server_raises_instead_of_mixing_pixels(proxy, served, slides):
    path = served["svs"].parent / "changing.svs"
    shutil.copy(served["big"], path)
    with open_slide(f"{proxy.url}/slides/changing.svs") as slide:
        slide.read_level(2, 0, 0, 100, 100)
        time.sleep(1.1)  # nginx's ETag holds the modification time in seconds
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(data))
        tmp.replace(path)
        with pytest.raises(SlideReadError, match="changed on the server"):
            slide.read_level(0, 2000, 2000, 512, 512)
