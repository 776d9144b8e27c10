"""Issue 20's budgets for slides over the network, printed as ratios to the local read of the same run.

The gigapixel sample (60000 x 40000 JPEG, generated on first use) is served by nginx on the loopback, behind
a proxy adding ``--rtt`` of round-trip time (40 ms).  Each round opens the slide through the reader (what
``napari URL`` does: open, level table, display pyramid), then reads a 1920x1080 level-0 view through the
displayed pyramid (a new place each round, so neither run finds it cached), locally and by URL:

- open:            remote <= local + 10 RTT + 0.5 s
- first viewport:  remote <= local + 4 RTT + 150 ms

It also shows the requests each step took, that panning back to the first view (after a view further down)
costs none, and the first viewport with 1, 4, 16 and 64 requests in flight.  The local slide opens with the default backend (cuCIM where installed).

    python benchmarks/remote.py [--rtt 0.04] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time

import numpy as np

from napari_wsi_io._reader import slide_layers
from napari_wsi_io.pyramid import close_display_pyramid
from napari_wsi_io.servers import LatencyProxy, NginxServer
from napari_wsi_io.synthetic import sample_slide_path

_VIEW = (1080, 1920)


def _view_origin(round_: int, shape: tuple[int, ...]) -> tuple[int, int]:
    """A different level-0 place per round, away from the others (tissue or glass, like a user's)."""
    h, w = shape[:2]
    y = (h // 7) * (1 + round_ % 5)
    x = (w // 9) * (1 + (round_ * 3) % 7)
    return min(y, h - _VIEW[0]), min(x, w - _VIEW[1])


def _settle(transport, limit: float = 10.0) -> None:
    """Wait until no request has gone out for 0.3 s (the background prefetch is done), ``limit`` s at most."""
    deadline, last = time.monotonic() + limit, -1
    while transport is not None and transport.requests != last and time.monotonic() < deadline:
        last = transport.requests
        time.sleep(0.3)


def _open_and_view(target: str, round_: int, in_flight: int | None = None) -> dict:
    """Seconds to open ``target`` as napari's reader does and to read one level-0 view; requests made."""
    if in_flight is not None:
        os.environ["NAPARI_WSI_IO_REMOTE_REQUESTS"] = str(in_flight)
    t0 = time.perf_counter()
    levels, kwargs, _ = slide_layers(target)[0]
    t1 = time.perf_counter()
    slide = levels[0].source.slide
    transport = getattr(slide.source, "transport", None)
    opened = transport.requests if transport else 0
    y, x = _view_origin(round_, levels[0].shape)
    view = np.asarray(levels[0][y : y + _VIEW[0], x : x + _VIEW[1]])
    t2 = time.perf_counter()
    viewed = transport.requests if transport else 0
    _settle(transport)  # the neighbours the prefetcher fetches after the view are not panning back's
    levels[0][y + _VIEW[0] : y + 2 * _VIEW[0], x : x + _VIEW[1]].compute()  # pan a view down, then back
    _settle(transport)
    back_from = transport.requests if transport else 0
    again = np.asarray(levels[0][y : y + _VIEW[0], x : x + _VIEW[1]])
    back = (transport.requests if transport else 0) - back_from
    assert np.array_equal(view, again)
    result = {"open": t1 - t0, "view": t2 - t1, "open_requests": opened, "view_requests": viewed - opened}
    result.update(back_requests=back, pixels=view, backend=slide.backend)
    close_display_pyramid(levels)
    slide.close()
    del levels, slide
    gc.collect()
    return result


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _report(local: list[dict], remote: list[dict], rtt: float) -> bool:
    ok = True
    for key, rtts, extra, what in (("open", 10, 0.5, "open"), ("view", 4, 0.150, "first 1920x1080 level-0 view")):
        lo, re_ = _median(local, key), _median(remote, key)
        budget = lo + rtts * rtt + extra
        ok &= re_ <= budget
        print(
            f"{what}: local {lo * 1e3:.0f} ms ({local[0]['backend']}), remote {re_ * 1e3:.0f} ms "
            f"= {re_ / lo:.2f}x local, {(re_ - lo) / rtt:.1f} RTT more; budget local + {rtts} RTT + "
            f"{extra * 1e3:.0f} ms = {budget * 1e3:.0f} ms: {'ok' if re_ <= budget else 'OVER'}"
        )
    print(
        f"requests: open {_median(remote, 'open_requests'):.0f}, view {_median(remote, 'view_requests'):.0f}, "
        f"panning back {max(r['back_requests'] for r in remote)}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rtt", type=float, default=0.040, help="round-trip time the proxy adds (s)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    path = sample_slide_path()
    with NginxServer(path.parent) as server, LatencyProxy(server.port, args.rtt) as proxy:
        url = f"{proxy.url}/slides/{path.name}"
        local, remote = [], []
        for i in range(args.rounds):  # interleaved: load on the machine hits both alike
            local.append(_open_and_view(str(path), i))
            remote.append(_open_and_view(url, i))
            assert np.array_equal(local[-1]["pixels"], remote[-1]["pixels"]), "remote pixels differ"
        print(f"{path.name}, RTT {args.rtt * 1e3:.0f} ms, median of {args.rounds} rounds; pixels equal")
        ok = _report(local, remote, args.rtt)
        sweep = []
        for n in (1, 4, 16, 64):
            runs = [_open_and_view(url, args.rounds + i, in_flight=n) for i in range(max(1, args.rounds // 2))]
            sweep.append(f"{n}: {_median(runs, 'view') * 1e3:.0f} ms")
        os.environ.pop("NAPARI_WSI_IO_REMOTE_REQUESTS", None)
        print("first view by requests in flight: " + ", ".join(sweep))
    print("all budgets met" if ok else "a budget was missed")


if __name__ == "__main__":
    main()
