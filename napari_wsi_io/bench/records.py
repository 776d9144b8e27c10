"""What a benchmark run produces: one record per configuration and repeat, and its files.

The JSON file is ``{"slide": {...}, "machine": {...}, "results": [records], "notes": [...]}``;
the CSV file holds the same records, one per row, without their tasks.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from .job import Task
from .strategies import REFERENCE_STRATEGIES, label

__all__ = [
    "REFERENCE_STRATEGIES",
    "BenchResult",
    "Progress",
    "Record",
    "Task",
    "best_record",
    "best_records",
    "is_reference",
    "load_json",
    "openslide_speedups",
    "save_csv",
    "save_json",
    "summary",
]


@dataclass
class Record:
    """The measurement of one configuration (level, backend, strategy, chunking, workers) and repeat."""

    backend: str
    strategy: str
    chunk: str
    workers: int
    level: int
    width: int
    height: int
    megapixels: float
    seconds: float
    mpix_per_s: float
    fraction_of_limit: float | None
    peak_rss_mb: float
    checksum: str | None
    max_abs_diff: int | None
    repeat: int
    tasks: list[Task] = field(default_factory=list)
    # Extensions beyond the shared contract (all optional).
    sink: str = "discard"
    chunk_width: int = 0
    chunk_height: int = 0
    setup_seconds: float = 0.0  # allocation, worker start-up, slide opening: not part of ``seconds``
    note: str = ""
    in_flight: int = 0  # a URL's requests in flight; 0 for a local file
    #: Bytes of one pixel of the level: 3 for 8-bit RGB, 12 for 6 channels of 16 bits (0: an older record).
    bytes_per_pixel: int = 0

    @property
    def mb_per_s(self) -> float | None:
        """Decoded megabytes per second: what a multichannel level's speed compares by."""
        return self.mpix_per_s * self.bytes_per_pixel if self.bytes_per_pixel else None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["tasks"] = [Task(**t) for t in data.get("tasks", [])]
        return cls(**values)

    @property
    def label(self) -> str:
        """Short name of the configuration, e.g. ``cucim threads/tiles x2`` (see ``strategies.label``)."""
        return label(self)


@dataclass
class Progress:
    """A progress event of ``run_plan``: tasks done of all tasks, and an estimate of the time left."""

    done: int
    total: int
    eta_s: float | None
    message: str
    record: Record | None = None  # set on the event that finishes a configuration


@dataclass
class BenchResult:
    slide: dict
    machine: dict
    records: list[Record]
    notes: list[str] = field(default_factory=list)


# -- files --


def save_json(result: BenchResult, path: str | os.PathLike) -> None:
    data = {
        "slide": result.slide,
        "machine": result.machine,
        "results": [r.to_dict() for r in result.records],
        "notes": list(result.notes),
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)


def load_json(path: str | os.PathLike) -> BenchResult:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    try:
        records = [Record.from_dict(r) for r in data["results"]]
        return BenchResult(data["slide"], data["machine"], records, list(data.get("notes", [])))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{os.fspath(path)} is not a napari-wsi-io benchmark file ({exc})") from None


def _csv_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(Record) if f.name != "tasks"]


def save_csv(result: BenchResult, path: str | os.PathLike) -> None:
    fields = _csv_fields()
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for record in result.records:
            row = record.to_dict()
            writer.writerow({k: "" if row[k] is None else row[k] for k in fields})


# -- summaries --


def best_records(records: list[Record]) -> list[Record]:
    """The fastest repeat of each configuration, in the order configurations first appear."""
    best: dict[tuple, Record] = {}
    for r in records:
        key = (r.level, r.backend, r.strategy, r.chunk, r.workers, r.sink, r.chunk_width, r.chunk_height, r.in_flight)
        if key not in best or r.seconds < best[key].seconds:
            best[key] = r
    return list(best.values())


def is_reference(record: Record) -> bool:
    """A yardstick such as the decode limit, never a candidate for the best way to load a level."""
    return record.strategy in REFERENCE_STRATEGIES


def best_record(records: Sequence[Record]) -> Record | None:
    """The fastest way of loading (highest MP/s) among ``records``, or None."""
    return max((r for r in records if not is_reference(r)), key=lambda r: r.mpix_per_s, default=None)


def openslide_speedups(records: Sequence[Record], among: Sequence[Record] | None = None) -> list[float | None]:
    """Per record: its speed over the fastest OpenSlide read of the same level in ``among`` (default ``records``).

    None where that level has no OpenSlide read.
    """
    fastest: dict[int, float] = {}
    for r in records if among is None else among:
        if r.backend == "openslide" and not is_reference(r) and r.seconds > 0:
            fastest[r.level] = min(fastest.get(r.level, r.seconds), r.seconds)
    return [fastest[r.level] / r.seconds if r.level in fastest and r.seconds > 0 else None for r in records]


def _level_summary(records: list[Record]) -> dict:
    best = best_record(records)
    if best is None:
        return {"best": None, "mpix_per_s": None, "fraction_of_limit": None, "speedup_vs_openslide": None}
    limit = [r for r in records if r.strategy == "decode-limit"]
    return {
        "best": best,
        "mpix_per_s": best.mpix_per_s,
        "fraction_of_limit": best.fraction_of_limit,
        "speedup_vs_openslide": openslide_speedups([best], among=records)[0],
        "limit_mpix_per_s": max(r.mpix_per_s for r in limit) if limit else None,
    }


def summary(result: BenchResult) -> dict:
    """Best record (highest MP/s), its MP/s, fraction of the limit and speed-up over OpenSlide.

    The top-level keys describe the largest level measured (the one that matters most
    for loading time); ``levels`` holds the same summary for every level.
    """
    records = best_records(result.records)
    levels = sorted({r.level for r in records})
    per_level = {level: _level_summary([r for r in records if r.level == level]) for level in levels}
    main = per_level[levels[0]] if levels else _level_summary([])
    return {**main, "level": levels[0] if levels else None, "levels": per_level}
