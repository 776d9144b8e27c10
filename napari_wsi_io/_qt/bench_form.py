"""The benchmark dock's form: which slide and level to time, and how; the plan it describes."""

from __future__ import annotations

import dataclasses
import os

from magicgui.widgets import CheckBox, ComboBox, Container, LineEdit, SpinBox

from .. import bench
from ..backends import BACKENDS, available_backends
from .overlay import COLOR_BY, level_shapes
from .slide_layers import slide_layer_choices

__all__ = ["ALL", "SCREEN", "BenchForm", "CheckList", "parse_workers", "plan_defaults"]

SCREEN = "screen"  # level choice: the level napari displays now
ALL = "all"
_CHUNK_SIZES = [("aligned to the tiles (about 1024 px)", 0)] + [(f"{n} px", n) for n in (256, 512, 1024, 2048, 4096)]


def parse_workers(text: str) -> list[int]:
    """'1, 2, 4' -> [1, 2, 4]."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        counts = [int(p) for p in parts]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise ValueError(f"worker counts must be positive integers such as '1, 2, 4', not {text!r}")
    return sorted(set(counts))


def plan_defaults() -> dict:
    """The engine's default plan, field by field."""
    defaults = {}
    for field in dataclasses.fields(bench.BenchPlan):
        if field.default is not dataclasses.MISSING:
            defaults[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            defaults[field.name] = field.default_factory()
    return defaults


class CheckList(Container):
    """Check boxes, at most ``per_row`` a row (the dock stays narrow); ``value`` lists the checked names."""

    def __init__(
        self,
        label: str,
        names: list[str],
        checked: list[str],
        disabled: dict[str, str] | None = None,
        per_row: int = 4,
    ):
        disabled = disabled or {}
        self.boxes = {
            name: CheckBox(text=name, value=name in checked and name not in disabled, enabled=name not in disabled)
            for name in names
        }
        for name, why in disabled.items():
            if name in self.boxes:
                self.boxes[name].tooltip = why
        boxes = list(self.boxes.values())
        rows = [_row(boxes[i : i + per_row]) for i in range(0, len(boxes), per_row)]
        super().__init__(widgets=rows, labels=False, label=label)
        self.margins = (0, 0, 0, 0)

    @property
    def value(self) -> list[str]:
        return [name for name, box in self.boxes.items() if box.value and box.enabled]

    @value.setter
    def value(self, names: list[str]) -> None:
        for name, box in self.boxes.items():
            box.value = name in names and box.enabled


class BenchForm(Container):
    """The slide layer, level, backends, strategies, chunks, workers, sink, repeats and overlay choices."""

    def __init__(self, viewer) -> None:
        self.viewer = viewer
        defaults = plan_defaults()
        self.layer_combo = ComboBox(label="Slide", choices=lambda *_: slide_layer_choices(viewer), nullable=False)
        self.level_combo = ComboBox(label="Level", choices=self._level_choices)
        self.backends = _backend_checklist(defaults)
        self.strategies = CheckList("Strategies", list(bench.STRATEGIES), defaults.get("strategies", []), per_row=3)
        self.chunkings = CheckList("Chunks", list(bench.CHUNKINGS), defaults.get("chunkings", ["tiles"]))
        self.chunk_size = ComboBox(label="Chunk size", choices=_CHUNK_SIZES, value=defaults.get("chunk_size") or 0)
        self.chunk_size.tooltip = "side of the chunks of the rows, columns and tiles chunkings"
        self.workers = LineEdit(label="Workers", value=", ".join(str(w) for w in defaults.get("workers", [1, 2])))
        self.workers.tooltip = f"worker counts to try, e.g. 1, 2, 4 (this machine has {os.cpu_count()} CPUs)"
        self.sink = ComboBox(label="Sink", choices=list(bench.SINKS), value=defaults.get("sink", "discard"))
        self.sink.tooltip = "discard: decode only; assemble: into one array in memory; zarr: into a temporary Zarr"
        self.repeats = SpinBox(label="Repeats", value=defaults.get("repeats", 1), min=1, max=50)
        self.show_overlay = CheckBox(text="chunks on the slide", value=True)
        self.color_by = ComboBox(choices=list(COLOR_BY), value=COLOR_BY[0])
        overlay_row = _row([self.show_overlay, self.color_by], label="Overlay")
        super().__init__(
            widgets=[
                self.layer_combo,
                self.level_combo,
                self.backends,
                self.strategies,
                self.chunkings,
                self.chunk_size,
                self.workers,
                self.sink,
                self.repeats,
                overlay_row,
            ]
        )
        self.layer_combo.changed.connect(self.level_combo.reset_choices)

    # -- the level choice --
    def screen_level(self) -> int | None:
        """The level napari draws the chosen slide at now."""
        layer = self.layer_combo.value
        if layer is None:
            return None
        return int(layer.data_level) if layer.multiscale else 0

    def _screen_label(self) -> str:
        level = self.screen_level()
        return "level on screen" if level is None else f"level on screen (now {level})"

    def _level_choices(self, *_) -> list[tuple[str, object]]:
        choices = [(self._screen_label(), SCREEN), ("all levels", ALL)]
        layer = self.layer_combo.value
        if layer is not None:
            for i, (h, w) in enumerate(level_shapes(layer)):
                choices.append((f"level {i}: {w} x {h}", i))
        return choices

    def refresh_layers(self) -> None:
        """Offer the slide layers the viewer has now, and their levels."""
        self.layer_combo.reset_choices()
        self.level_combo.reset_choices()

    def refresh_screen_level_label(self) -> None:
        native = self.level_combo.native
        if native.count():
            native.setItemText(0, self._screen_label())

    # -- the plan --
    def build_plan(self, all_levels: bool = False) -> bench.BenchPlan:
        """The plan the controls describe; ValueError says what is missing."""
        layer = self.layer_combo.value
        if layer is None:
            raise ValueError("no slide layer: open a slide with napari-wsi-io first")
        choice = ALL if all_levels else self.level_combo.value
        if choice == ALL:
            levels = None
        elif choice == SCREEN:
            levels = [self.screen_level()]
        else:
            levels = [int(choice)]
        for name, picked in (
            ("backend", self.backends.value),
            ("strategy", self.strategies.value),
            ("chunking", self.chunkings.value),
        ):
            if not picked:
                raise ValueError(f"choose at least one {name}")
        return bench.BenchPlan(
            path=str(layer.metadata["path"]),
            levels=levels,
            backends=self.backends.value,
            strategies=self.strategies.value,
            chunkings=self.chunkings.value,
            workers=parse_workers(self.workers.value),
            sink=self.sink.value,
            repeats=int(self.repeats.value),
            chunk_size=int(self.chunk_size.value) or None,
        )

    def ready_text(self) -> str:
        """What pressing Benchmark level would do, or how to get a slide to benchmark."""
        if self.layer_combo.value is None:
            return "Open a slide (File > Open, or File > Open Sample > napari WSI IO) to benchmark it."
        choice = self.level_combo.value
        if choice == ALL:
            return "Press Benchmark level to time all levels."
        if choice == SCREEN:
            return f"Press Benchmark level to time level {self.screen_level()}, the level on screen."
        return f"Press Benchmark level to time level {choice}."


def _backend_checklist(defaults: dict) -> CheckList:
    """Every backend; those not installed greyed out with the reason."""
    installed = set(available_backends())
    missing = {name: f"{name} is not installed" for name in BACKENDS if name not in installed}
    checked = list(defaults.get("backends", ["cucim"]))
    if "openslide" in installed and "openslide" not in checked:
        checked.append("openslide")  # so the table can show the speed-up over OpenSlide
    return CheckList("Backends", list(BACKENDS), checked, missing)


def _row(widgets: list, label: str | None = None) -> Container:
    """Widgets side by side, without margins."""
    row = Container(widgets=widgets, layout="horizontal", labels=False, label=label)
    row.margins = (0, 0, 0, 0)
    return row
