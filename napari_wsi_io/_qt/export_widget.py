"""The "Export to OME-Zarr" dock: the export engine with progress and cancel.

The engine (``napari_wsi_io.export.export_steps``) is a Qt-free generator; the
dock runs it with napari's ``create_worker``.  Cancel sets an event that the
worker thread sees at the engine's next progress event (at most half a second
away); the engine is then closed on that thread, which removes the partial
store before ``finished`` is emitted.  A ``worker.quit()`` from elsewhere
(napari closing) is honoured too: the engine is closed when the worker aborts.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, LineEdit, ProgressBar, PushButton, SpinBox

from ..backends import is_url
from ..export import COMPRESSIONS, DEFAULT_CHUNK, DEFAULT_FORMAT, DEFAULT_SHARD, FORMATS, ExportSummary, export_steps
from ..export._schedulers import default_workers
from .slide_layers import slide_layer_choices

__all__ = ["ExportWidget", "run_until_cancelled"]

DASK = "dask scheduler"
_PROGRESS_STEPS = 1000


def run_until_cancelled(steps: Generator, cancel: threading.Event) -> Generator:
    """Relay the engine's events until ``cancel`` is set; always close the engine at the end.

    Returns the engine's summary, or None when cancelled.
    """
    try:
        while not cancel.is_set():
            try:
                event = next(steps)
            except StopIteration as stop:
                return stop.value
            yield event
        return None
    finally:
        steps.close()


def _relay(steps: Generator) -> Generator:
    return (yield from steps)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA --"
    minutes, secs = divmod(max(0, round(seconds)), 60)
    return f"ETA {minutes} min {secs:02d} s" if minutes else f"ETA {secs} s"


class ExportWidget(Container):
    """Export a slide layer opened by napari-wsi-io to OME-Zarr; napari passes the viewer."""

    def __init__(self, napari_viewer) -> None:
        self.viewer = napari_viewer
        self.worker = None
        self.summary: ExportSummary | None = None
        self.error: str | None = None
        self._cancel = threading.Event()
        self._steps: Generator | None = None

        self.layer = ComboBox(label="Slide", choices=self._slide_layers, nullable=True)
        self.output = FileEdit(label="Output", mode="w", filter="*.zarr")
        self.output.tooltip = "the OME-Zarr directory to write, e.g. slide.ome.zarr"
        self.levels = LineEdit(label="Levels", value="all")
        self.levels.tooltip = "'all' or slide level numbers such as 0,2"
        self.compression = ComboBox(label="Compression", choices=list(COMPRESSIONS), value="zstd")
        self.compression.tooltip = "zstd, lz4 and none are lossless; jpeg is lossy (quality 90)"
        self.format = ComboBox(label="Format", choices=list(FORMATS), value=DEFAULT_FORMAT)
        self.format.tooltip = "NGFF 0.5 on Zarr v3, sharded (default), or NGFF 0.4 on Zarr v2 for older readers"
        self.chunk = SpinBox(label="Chunk", value=DEFAULT_CHUNK, min=64, max=8192, step=64)
        self.shard = SpinBox(label="Shard", value=DEFAULT_SHARD, min=0, max=65536, step=1024)
        self.shard.tooltip = "shard side in pixels, a multiple of the chunk (0: one file per chunk); NGFF 0.5 only"
        self.scheduler = ComboBox(label="Scheduler", choices=["threads", "processes", DASK], value="threads")
        self.address = LineEdit(label="Address", value="tcp://127.0.0.1:8786", visible=False)
        self.address.tooltip = "address of a running dask.distributed scheduler; its workers open the slide by path"
        self.workers = SpinBox(label="Workers", value=default_workers(), min=1, max=256)
        self.overwrite = CheckBox(text="overwrite an earlier export", value=False)
        self.export_button = PushButton(text="Export")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        buttons = Container(widgets=[self.export_button, self.cancel_button], layout="horizontal", labels=False)
        buttons.margins = (0, 0, 0, 0)
        self.progress = ProgressBar(value=0, min=0, max=_PROGRESS_STEPS, label="Progress")
        self.status = Label(value="")
        self.status.native.setWordWrap(True)  # long paths and summaries must not widen the dock
        super().__init__(
            widgets=[
                self.layer,
                self.output,
                self.levels,
                self.compression,
                self.format,
                self.chunk,
                self.shard,
                self.scheduler,
                self.address,
                self.workers,
                self.overwrite,
                buttons,
                self.progress,
                self.status,
            ]
        )
        self.layer.changed.connect(self._suggest_output)
        self.scheduler.changed.connect(self._on_scheduler)
        self.format.changed.connect(self._on_format)
        self.export_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self.cancel)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self._refresh_layers()

    # -- choices --
    def _slide_layers(self, _widget=None) -> list:
        return slide_layer_choices(self.viewer)

    def _refresh_layers(self, _event=None) -> None:
        self.layer.reset_choices()
        layers = [layer for layer in self.layer.choices if layer is not None]
        if self.layer.value is None and layers:
            self.layer.value = layers[0]

    def _suggest_output(self, layer) -> None:
        if layer is None:
            return
        path = layer.metadata["path"]
        # A slide at a URL: its name in the current folder (the store is written locally).
        slide = Path.cwd() / PurePosixPath(urlsplit(path).path).name if is_url(path) else Path(path)
        current = Path(str(self.output.value))
        if str(self.output.value) in ("", ".") or current.name.endswith(".ome.zarr"):
            self.output.value = slide.with_name(slide.stem + ".ome.zarr")

    def _on_scheduler(self, value: str) -> None:
        self.address.visible = value == DASK
        self.workers.enabled = value != DASK  # the cluster decides

    def _on_format(self, value: str) -> None:
        self.shard.enabled = value == "0.5"  # Zarr v2 has no shards

    # -- running --
    @property
    def running(self) -> bool:
        return self.worker is not None

    def _options(self) -> dict:
        layer = self.layer.value
        if layer is None:
            raise ValueError("open a slide with napari-wsi-io first: there is no slide layer to export")
        out = str(self.output.value).strip()
        if out in ("", "."):
            raise ValueError("choose an output path, e.g. slide.ome.zarr")
        scheduler = self.address.value.strip() if self.scheduler.value == DASK else self.scheduler.value
        return {
            "slide": layer.metadata["path"],
            "out": out,
            "backend": layer.metadata.get("backend"),
            "levels": self.levels.value,
            "chunk": self.chunk.value,
            "format": self.format.value,
            "shard": (self.shard.value or None) if self.format.value == "0.5" else None,
            "compression": self.compression.value,
            "scheduler": scheduler,
            "workers": None if self.scheduler.value == DASK else self.workers.value,
            "overwrite": self.overwrite.value,
        }

    def start(self) -> None:
        """Start an export with the current settings (the Export button)."""
        if self.running:
            return
        from napari.qt.threading import create_worker

        self.summary, self.error = None, None
        try:
            options = self._options()
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self._cancel = threading.Event()
        self._steps = run_until_cancelled(export_steps(**options), self._cancel)
        # Handing "errored" to _connect keeps napari from re-raising the error on top of showing it.
        worker = create_worker(
            _relay,
            self._steps,
            _start_thread=False,
            _connect={
                "yielded": self._on_progress,
                "returned": self._on_returned,
                "errored": self._on_error,
                "aborted": self._close_steps,
                "finished": self._on_finished,
            },
        )
        self.worker = worker
        self.progress.value = 0
        self.status.value = f"exporting to {options['out']}..."
        self._set_running(True)
        worker.start()

    def cancel(self) -> None:
        """Stop at the next progress event; the partial store is removed (the Cancel button)."""
        if self.running:
            self._cancel.set()
            self.status.value = "cancelling..."

    def _set_running(self, running: bool) -> None:
        self.export_button.enabled = not running
        self.cancel_button.enabled = running

    def _on_progress(self, event) -> None:
        self.progress.value = round(event.fraction * _PROGRESS_STEPS)
        if not self._cancel.is_set():
            self.status.value = f"{event.message} · {_eta(event.eta)}"

    def _on_returned(self, summary: ExportSummary | None) -> None:
        from napari.utils.notifications import show_info

        if summary is None:
            self.status.value = "cancelled: nothing was written"
            self.progress.value = 0
            return
        self.summary = summary
        self.progress.value = _PROGRESS_STEPS
        self.status.value = (
            f"wrote {Path(summary.path).name}: {summary.pixels / 1e6:.0f} MP at "
            f"{summary.megapixels_per_second:.1f} MP/s, {summary.output_bytes / 1e6:.1f} MB "
            f"(compression {summary.compression_ratio:.2f}:1)"
        )
        show_info(str(summary))

    def _on_error(self, exc: BaseException) -> None:
        self._show_error(str(exc) or type(exc).__name__)

    def _show_error(self, message: str) -> None:
        from napari.utils.notifications import show_error

        self.error = message
        self.status.value = f"error: {message}"
        show_error(f"Export to OME-Zarr: {message}")

    def _close_steps(self) -> None:
        if self._steps is not None:
            self._steps.close()  # the worker stopped at a yield: closing runs the engine's cleanup
        self.status.value = "cancelled: nothing was written"

    def _on_finished(self) -> None:
        self.worker = None
        self._steps = None
        self._set_running(False)
