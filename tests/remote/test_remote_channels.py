"""Slides that store channels read over HTTP: every channel's pixels as the local file's, a layer each."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from napari_wsi_io import open_slide
from napari_wsi_io._reader import slide_layers


@pytest.mark.parametrize("kind", ["ome-channels", "qptiff"])
def test_every_channel_of_a_remote_slide_reads_as_the_local_one(url, served, kind):
    with open_slide(served[kind]) as local, open_slide(url(kind)) as remote:
        assert [c.name for c in remote.channels.channels] == [c.name for c in local.channels.channels]
        for channel in local.channels.channels:
            ours, theirs = remote.plane((channel.index, 0, 0)), local.plane((channel.index, 0, 0))
            for level in range(ours.level_count):
                w, h = ours.level_dimensions[level]
                np.testing.assert_array_equal(ours.read_level(level, 0, 0, w, h), theirs.read_level(level, 0, 0, w, h))
        plane = pickle.loads(pickle.dumps(remote.plane((2, 0, 0))))  # a worker process reopens it by URL
        np.testing.assert_array_equal(
            plane.read_level(1, 0, 0, 64, 64), local.plane((2, 0, 0)).read_level(1, 0, 0, 64, 64)
        )
    layers = slide_layers(url(kind))
    assert [m["name"] for _, m, _ in layers] == [c.name for c in local.channels.channels]
