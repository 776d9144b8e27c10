"""Where export tasks run: a thread pool, a process pool, or a dask.distributed cluster.

All three are existing executors (``concurrent.futures`` and
``distributed.Client``) behind the three calls the engine needs: submit a
task, wait for some to finish, shut down.  The engine keeps only a few tasks
in flight, so memory stays bounded and a cancel takes effect quickly.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable

__all__ = ["Executor", "LOCAL_SCHEDULERS", "open_executor"]

LOCAL_SCHEDULERS = ("threads", "processes")
_CONNECT_TIMEOUT_S = 10
_DRAIN_TIMEOUT_S = 60


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 16))


class Executor:
    """Runs export tasks; ``remote`` tells whether they run in other processes."""

    remote: bool
    workers: int
    description: str

    def submit(self, fn: Callable, *args): ...

    def wait(self, futures: set, timeout: float) -> tuple[set, set]:
        """(done, not done) after at least one finished or ``timeout`` seconds passed."""
        ...

    def shutdown(self, pending: set) -> None:
        """Stop: queued tasks are dropped, running ones are waited for, so no write follows."""
        ...


class _PoolExecutor(Executor):
    def __init__(self, kind: str, workers: int) -> None:
        self.remote = kind == "processes"
        self.workers = workers
        self.description = f"{workers} {kind[:-2] if workers == 1 else kind}"
        if self.remote:
            # spawn: forking a parent that runs zarr's event-loop thread and cuCIM threads is unsafe.
            context = multiprocessing.get_context("spawn")
            self._pool = cf.ProcessPoolExecutor(workers, mp_context=context)
        else:
            self._pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="wsi-export")

    def submit(self, fn: Callable, *args):
        return self._pool.submit(fn, *args)

    def wait(self, futures: set, timeout: float) -> tuple[set, set]:
        done, not_done = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return set(done), set(not_done)

    def shutdown(self, pending: set) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _DaskExecutor(Executor):
    """Tasks on an existing dask.distributed scheduler; its workers open the slide themselves."""

    remote = True

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ValueError(f"scheduler {address!r} needs dask.distributed: pip install distributed") from None
        try:
            self._client = Client(address, timeout=_CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"cannot connect to the dask scheduler at {address}: {exc}") from None
        try:
            self._client.wait_for_workers(1, timeout=_CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError):
            self._client.close()
            raise ValueError(f"the dask scheduler at {address} has no workers") from None
        self.workers = sum(self._client.nthreads().values())
        self.description = f"dask scheduler {address} ({self.workers} worker threads)"

    def submit(self, fn: Callable, *args):
        return self._client.submit(fn, *args, pure=False)

    def wait(self, futures: set, timeout: float) -> tuple[set, set]:
        from distributed import wait

        try:
            with self._client.as_current():  # wait() looks for the current client
                done, not_done = wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return set(), set(futures)
        return set(done), set(not_done)

    def shutdown(self, pending: set) -> None:
        from distributed import wait

        try:
            if pending:
                # A cancelled future's task may still be running on a worker: let the few
                # in flight finish instead, so none writes after the store is removed.
                try:
                    with self._client.as_current():
                        wait(list(pending), timeout=_DRAIN_TIMEOUT_S)
                except TimeoutError:
                    self._client.cancel(list(pending))
        finally:
            self._client.close()


def open_executor(scheduler: str, workers: int | None = None) -> Executor:
    """``threads``, ``processes`` or a dask.distributed scheduler address (``tcp://host:8786``)."""
    scheduler = scheduler.strip()
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if scheduler in LOCAL_SCHEDULERS:
        return _PoolExecutor(scheduler, workers or default_workers())
    if "://" not in scheduler and ":" not in scheduler:
        raise ValueError(f"scheduler must be threads, processes or a dask scheduler address, not {scheduler!r}")
    return _DaskExecutor(scheduler)
