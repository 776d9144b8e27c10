"""Helpers of ``benchmarks/pan.py``: the canvas watch, the references, the camera moves, the figures.

The script puts its own folder on ``sys.path``, so ``python benchmarks/pan.py`` imports these as ``_pan``.
"""
