"""The dock's inputs: check-box lists, worker counts, the engine's defaults, the ETA text."""

from __future__ import annotations

import dataclasses

from magicgui.widgets import CheckBox, Container

from ..bench import engine

__all__ = ["CheckList", "format_eta", "parse_workers", "plan_defaults"]


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


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA --"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"ETA {seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"ETA {minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours} h {minutes:02d} min"


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
        rows = [
            Container(widgets=boxes[i : i + per_row], layout="horizontal", labels=False)
            for i in range(0, len(boxes), per_row)
        ]
        for row in rows:
            row.margins = (0, 0, 0, 0)
        super().__init__(widgets=rows, labels=False, label=label)
        self.margins = (0, 0, 0, 0)

    @property
    def value(self) -> list[str]:
        return [name for name, box in self.boxes.items() if box.value and box.enabled]

    @value.setter
    def value(self, names: list[str]) -> None:
        for name, box in self.boxes.items():
            box.value = name in names and box.enabled


def plan_defaults() -> dict:
    """The engine's default plan, field by field."""
    defaults = {}
    for field in dataclasses.fields(engine.BenchPlan):
        if field.default is not dataclasses.MISSING:
            defaults[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            defaults[field.name] = field.default_factory()
    return defaults
