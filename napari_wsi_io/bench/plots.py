"""Plots of benchmark records with matplotlib, drawn on the Axes (or Figure) the caller gives.

Nothing here creates a figure or a canvas, so the same functions serve the dock
(a Qt canvas) and the CLI (Agg).  Each returns the artists it drew, so their data
can be read back.  Repeats are reduced to the fastest one of each configuration.
"""

from __future__ import annotations

from collections import defaultdict

from .records import Record, best_records, is_reference
from .strategies import label

__all__ = ["plot_backends", "plot_summary", "plot_time_vs_level", "plot_time_vs_workers", "plot_timeline"]


def _main_level(records: list[Record]) -> int | None:
    """The largest level measured (lowest index): the one whose loading time matters most."""
    levels = [r.level for r in records]
    return min(levels) if levels else None


def _limit(records: list[Record], level: int) -> Record | None:
    limits = [r for r in records if r.level == level and r.strategy == "decode-limit"]
    return min(limits, key=lambda r: r.seconds) if limits else None


def _series(r: Record) -> str:
    """A configuration without its worker count: one line of the time-vs-workers plot."""
    return label(r, workers=False)


def _no_data(ax, text: str = "no records") -> list:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    return []


def plot_time_vs_workers(ax, records: list[Record], level: int | None = None) -> list:
    """Seconds vs worker count: one line per backend, strategy and chunking; the decode limit dashed."""
    records = best_records(records)
    level = _main_level(records) if level is None else level
    lines = defaultdict(list)
    for r in records:
        if r.level == level and not is_reference(r):
            lines[_series(r)].append(r)
    if not lines:
        return _no_data(ax)
    artists = []
    for name, group in sorted(lines.items()):
        group.sort(key=lambda r: r.workers)
        (line,) = ax.plot([r.workers for r in group], [r.seconds for r in group], marker="o", label=name)
        artists.append(line)
    limit = _limit(records, level)
    if limit is not None:
        artists.append(ax.axhline(limit.seconds, color="black", linestyle="--", linewidth=1, label="decode limit"))
    workers = sorted({r.workers for g in lines.values() for r in g})
    ax.set_xticks(workers)
    ax.set_xlabel("workers")
    ax.set_ylabel("seconds")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Level {level}: time vs workers")
    ax.legend(fontsize="xx-small", ncols=2 if len(artists) > 8 else 1, loc="upper right")
    return artists


def _best_per_backend_level(records: list[Record]) -> dict[str, dict[int, Record]]:
    best: dict[str, dict[int, Record]] = defaultdict(dict)
    for r in records:
        name = "decode limit" if r.strategy == "decode-limit" else r.backend
        current = best[name].get(r.level)
        if current is None or r.mpix_per_s > current.mpix_per_s:
            best[name][r.level] = r
    return best


def plot_time_vs_level(ax, records: list[Record]) -> list:
    """Seconds (solid, left) and MP/s (dashed, right) vs level, for each backend's best configuration."""
    best = _best_per_backend_level(best_records(records))
    if not best:
        return _no_data(ax)
    speed_ax = ax.twinx()
    artists = []
    for i, (name, by_level) in enumerate(sorted(best.items())):
        levels = sorted(by_level)
        color = "black" if name == "decode limit" else f"C{i}"
        (time_line,) = ax.plot(
            levels, [by_level[v].seconds for v in levels], marker="o", color=color, label=f"{name}: seconds"
        )
        (speed_line,) = speed_ax.plot(
            levels,
            [by_level[v].mpix_per_s for v in levels],
            marker="s",
            linestyle="--",
            color=color,
            label=f"{name}: MP/s",
        )
        artists += [time_line, speed_line]
    ax.set_yscale("log")
    ax.set_xlabel("level")
    ax.set_ylabel("seconds (solid)")
    speed_ax.set_ylabel("MP/s (dashed)")
    ax.set_xticks(sorted({r.level for r in records}))
    ax.set_title("Time and throughput vs level (best of each backend)")
    ax.legend(handles=artists, fontsize="x-small", loc="upper right")
    return artists


def plot_backends(ax, records: list[Record], level: int | None = None) -> list:
    """Best MP/s of each backend on one level, labelled with the fraction of the decode limit."""
    records = best_records(records)
    level = _main_level(records) if level is None else level
    best = {name: by_level[level] for name, by_level in _best_per_backend_level(records).items() if level in by_level}
    best.pop("decode limit", None)
    if not best:
        return _no_data(ax)
    names = sorted(best, key=lambda n: best[n].mpix_per_s, reverse=True)
    bars = ax.bar(names, [best[n].mpix_per_s for n in names], color=[f"C{i}" for i in range(len(names))])
    artists = list(bars)
    for bar, name in zip(bars, names):
        r = best[name]
        text = label(r, backend=False)
        if r.fraction_of_limit is not None:
            text += f"\n{r.fraction_of_limit:.2f} of limit"
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=7)
    limit = _limit(records, level)
    if limit is not None:
        artists.append(ax.axhline(limit.mpix_per_s, color="black", linestyle="--", linewidth=1, label="decode limit"))
        ax.legend(fontsize="small")
    ax.set_ylabel("MP/s")
    ax.set_title(f"Level {level}: backends side by side")
    return artists


def plot_timeline(ax, record: Record | None) -> list:
    """Gantt chart of a record's tasks: one row per worker, one bar per region."""
    if record is None or not record.tasks:
        return _no_data(ax, "no tasks")
    by_worker = defaultdict(list)
    for t in record.tasks:
        by_worker[t.worker].append((t.start, max(t.end - t.start, 1e-6)))
    artists = []
    for worker, spans in sorted(by_worker.items()):
        artists.append(ax.broken_barh(spans, (worker - 0.4, 0.8), facecolors=f"C{worker % 10}", edgecolor="white"))
    ax.set_yticks(sorted(by_worker))
    ax.set_yticklabels([f"worker {w}" for w in sorted(by_worker)])
    ax.set_xlabel("seconds from start")
    ax.set_title(f"Timeline: {record.label}, level {record.level}")
    return artists


def plot_summary(fig, records: list[Record]) -> list:
    """The four plots in a 2 x 2 grid of ``fig``; the timeline shows the fastest configuration."""
    axes = fig.subplots(2, 2)
    measured = [r for r in best_records(records) if not is_reference(r)]
    level = _main_level(measured)
    fastest = max((r for r in measured if r.level == level), key=lambda r: r.mpix_per_s, default=None)
    return [
        plot_time_vs_workers(axes[0, 0], records),
        plot_backends(axes[0, 1], records),
        plot_time_vs_level(axes[1, 0], records),
        plot_timeline(axes[1, 1], fastest),
    ]
