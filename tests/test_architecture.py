"""The floors of docs/architecture.md, checked from the code: every import points down a floor.

A module of a new top-level unit (``napari_wsi_io/<unit>``) fails here until it is given a floor below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "napari_wsi_io"

# Bottom to top.  A unit may import its own modules and any unit on a lower floor, nothing beside or above.
FLOORS: list[set[str]] = [
    {"_errors", "_scratch", "_openjpeg"},
    {"_cache", "_prefetch"},
    {"backends"},
    {"_region_read"},
    {"_display"},  # a display pyramid's state: what is viewed, coarse stand-ins, prefetch guesses
    {"_level_array"},
    {"pyramid"},
    {"__init__"},  # `import napari_wsi_io`: open_slide, pyramid, the cache settings
    {"_channel_layers"},  # a slide that stores channels as a layer per channel (the reader's)
    {"_reader", "bench", "export", "synthetic", "annotations", "servers"},  # servers: loopback test servers
    {"_sample_data", "_qt"},  # napari's entry points (napari.yaml) and every Qt import
    {"cli"},  # `napari-wsi-io demo` opens the Qt demo
]
FLOOR = {unit: i for i, units in enumerate(FLOORS) for unit in units}


def _unit(module: str) -> str:
    """``napari_wsi_io.bench.plan`` -> ``bench``; the package's own ``__init__`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The napari_wsi_io modules (or names in them) that ``path`` imports, absolute."""
    module = _module(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            found.update(f"{base}.{alias.name}" if base == "napari_wsi_io" else base for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("napari_wsi_io"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("napari_wsi_io"))
    return found


def _unit_of_target(target: str) -> str:
    """As ``_unit``; a name defined in the package's ``__init__`` (``from .. import __version__``) is that."""
    unit = _unit(target)
    return unit if (PACKAGE / unit).exists() or (PACKAGE / f"{unit}.py").exists() else "__init__"


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_import_points_down_a_floor(path):
    unit = _unit(_module(path))
    assert unit in FLOOR, f"{unit} has no floor: add it to FLOORS here and to docs/architecture.md"
    wrong = []
    for target in sorted(_imports(path)):
        other = _unit_of_target(target)
        if other == unit:
            continue
        assert other in FLOOR, f"{other} has no floor: add it to FLOORS here and to docs/architecture.md"
        if FLOOR[other] >= FLOOR[unit]:
            wrong.append(f"{target} (floor {FLOOR[other]})")
    assert not wrong, f"{path.relative_to(PACKAGE)} (floor {FLOOR[unit]}) imports beside or above it: {wrong}"


def test_the_floors_name_only_units_that_exist():
    units = {_unit(_module(p)) for p in SOURCES}
    assert set(FLOOR) <= units, set(FLOOR) - units
