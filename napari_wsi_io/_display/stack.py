"""A level with Z and T slider axes: the displayed levels of every (t, z) plane behind one (t, z, y, x) array.

napari slices a 3- or 4-dimensional layer with integers for the slider axes and slices for y and x: the
integers pick a plane, whose displayed level (a ``pyramid.display_pyramid`` level of a ``PlaneSlide``) is
sliced with the rest, so every plane keeps its chunk cache, prefetch and coarse stand-ins.  A dask
``stack`` of the planes would not: its slices are plain dask arrays that bypass the displayed levels.

``StackedDisplay`` is the display state of such a layer as a viewer sees it (``pyramid.display_state``):
subscribing subscribes to every plane's state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .state import PyramidDisplayState, Subscription

__all__ = ["PlaneStack", "StackedDisplay", "StackedSubscription"]


class StackedSubscription:
    """A listener's subscriptions to every plane of a stacked layer."""

    def __init__(self, parts: list[tuple[PyramidDisplayState, Subscription]]) -> None:
        self.parts = parts

    @property
    def due(self) -> int:
        return sum(sub.due for _, sub in self.parts)

    def caught_up(self) -> None:
        for _, sub in self.parts:
            sub.caught_up()


class StackedDisplay:
    """The display states of a stacked layer's planes, subscribed to, watched and closed together."""

    def __init__(self, states: Sequence[PyramidDisplayState]) -> None:
        self.states = list(states)

    def subscribe(self, listener: Callable[[], None]) -> StackedSubscription:
        return StackedSubscription([(state, state.subscribe(listener)) for state in self.states])

    def unsubscribe(self, subscription: StackedSubscription) -> None:
        for state, sub in subscription.parts:
            state.unsubscribe(sub)

    @property
    def provisional(self) -> bool:
        """Some plane shows chunks drawn coarse whose decode is queued."""
        return any(state.provisional for state in self.states)

    @property
    def refreshes_due(self) -> int:
        return sum(state.refreshes_due for state in self.states)

    def close(self) -> None:
        for state in self.states:
            state.close()


class PlaneStack:
    """One level of a layer with slider axes: shape (*lead, height, width), a displayed level per plane.

    ``planes`` lists the planes' levels in C order of ``lead`` (t, then z).
    """

    def __init__(self, planes: Sequence, lead: tuple[int, ...], display: StackedDisplay | None = None) -> None:
        if len(planes) != int(np.prod(lead)):
            raise ValueError(f"{len(planes)} planes for slider axes of sizes {lead}")
        self.planes, self.lead, self.display = list(planes), tuple(lead), display
        first = self.planes[0]
        self.shape = (*self.lead, *first.shape)
        self.dtype = first.dtype
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape))

    def __repr__(self) -> str:
        return f"PlaneStack(shape={self.shape}, dtype={self.dtype})"

    def __len__(self) -> int:
        return self.shape[0]

    def plane(self, *index: int):
        """The displayed level of plane ``index`` (one integer per slider axis)."""
        return self.planes[int(np.ravel_multi_index(index, self.lead))]

    def __getitem__(self, key):
        key = _expanded(key, self.ndim)
        n = len(self.lead)
        lead, rest = key[:n], key[n:]
        if all(isinstance(k, (int, np.integer)) for k in lead):
            index = tuple(range(size)[int(k)] for k, size in zip(lead, self.lead))
            return self.plane(*index)[rest]
        # A slice along a slider axis (napari's 3D view of the coarsest level): each plane read in turn.
        ranges = [range(size)[k] if isinstance(k, slice) else [range(size)[k]] for k, size in zip(lead, self.lead)]
        picks = np.array(np.meshgrid(*ranges, indexing="ij")).reshape(n, -1).T
        parts = [np.asarray(self.plane(*map(int, p))[rest]) for p in picks]
        shape = [len(r) for r, k in zip(ranges, lead) if isinstance(k, slice)]
        return np.stack(parts).reshape(*shape, *parts[0].shape) if parts else np.empty((0,), self.dtype)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        data = self[(slice(None),) * self.ndim]
        return data if dtype is None else data.astype(dtype, copy=False)


def _expanded(key, ndim: int) -> tuple:
    """``key`` as a tuple of ``ndim`` entries (Ellipsis and missing trailing axes as full slices)."""
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * (ndim - len(key) + 1) + key[i + 1 :]
    return key + (slice(None),) * (ndim - len(key))
