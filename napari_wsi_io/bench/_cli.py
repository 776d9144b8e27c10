"""``napari-wsi-io bench PATH``: measure how fast a level loads; progress on stderr, summary on stdout."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "default_level", "run"]

_DEFAULT_MAX_MEGAPIXELS = 200
_EPILOG = """\
The decode limit (every compressed tile decoded on one core, times the cores: JPEG
tiles by libjpeg-turbo, other codecs by tifffile's) is always measured; each result
is also given as a fraction of it.  Example:
  napari-wsi-io bench slide.svs --level 2 --strategy threads,processes,cucim --workers 1,2,4 \\
      --backend cucim,openslide --sink assemble --json out.json --plot out.png
"""


def _names(allowed: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in allowed]
        if not names or unknown:
            raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(allowed)}")
        return names

    return parse


def _ints(text: str) -> list[int]:
    try:
        values = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive whole numbers, e.g. 1,2,4")
    return values


def _levels(text: str) -> list[int] | str | None:
    if text in ("all", "auto"):
        return None if text == "all" else text
    try:
        values = [int(n) for n in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a level number, a list such as 0,2, or 'all'") from None
    return values


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive whole number")
    return value


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="how fast a slide level loads, by backend, strategy, chunking and worker count",
        description="Measure how fast a slide level loads; progress on stderr, a summary table on stdout.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path")
    p.add_argument(
        "--level",
        type=_levels,
        default="auto",
        help=f"level number(s) or 'all' (default: the largest level of at most {_DEFAULT_MAX_MEGAPIXELS} megapixels)",
    )
    _add_plan_options(p)
    p.add_argument("--json", metavar="OUT", help="write every record, with its tasks, as JSON")
    p.add_argument("--csv", metavar="OUT", help="write every record as CSV")
    p.add_argument("--plot", metavar="OUT.png", help="save the plots in one figure")
    p.set_defaults(func=run)


def _add_plan_options(p: argparse.ArgumentParser) -> None:
    """What to measure; the defaults are ``BenchPlan``'s, except that the CLI compares three backends."""
    from ..backends import BACKENDS
    from .plan import BenchPlan
    from .regions import CHUNKINGS
    from .sinks import SINKS
    from .strategies import STRATEGIES

    defaults = BenchPlan(path="")
    p.add_argument(
        "--strategy",
        type=_names(STRATEGIES),
        default=defaults.strategies,
        help=f"{', '.join(STRATEGIES)} (default {','.join(defaults.strategies)})",
    )
    p.add_argument(
        "--chunk",
        type=_names(CHUNKINGS),
        default=defaults.chunkings,
        help=f"{', '.join(CHUNKINGS)} (default {','.join(defaults.chunkings)})",
    )
    p.add_argument("--chunk-size", type=_positive, default=None, help="region side in pixels (default: file tiles)")
    p.add_argument(
        "--workers",
        type=_ints,
        default=defaults.workers,
        help=f"worker counts (default {','.join(map(str, defaults.workers))})",
    )
    p.add_argument(
        "--backend",
        type=_names(tuple(BACKENDS)),
        default=["cucim", "tifffile", "openslide"],
        help="backends to compare; those not installed are skipped (default cucim,tifffile,openslide)",
    )
    p.add_argument(
        "--sink",
        choices=SINKS,
        default=defaults.sink,
        help="discard (decode only), assemble (one array in memory) or zarr (a temporary store); "
        f"default {defaults.sink}",
    )
    p.add_argument(
        "--repeat", type=_positive, default=defaults.repeats, help="repeats of every configuration (the best counts)"
    )
    p.add_argument("--batch-size", type=_positive, default=None, help="cucim-batch batch size (default: workers)")
    p.add_argument(
        "--in-flight",
        type=_ints,
        default=defaults.in_flight,
        help="for a URL: requests in flight, each measured "
        f"(default {','.join(map(str, defaults.in_flight))}); ignored for local files",
    )
    p.add_argument(
        "--colour",
        choices=("raw", "srgb"),
        default=defaults.colour,
        help="raw: the pixels the file stores (default); srgb: through the slide's ICC profile, if any "
        "(the cucim strategies read cuCIM itself: raw)",
    )


def default_level(slide) -> int:
    """The largest level of at most 200 megapixels (the last level when all are larger)."""
    for level, (w, h) in enumerate(slide.level_dimensions):
        if w * h <= _DEFAULT_MAX_MEGAPIXELS * 1e6:
            return level
    return slide.level_count - 1


def _drive(gen, total_hint: int):
    from tqdm import tqdm

    bar = tqdm(total=total_hint, file=sys.stderr, unit="task", mininterval=0.2, dynamic_ncols=True)
    try:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                return stop.value
            bar.total = event.total
            bar.update(event.done - bar.n)
            bar.set_description_str(event.message[:60], refresh=False)
            if event.record is not None:
                bar.write(event.message, file=sys.stderr)
    finally:
        gen.close()
        bar.close()


def _table(result) -> list[str]:
    from .records import best_records

    rows = sorted(best_records(result.records), key=lambda r: (r.level, -r.mpix_per_s))
    header = f"{'level':>5}  {'backend':<11} {'strategy':<12} {'chunk':<8} {'workers':>7} {'seconds':>8} "
    header += f"{'MP/s':>8} {'MB/s':>8} {'of limit':>8} {'peak MB':>8} {'max diff':>8}"
    remote = any(r.in_flight for r in rows)  # a URL: the requests in flight of each row
    lines = [header + (f" {'in flight':>9}" if remote else "")]
    for r in rows:
        fraction = f"{r.fraction_of_limit:.2f}" if r.fraction_of_limit is not None else "-"
        diff = "-" if r.max_abs_diff is None else str(r.max_abs_diff)
        lines.append(
            f"{r.level:>5}  {r.backend:<11} {r.strategy:<12} {r.chunk:<8} {r.workers:>7} {r.seconds:>8.3f} "
            f"{r.mpix_per_s:>8.1f} {r.mb_per_s or 0:>8.1f} {fraction:>8} {r.peak_rss_mb:>8.0f} {diff:>8}"
            + (f" {r.in_flight or '-':>9}" if remote else "")
        )
    return lines


def _best_lines(result) -> list[str]:
    from .records import summary

    lines = []
    for level, s in summary(result)["levels"].items():
        best = s["best"]
        if best is None:
            continue
        text = f"level {level}: best {best.label}: {s['mpix_per_s']:.1f} MP/s"
        if best.mb_per_s:
            text += f" ({best.mb_per_s:.0f} MB/s, {best.bytes_per_pixel} bytes a pixel)"
        if s["fraction_of_limit"] is not None:
            text += f", {s['fraction_of_limit']:.2f} of the decode limit"
        if s["speedup_vs_openslide"] is not None:
            text += f", {s['speedup_vs_openslide']:.1f}x OpenSlide"
        lines.append(text)
    return lines


def save_plot(result, path: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .plots import plot_summary

    fig = Figure(figsize=(13, 9), layout="constrained")
    FigureCanvasAgg(fig)
    plot_summary(fig, result.records)
    fig.savefig(path, dpi=100)


def run(args: argparse.Namespace) -> int:
    from .engine import run_plan
    from .plan import BenchPlan
    from .readers import open_cpu
    from .records import save_csv, save_json

    levels = args.level
    if levels == "auto":
        with open_cpu(args.path) as slide:
            levels = [default_level(slide)]
    plan = BenchPlan(
        path=args.path,
        levels=levels,
        backends=args.backend,
        strategies=args.strategy,
        chunkings=args.chunk,
        workers=args.workers,
        sink=args.sink,
        repeats=args.repeat,
        chunk_size=args.chunk_size,
        batch_size=args.batch_size,
        in_flight=args.in_flight,
        colour=args.colour,
    )
    for note in plan.check():
        print(f"note: {note}", file=sys.stderr)
    result = _drive(run_plan(plan), 0)
    print("\n".join(_table(result)))
    print()
    print("\n".join(_best_lines(result)))
    if args.json:
        save_json(result, args.json)
    if args.csv:
        save_csv(result, args.csv)
    if args.plot:
        save_plot(result, args.plot)
    return 0
