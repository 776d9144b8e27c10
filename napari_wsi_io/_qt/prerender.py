"""Slice before the render, so that a pan shows its new data in the frame the move asks for.

napari picks the level and the region of a multiscale layer in its canvas ``on_draw``, which it connects
to vispy's draw event with ``position='last'``: after the scene has been rendered.  A move that needs new
data therefore draws the old data at the new place first, slices, and shows the new data one frame later.
Under software OpenGL a 1920x1080 frame costs about 40 ms, so that is two frames a step.

``install(viewer)`` also runs napari's own ``on_draw`` first in the draw event (vispy's documented
``position='first'``), so that the slice (with sync slicing) and the texture upload happen before the
render.  napari's own callback still runs after the render and then finds nothing to do.  Everything
napari draws goes through the same ``on_draw``, so other layers slice as they would, only earlier.

While it slices, a chunk of the view that is not decoded yet is drawn from a cached coarser level
(``pyramid.slicing_in_frame``; the coarsest level stays resident, so there always is one) instead of
holding the frame; the layer is sliced again when the chunk lands.  ``NAPARI_WSI_IO_COARSE_WHILE_LOADING=0``
makes frames wait for the decode instead.

It reaches into napari's canvas, so it is used only with napari versions it was checked against
(``TESTED_NAPARI``) and only where the canvas has the expected parts; anything else, or
``NAPARI_WSI_IO_PRERENDER=0``, leaves napari's default path.  A failure inside disconnects it.
"""

from __future__ import annotations

import logging
import os
import traceback
import weakref

from ..pyramid import display_state, slicing_in_frame

__all__ = [
    "COARSE_ENV_VAR",
    "PRERENDER_ENV_VAR",
    "TESTED_NAPARI",
    "install",
    "installed",
    "prerender_enabled",
    "uninstall",
]

PRERENDER_ENV_VAR = "NAPARI_WSI_IO_PRERENDER"
COARSE_ENV_VAR = "NAPARI_WSI_IO_COARSE_WHILE_LOADING"
TESTED_NAPARI = ((0, 9),)  # (major, minor) whose VispyCanvas.on_draw and draw-event order this was checked on
_ATTR = "_napari_wsi_io_prerender"
_LANDING_ATTR = "_napari_wsi_io_landing"  # set once the viewer's slide layers listen for landed chunks
_log = logging.getLogger(__name__)


def _env_on(name: str) -> bool:
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "off", "no")


def prerender_enabled() -> bool:
    """False when ``NAPARI_WSI_IO_PRERENDER`` is 0/false/off/no."""
    return _env_on(PRERENDER_ENV_VAR)


def coarse_enabled() -> bool:
    """False when ``NAPARI_WSI_IO_COARSE_WHILE_LOADING`` is 0/false/off/no: frames wait for the decode."""
    return _env_on(COARSE_ENV_VAR)


def supported(version: str | None = None) -> bool:
    """True for the napari versions this was checked against."""
    if version is None:
        import napari

        version = napari.__version__
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) in TESTED_NAPARI


def _canvas(viewer):
    """napari's VispyCanvas of a viewer, or None where it does not look as expected."""
    try:
        canvas = viewer.window._qt_viewer.canvas
        scene = canvas._scene_canvas
        draw = scene.events.draw
    except AttributeError:
        return None
    if not callable(getattr(canvas, "on_draw", None)) or not hasattr(draw, "connect"):
        return None
    return canvas


def installed(viewer) -> bool:
    canvas = _canvas(viewer)
    return canvas is not None and getattr(canvas, _ATTR, None) is not None


def install(viewer) -> bool:
    """Run napari's ``on_draw`` before the render in this viewer's canvas; False where it stays napari's way."""
    if not prerender_enabled() or not supported():
        return False
    canvas = _canvas(viewer)
    if canvas is None:
        return False
    if getattr(canvas, _ATTR, None) is not None:
        return True
    scene = canvas._scene_canvas
    coarse = coarse_enabled()

    def before_render(event) -> None:
        # vispy's SceneCanvas.update() asks Qt for a frame unless one is pending; this very frame will show
        # what changes here, so mark one pending (vispy's on_draw clears the mark before it renders).
        pending = getattr(scene, "_update_pending", None)
        if isinstance(pending, bool):
            scene._update_pending = True
        try:
            with slicing_in_frame(coarse):
                canvas.on_draw(event)
        except Exception:  # leave napari's own path, which runs after the render, to do (and report) it
            # As text: a kept traceback would keep the viewer's frames alive.
            _log.warning("slicing before the render failed; back to napari's default\n%s", traceback.format_exc())
            uninstall(viewer)
        finally:
            if isinstance(pending, bool):
                scene._update_pending = pending

    scene.events.draw.connect(before_render, position="first")
    setattr(canvas, _ATTR, before_render)
    if coarse:
        _refresh_when_chunks_land(viewer, canvas)
    return True


def _refresh_when_chunks_land(viewer, canvas) -> None:
    """Slice a slide layer again (on the GUI thread) when chunks it showed coarse have been decoded."""
    if getattr(canvas, _LANDING_ATTR, False):  # installed again after ``uninstall``: the layers listen already
        return
    setattr(canvas, _LANDING_ATTR, True)
    from qtpy.QtCore import QObject, Signal

    class Landed(QObject):
        landed = Signal()

    relay = Landed(viewer.window._qt_window)  # lives and dies with the window
    pending: set = set()
    subscriptions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # layer: its pyramid's Subscription

    def refresh() -> None:
        layers = pending.copy()  # set copy and difference_update are atomic under the GIL; workers add meanwhile
        pending.difference_update(layers)
        for layer in layers:
            if layer in viewer.layers and layer.visible:
                subscriptions[layer].caught_up()  # this slice shows every chunk landed so far
                with slicing_in_frame():  # chunks still decoding stay coarse: no wait on the GUI thread
                    layer.refresh(extent=False, thumbnail=False)

    relay.landed.connect(refresh)  # queued: emitted from the chunk workers

    def hook(layer) -> None:
        state = display_state(layer.data[0]) if getattr(layer, "multiscale", False) else None
        if state is None or layer in subscriptions:  # not a slide's pyramid, or listening already
            return
        layer_ref = weakref.ref(layer)

        def landed() -> None:
            layer = layer_ref()
            if layer is not None:
                pending.add(layer)
                relay.landed.emit()  # one refresh takes every layer pending; later emits find none

        subscriptions[layer] = state.subscribe(landed)

    for layer in viewer.layers:
        hook(layer)
    viewer.layers.events.inserted.connect(lambda event: hook(event.value))


def uninstall(viewer) -> None:
    """Back to napari's default draw path."""
    canvas = _canvas(viewer)
    callback = getattr(canvas, _ATTR, None) if canvas is not None else None
    if callback is not None:
        canvas._scene_canvas.events.draw.disconnect(callback)
        setattr(canvas, _ATTR, None)


def install_on_current_viewer() -> bool:
    """From the reader: install in the viewer that is opening the slide, if there is one."""
    try:
        import napari

        viewer = napari.current_viewer()
    except Exception:  # no Qt application, no window: a script reading pixels
        return False
    return viewer is not None and install(viewer)
