import numpy as np

from napari_wsi_io import _scratch
from napari_wsi_io._scratch import recycled, scratch


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_a_recycled_buffer_is_reused_only_once_nothing_holds_it(monkeypatch):
    monkeypatch.setattr(_scratch, "_kept", [])  # what earlier tests left is not this test's
    shape = (1500, 2000, 3)  # 9 MB: kept
    first = recycled(shape, np.uint8)
    first[:] = 7
    derived = first[10:20, :, 1]  # napari keeps views of what it was given
    del first
    second = recycled(shape, np.uint8)
    assert not np.shares_memory(second, derived)
    second[:] = 0
    assert (derived == 7).all()
    second_address = _address(second)
    del second
    again = recycled((1400, 2000, 3), np.uint8)  # free again: reused, and a little smaller fits too
    assert _address(again) == second_address
    assert again.shape == (1400, 2000, 3) and again.flags.writeable
    assert not np.shares_memory(recycled(shape, np.uint8), derived)
    assert len(_scratch._kept) <= 3


def test_views_of_another_size_reuse_the_kept_buffers(monkeypatch):
    """napari's views change size with every level and chunk edge: a new buffer is as big as the biggest kept."""
    monkeypatch.setattr(_scratch, "_kept", [])
    big = recycled((3000, 5000, 3), np.uint8)
    small = recycled((2000, 3000, 3), np.uint8)  # ``big`` is held: a new buffer, as big as ``big``'s
    assert [b.nbytes for b in _scratch._kept] == [3000 * 5000 * 3] * 2
    addresses = {_address(big), _address(small)}
    del big, small
    assert _address(recycled((3000, 5000, 3), np.uint8)) in addresses  # a bigger view fits a freed buffer
    held = recycled((2500, 5000, 3), np.uint8)
    assert _address(held) in addresses and len(_scratch._kept) == 2


def test_small_recycled_arrays_are_plain_and_scratch_is_per_key():
    small = recycled((10, 10, 3), np.uint8)
    assert small.base is None and small.shape == (10, 10, 3)
    a = scratch("a", (100,), np.float32)
    assert np.shares_memory(scratch("a", (50,), np.float32), a)
    assert not np.shares_memory(scratch("b", (100,), np.float32), a)
