"""The dock's charts: one matplotlib figure per tab, drawn by ``napari_wsi_io.bench.plots``.

A matplotlib draw takes 50-200 ms on two busy cores, longer than the event loop
may stall while a benchmark runs.  So each update is rendered off the GUI thread
into a separate figure of the same size (``render_offscreen``); the GUI thread
then re-plots its own figure (a few ms, no drawing) and shows the finished
pixels.  The canvas stays a normal ``FigureCanvasQTAgg``: the toolbar's pan,
zoom and save work on the figure on screen.  Only the visible tab is rendered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
from matplotlib.colors import same_color
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from qtpy.QtGui import QColor, QPalette
from qtpy.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from ..bench import plots
from .background import LatestOnly

__all__ = ["CHARTS", "ChartPanel", "ChartTabs", "ThemeColors", "draw_chart", "render_offscreen"]

# tab title, plots function, whether it takes all records (else one record)
CHARTS: dict[str, tuple[str, Callable, bool]] = {
    "workers": ("Time vs workers", plots.plot_time_vs_workers, True),
    "levels": ("Time vs level", plots.plot_time_vs_level, True),
    "backends": ("Backends", plots.plot_backends, True),
    "timeline": ("Worker timeline", plots.plot_timeline, False),
}
_LAYOUT = "constrained"
# left, right, bottom, top margins at 100 dpi: room for tick labels, axis labels and the title
_MARGINS_PX = {
    "workers": (58, 12, 42, 26),
    "levels": (58, 58, 42, 26),
    "backends": (58, 12, 34, 26),
    "timeline": (72, 12, 42, 26),
}


class ThemeColors:
    """The few napari theme colours the charts use, as hex strings."""

    def __init__(self, background: str, panel: str, text: str, edge: str, highlight: str) -> None:
        self.background, self.panel, self.text, self.edge, self.highlight = background, panel, text, edge, highlight

    @classmethod
    def from_napari(cls, theme_id: str) -> ThemeColors:
        from napari.utils.theme import get_theme

        theme = get_theme(theme_id)
        return cls(
            background=theme.background.as_hex(),
            panel=theme.foreground.as_hex(),
            text=theme.text.as_hex(),
            edge=theme.secondary.as_hex(),
            highlight=theme.current.as_hex(),
        )

    def style(self, figure: Figure) -> None:
        """Apply the theme to a plotted figure.

        Set on the artists rather than through ``rc_context``: charts are also
        plotted in a render thread, where changing the global rcParams would race
        with the GUI thread.  Artists in the default text colour (black, as the
        decode-limit reference lines are) take the theme's text colour.
        """
        default = matplotlib.rcParams["text.color"]
        figure.set_facecolor(self.background)
        for ax in figure.axes:
            ax.set_facecolor(self.panel)
            ax.tick_params(colors=self.text, which="both")
            for spine in ax.spines.values():
                spine.set_edgecolor(self.edge)
            legend = ax.get_legend()
            if legend is not None:
                legend.get_frame().set_facecolor(self.panel)
                legend.get_frame().set_edgecolor(self.edge)
        for artist in figure.findobj(lambda a: isinstance(a, (Text, Line2D))):
            if same_color(artist.get_color(), default if isinstance(artist, Text) else "black"):
                artist.set_color(self.text)


def draw_chart(ax, name: str, data, colors: ThemeColors) -> list:
    """Draw chart ``name`` of ``data`` on a fresh ``ax`` in the theme; returns the plotted artists."""
    _, draw, _ = CHARTS[name]
    artists = list(draw(ax, data) or []) if data else []
    colors.style(ax.figure)
    return artists


def render_offscreen(name: str, data, colors: ThemeColors, size: tuple[int, int], dpi: float):
    """Plot and draw chart ``name`` in a new figure of ``size`` (width, height) device pixels.

    Safe in any thread.  Returns ``(data, agg_canvas, artists)``; the canvas holds the pixels.
    """
    # Half a pixel more, so that rounding the size down in get_width_height gives exactly ``size``.
    figure = Figure(figsize=((size[0] + 0.5) / dpi, (size[1] + 0.5) / dpi), dpi=dpi)
    # Fixed margins in pixels: a layout engine would double the drawing time.
    left, right, bottom, top = (m * dpi / 100 for m in _MARGINS_PX[name])
    figure.subplots_adjust(
        left=left / size[0], right=1 - right / size[0], bottom=bottom / size[1], top=1 - top / size[1]
    )
    canvas = FigureCanvasAgg(figure)
    artists = draw_chart(figure.add_subplot(), name, data, colors)
    canvas.draw()
    return data, canvas, artists


class ChartPanel(QWidget):
    """The Qt canvas and matplotlib toolbar of one chart.

    ``set_data`` stores what to show; ``refresh`` has it plotted and drawn in a new
    figure off the GUI thread, which then replaces the canvas's figure, pixels
    included, in a few microseconds.  The toolbar (pan, zoom, save) works on it.
    """

    def __init__(self, name: str, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.colors = colors
        self.canvas = FigureCanvasQTAgg(Figure(figsize=(4.5, 3.2), layout=_LAYOUT))
        self.canvas.setMinimumHeight(260)
        self.toolbar = NavigationToolbar2QT(self.canvas, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.canvas)
        self.data = None
        self.rendered_data = None  # the data whose figure is on the canvas
        self._artists: list = []
        self._renderer = LatestOnly(self._show_rendered, self._render_failed, name=f"wsi-chart-{name}", parent=self)
        self.set_colors(colors)

    @property
    def figure(self) -> Figure:
        return self.canvas.figure

    def set_colors(self, colors: ThemeColors) -> None:
        self.colors = colors
        # The toolbar draws white icons when its palette is dark.
        palette = self.toolbar.palette()
        palette.setColor(QPalette.Window, QColor(colors.background))
        palette.setColor(QPalette.WindowText, QColor(colors.text))
        self.toolbar.setPalette(palette)
        self.toolbar.setAutoFillBackground(True)
        self.figure.set_facecolor(colors.background)
        self.rendered_data = object()  # re-render in the new colours

    def set_data(self, data) -> None:
        self.data = data

    @property
    def artists(self) -> list:
        """What the plots function drew for the current data (rendered here and now if it is not yet)."""
        if self.rendered_data is not self.data:
            size = self.canvas.get_width_height(physical=True)
            self._show_rendered(render_offscreen(self.name, self.data, self.colors, size, self.figure.dpi))
        return self._artists

    @property
    def busy(self) -> bool:
        return self._renderer.busy

    def refresh(self) -> None:
        if self.rendered_data is self.data:
            return
        size = self.canvas.get_width_height(physical=True)
        if min(size) < 2:  # not laid out yet
            return
        self._renderer.submit(render_offscreen, self.name, self.data, self.colors, size, self.figure.dpi)

    def _show_rendered(self, result) -> None:
        data, agg, artists = result
        if agg._lastKey != (*self.canvas.get_width_height(physical=True), self.figure.dpi):
            self.rendered_data = None
            self.refresh()  # resized meanwhile: render again at the new size
            return
        old, new = self.figure, agg.figure
        # The canvas's event callbacks (the toolbar's pan and zoom) live on its figure: keep them.
        new._canvas_callbacks = old._canvas_callbacks
        new._original_dpi = old._original_dpi
        new.set_canvas(self.canvas)
        self.canvas.figure = new
        # FigureCanvasAgg reuses a renderer whose key (width, height, dpi) matches its figure,
        # and paintEvent copies from it: the pixels drawn in the render thread.
        self.canvas.renderer = agg.renderer
        self.canvas._lastKey = agg._lastKey
        self.toolbar.update()  # forget the zoom history of the old axes
        self._artists = artists
        self.rendered_data = data
        self.canvas.update()

    def _render_failed(self, exc: BaseException) -> None:
        self.rendered_data = self.data  # do not retry the same data
        raise exc


class ChartTabs(QTabWidget):
    """The four charts in tabs; only the visible one is rendered."""

    def __init__(self, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panels: dict[str, ChartPanel] = {}
        for name, (title, _, _) in CHARTS.items():
            panel = ChartPanel(name, colors, self)
            self.panels[name] = panel
            self.addTab(panel, title)
        self.currentChanged.connect(self.refresh)

    def set_colors(self, colors: ThemeColors) -> None:
        for panel in self.panels.values():
            panel.set_colors(colors)
        self.refresh()

    def update_records(self, records: Sequence, timeline_record=None) -> None:
        records = list(records)
        for name, (_, _, takes_all) in CHARTS.items():
            if takes_all:
                self.panels[name].set_data(records)
        if timeline_record is not None or not records:
            self.panels["timeline"].set_data(timeline_record)
        self.refresh()

    def show_timeline(self, record) -> None:
        self.panels["timeline"].set_data(record)
        self.refresh()

    def artists(self, name: str) -> list:
        return self.panels[name].artists

    @property
    def busy(self) -> bool:
        return any(p.busy for p in self.panels.values())

    def refresh(self, *_) -> None:
        panel = self.currentWidget()
        if isinstance(panel, ChartPanel):
            panel.refresh()

    def save_png(self, path: str | Path, dpi: int = 120) -> Path:
        """All four charts in one 2x2 PNG, drawn afresh (the canvases keep their state)."""
        path = Path(path)
        figure = Figure(figsize=(12, 8.5), layout=_LAYOUT)
        FigureCanvasAgg(figure)
        axes = figure.subplots(2, 2).ravel()
        for ax, panel in zip(axes, self.panels.values()):
            draw_chart(ax, panel.name, panel.data, panel.colors)
            if not panel.data:
                ax.set_title(f"{CHARTS[panel.name][0]}: no data", color=panel.colors.text)
        figure.savefig(path, dpi=dpi, facecolor=figure.get_facecolor())
        return path
