"""The "Open URL…" entry of the plugin's menu: a slide at an ``https://``, ``s3://``, ... URL, opened in a thread.

The open takes a few round trips (the header and IFDs), and a server that never answers holds it until the
timeout: both off napari's GUI thread, which only adds the layer.  Messages show the URL without credentials.
"""

from __future__ import annotations

from magicgui.widgets import Container, Label, LineEdit, PushButton

from .._reader import read_slide
from ..backends import is_url, redact

__all__ = ["OpenUrlWidget"]


class OpenUrlWidget(Container):
    """A URL field and "Open": the slide's layer is added to the viewer when its levels are known."""

    def __init__(self, napari_viewer) -> None:
        self.viewer = napari_viewer
        self.url = LineEdit(label="URL", value="")
        self.url.native.setPlaceholderText("https://host/slide.svs  or  s3://bucket/slide.tif")
        self.open_button = PushButton(text="Open")
        self.status = Label(value="")
        self.status.native.setWordWrap(True)
        super().__init__(widgets=[self.url, self.open_button, self.status])
        self.open_button.changed.connect(self.open)
        self.url.native.returnPressed.connect(self.open)
        self.worker = None

    def open(self, _value=None):
        """Start opening the URL in a thread; returns the worker (None for text that is no URL)."""
        url = self.url.value.strip()
        if not is_url(url):
            self.status.value = "give a URL: https://, http://, s3://, gs:// or az://"
            return None
        from napari.qt.threading import create_worker

        self.status.value = f"opening {redact(url)}..."
        self.open_button.enabled = False
        # Handing "errored" to _connect keeps napari from re-raising the error on top of showing it.
        self.worker = create_worker(
            read_slide,
            url,
            _connect={"returned": self._add, "errored": self._failed, "finished": self._finished},
            _start_thread=False,
        )
        self.worker.start()
        return self.worker

    def _finished(self) -> None:
        self.open_button.enabled = True

    def _add(self, layers: list) -> None:
        from .prerender import install

        for data, kwargs, _kind in layers:
            self.viewer.add_image(data, **kwargs)
        install(self.viewer)
        self.status.value = f"opened {layers[0][1]['metadata']['path']}" if layers else ""

    def _failed(self, exc: BaseException) -> None:
        self.status.value = str(exc)  # a SlideReadError: the URL without credentials, and the reason
