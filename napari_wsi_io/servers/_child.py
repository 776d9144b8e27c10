"""A server run as a child process: wait until it answers, stop it."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

__all__ = ["stop_child", "wait_until_answering"]


def wait_until_answering(
    proc: subprocess.Popen, answered: Callable[[], bool], timeout: float, pause: float, exited: Callable[[], str]
) -> bool:
    """Ask ``answered`` until it says yes (an ``OSError`` means not yet: pause, ask again); False on timeout.

    Raises ``RuntimeError(exited())`` as soon as the child has exited: no point waiting for it.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(exited())
        try:
            if answered():
                return True
        except OSError:
            time.sleep(pause)
    return False


def stop_child(proc: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to a running child, wait up to 10 s for it to end, then kill it."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
