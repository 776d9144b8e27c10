"""The display state of a ``display_pyramid``: what napari looked at lately and what to read next.

``state.PyramidDisplayState`` is shared by the levels of one displayed pyramid.  It owns the pyramid's
entries in the shared chunk cache, remembers the recent views (a chunk read for one is cached, anything
else is a computation), queues the view's chunks and the guesses around it for the workers
(``guesses``, ``jobs``), keeps the coarsest level resident and draws a chunk not decoded yet from a
coarser level while listeners wait for it to land (``coarse``).  ``reads`` names who reads a chunk.

The package imports nothing of its own at import time, so that its modules can be imported one by one.
"""
