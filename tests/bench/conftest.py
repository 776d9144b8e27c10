"""Small slides and a leftover check for the benchmark engine tests."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import psutil
import pytest

from napari_wsi_io.bench.sinks import SHM_PREFIX, TEMP_PREFIX
from napari_wsi_io.synthetic import write_synthetic_slide


@pytest.fixture(scope="session")
def bench_slide(tmp_path_factory) -> Path:
    """A small Aperio-like JPEG pyramid (2000 x 1500, 256 px tiles) every backend reads."""
    return write_synthetic_slide(tmp_path_factory.mktemp("bench") / "small.svs", (1500, 2000), aperio=True)


def _helper_process(proc: psutil.Process) -> bool:
    """multiprocessing's resource tracker: one per interpreter, started with the first spawn, not a worker."""
    try:
        return "resource_tracker" in " ".join(proc.cmdline())
    except psutil.Error:
        return True


class Leftovers:
    """What a run may leave behind: threads, child processes, shared memory, temporary stores."""

    def __init__(self, temp_dir: Path) -> None:
        self.temp_dir = temp_dir
        self.children_before = {p.pid for p in psutil.Process().children(recursive=True)}

    def children(self) -> list[psutil.Process]:
        now = psutil.Process().children(recursive=True)
        return [p for p in now if p.pid not in self.children_before and not _helper_process(p)]

    def shared_memory(self) -> list[str]:
        if not os.path.isdir("/dev/shm"):
            return []
        return [n for n in os.listdir("/dev/shm") if n.startswith(f"{SHM_PREFIX}{os.getpid()}-")]

    def temp_files(self) -> list[str]:
        return [n for n in os.listdir(self.temp_dir) if n.startswith(TEMP_PREFIX)]

    def threads(self) -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("wsi-bench")]

    def assert_none(self) -> None:
        assert self.threads() == []
        assert self.children() == []
        assert self.shared_memory() == []
        assert self.temp_files() == []


@pytest.fixture
def leftovers(tmp_path, monkeypatch) -> Leftovers:
    """Temporary stores go to ``tmp_path`` so that the check sees only this test's."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return Leftovers(tmp_path)
