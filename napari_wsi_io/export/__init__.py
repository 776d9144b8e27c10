"""Export a slide, or some of its levels, to OME-Zarr with bounded memory.

Format
    OME-NGFF 0.5 on Zarr v3 (``format="0.5"``, the default, what ome-zarr-py
    and napari-ome-zarr write by default), sharded: each file holds a shard
    of 4096 x 4096 px (``shard="auto"``; 16 chunks of 1024 px) with the
    ``sharding_indexed`` codec, so a level is a few dozen files instead of
    thousands; ``shard=None`` writes one file per chunk.  The NGFF metadata
    sits under ``ome`` in the group's ``zarr.json``.  ``format="0.4"`` writes
    OME-NGFF 0.4 on Zarr v2 (nested ``/`` chunk keys, one file per chunk,
    metadata in ``.zattrs``) for readers that know only Zarr v2 (zarr-python
    2, older ome-zarr-py and napari-ome-zarr).  One dataset per exported slide
    level, copied as decoded, never resampled.  Axes ``c, y, x`` for RGB
    (``y, x`` for grayscale): NGFF puts the channel axis before the space
    axes.  Scale is the level's pixel size in micrometre (level-0 mpp times
    the level's downsample on each axis), or level-0 pixels with no unit when
    the slide has no mpp; a half-pixel translation centres each level on
    level 0.  An ``omero`` block maps the channels to red, green and blue, so
    napari-ome-zarr shows the slide in colour.

Compression
    ``zstd`` (default, level 1) and ``lz4`` (level 5) in Blosc, ``none`` (all
    lossless) or ``jpeg`` (lossy, quality 90, one grayscale JPEG per channel
    and chunk, numcodecs id ``imagecodecs_jpeg``, in Zarr v3 the codec
    ``numcodecs.imagecodecs_jpeg``: a reader must call
    ``napari_wsi_io.export.register_jpeg_codec()`` before opening it).  Append
    ``:LEVEL`` to choose the Blosc level (1-9) or the JPEG quality.  Chunks are
    1024 x 1024 px by default.

Memory and schedulers
    Each task reads chunk-aligned blocks of about 1024 x 1024 px with
    ``Slide.read_level`` and writes them straight into their chunks; with
    sharding a task writes one whole shard (no two tasks write one file),
    appending each block's encoded chunks as it goes, and only two
    tasks per worker are in flight: no level is ever held in memory.  Tasks run
    on a thread pool (``threads``), a spawned process pool (``processes``) or
    an existing dask.distributed scheduler (its address).  Worker processes open
    the slide themselves by path, so no pixels travel between processes; with a
    cluster, slide and output must be on a file system every worker sees.

Atomicity
    The store is written as ``<OUT>.partial-<random>`` beside ``OUT``; its NGFF
    metadata (``ome`` in ``zarr.json`` for 0.5, ``.zattrs`` for 0.4) is written last, and it is renamed to ``OUT`` only when every
    block is written.  A failed, cancelled or interrupted export removes it; a
    killed process leaves it behind under that name (safe to delete), and
    never a store at ``OUT``.  An existing ``OUT`` is replaced only with
    ``overwrite``, only if it is a Zarr store, and only once the new one is
    complete.
"""

from __future__ import annotations

from ._codecs import COMPRESSIONS, Compression, parse_compression, register_jpeg_codec
from ._engine import ExportError, ExportProgress, ExportSummary, export_ome_zarr, export_steps, parse_levels
from ._ngff import NGFF_VERSION
from ._store import DEFAULT_CHUNK, DEFAULT_FORMAT, DEFAULT_SHARD, FORMATS, ZARR_FORMAT

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_CHUNK",
    "DEFAULT_FORMAT",
    "DEFAULT_SHARD",
    "FORMATS",
    "NGFF_VERSION",
    "ZARR_FORMAT",
    "Compression",
    "ExportError",
    "ExportProgress",
    "ExportSummary",
    "export_ome_zarr",
    "export_steps",
    "parse_compression",
    "parse_levels",
    "register_jpeg_codec",
]
