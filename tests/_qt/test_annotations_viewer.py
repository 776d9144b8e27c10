"""QuPath annotations in a real napari viewer: dropped, opened or loaded from the menu over their slide, saved back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_wsi_io.annotations.geojson_read import read_geojson
from napari_wsi_io.annotations.synthetic import cell_features, qupath_feature, write_qupath_geojson

# QuPath pixel coordinates (x, y) on multiples of 4: edges of level-2 pixels too.
RING = [[400, 200], [800, 200], [800, 600], [400, 600], [400, 200]]
TUMOR = (200, 0, 0)


def _slide(viewer, path):
    return viewer.open(str(path), plugin="napari-wsi-io")[0]


def _region_file(folder, stem: str, extra: list | None = None) -> str:
    features = [qupath_feature({"type": "Polygon", "coordinates": [RING]}, name="region", class_name="Tumor",
                               rgb=TUMOR, measurements={"Area µm^2": 10080.0})]  # fmt: skip
    return write_qupath_geojson(folder / f"{stem}.geojson", features + (extra or []))


def _drop(viewer, path: str) -> list:
    """What a drag and drop onto the canvas does (napari's drop handler, no reader chosen)."""
    from qtpy.QtCore import QUrl

    before = len(viewer.layers)
    viewer.window._qt_viewer._open_from_list_of_urls_data([QUrl.fromLocalFile(path)], stack=False, choose_plugin=False)
    return list(viewer.layers)[before:]


def _canvas_xy(viewer, layer, local_xy) -> np.ndarray:
    """Where a point of a layer's vispy node (x, y) lands on the canvas, in screen pixels."""
    node = viewer.window._qt_viewer.canvas.layer_to_visual[layer].node
    return node.get_transform("visual", "canvas").map(np.asarray(local_xy, dtype=float))[:2]


def _show_level(viewer, qtbot, slide, level: int, zoom: float) -> None:
    viewer.scene.camera.center = (100.0, 150.0)
    viewer.scene.camera.zoom = zoom
    qtbot.waitUntil(lambda: slide.data_level == level, timeout=10000)
    qtbot.wait(300)


def test_dropped_geojson_lies_on_the_slide_pixels_at_every_level(make_napari_viewer, slides, tmp_path, qtbot):
    viewer = make_napari_viewer(show=True)
    slide = _slide(viewer, slides["svs"])
    added = _drop(viewer, _region_file(tmp_path, "aperio"))
    assert [type(layer).__name__ for layer in added] == ["Shapes"]
    shapes = added[0]
    assert tuple(shapes.scale) == pytest.approx(tuple(slide.scale))
    assert [str(u) for u in shapes.units] == ["micrometer", "micrometer"]
    # World µm of each vertex = where napari shows the edge of that level-0 pixel (its centre is at index p).
    corners = np.array([[200, 400], [200, 800], [600, 800], [600, 400]], dtype=float)
    world = np.array([shapes.data_to_world(v) for v in shapes.data[0]])
    np.testing.assert_allclose(world, [slide.data_to_world(c - 0.5) for c in corners], atol=1e-9)
    assert shapes.features["class"][0] == "Tumor" and shapes.features["Area µm^2"][0] == 10080.0
    np.testing.assert_allclose(shapes.edge_color[0], [200 / 255, 0, 0, 1])
    np.testing.assert_allclose(shapes.face_color[0][:3], [200 / 255, 0, 0])
    # On screen: the corners land on the edges of the texels napari draws, at level 0 and at level 2.
    mpp = slide.scale[0]
    for level, zoom in ((0, 1 / mpp), (2, 1 / mpp / 4.5)):
        _show_level(viewer, qtbot, slide, level, zoom)
        d = slide.downsample_factors[level][0]
        tile2data = slide._transforms["tile2data"]
        assert tuple(tile2data.scale) == (d, d)
        corner = np.asarray(tile2data.translate) / d  # the tile's first texel, in level pixels (y, x)
        for y, x in corners:
            texel_edge = _canvas_xy(viewer, slide, (x / d - corner[1], y / d - corner[0]))
            vertex = _canvas_xy(viewer, shapes, (x, y))
            np.testing.assert_allclose(vertex, texel_edge, atol=0.01)


def test_open_picks_the_slide_with_the_same_stem(make_napari_viewer, slides, tmp_path):
    viewer = make_napari_viewer()
    aperio = _slide(viewer, slides["svs"])
    generic = _slide(viewer, slides["jpeg"])  # topmost, mpp 0.5
    on_aperio = viewer.open(_region_file(tmp_path, "aperio"), plugin="napari-wsi-io")[0]
    assert tuple(on_aperio.scale) == pytest.approx(tuple(aperio.scale))
    on_generic = viewer.open(_region_file(tmp_path, "generic-jpeg_annotations"), plugin="napari-wsi-io")[0]
    assert tuple(on_generic.scale) == pytest.approx(tuple(generic.scale))
    assert tuple(generic.scale) == pytest.approx((0.5, 0.5))
    other = viewer.open(_region_file(tmp_path, "unrelated"), plugin="napari-wsi-io")[0]
    assert tuple(other.scale) == pytest.approx(tuple(generic.scale))  # no stem matches: the topmost slide


def test_without_a_slide_pixel_units_and_a_notice(make_napari_viewer, tmp_path):
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    layer = viewer.open(_region_file(tmp_path, "lonely"), plugin="napari-wsi-io")[0]
    assert tuple(layer.scale) == (1.0, 1.0) and tuple(layer.translate) == (-0.5, -0.5)
    assert any("no slide open" in str(n.message) for n in notification_manager.records)


def test_point_objects_become_a_points_layer(make_napari_viewer, slides, tmp_path):
    viewer = make_napari_viewer()
    slide = _slide(viewer, slides["svs"])
    dots = qupath_feature({"type": "MultiPoint", "coordinates": [[100.5, 50.5], [2000, 1000]]}, class_name="Immune",
                          rgb=(0, 0, 255))  # fmt: skip
    shapes, points = viewer.open(_region_file(tmp_path, "aperio", [dots]), plugin="napari-wsi-io")
    assert type(points).__name__ == "Points" and len(points.data) == 2
    np.testing.assert_allclose(points.data_to_world(points.data[0]), slide.data_to_world([50.0, 100.0]))
    assert list(points.features["class"]) == ["Immune", "Immune"]
    np.testing.assert_allclose(points.face_color[0], [0, 0, 1, 1])


def test_load_annotations_menu_command(make_napari_viewer, slides, tmp_path, monkeypatch):
    from napari._app_model import get_app_model
    from qtpy.QtWidgets import QFileDialog

    viewer = make_napari_viewer()
    slide = _slide(viewer, slides["svs"])
    app = get_app_model()
    items = [getattr(item, "command", None) for item in app.menus.get_menu("napari/file/io_utilities")]
    assert "napari-wsi-io.load_annotations" in [c.id for c in items if c is not None]
    path = _region_file(tmp_path, "aperio")
    asked = []

    def fake_dialog(parent, caption, directory, filter):
        asked.append(directory)
        return path, filter

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_dialog))
    app.commands.execute_command("napari-wsi-io.load_annotations").result()
    assert asked == [str(slides["svs"].parent)]  # the dialog starts beside the slide
    layer = viewer.layers[-1]
    assert type(layer).__name__ == "Shapes" and tuple(layer.scale) == pytest.approx(tuple(slide.scale))


def test_save_as_geojson_round_trip(make_napari_viewer, slides, tmp_path):
    viewer = make_napari_viewer()
    _slide(viewer, slides["svs"])
    dots = qupath_feature({"type": "Point", "coordinates": [123.25, 456.75]}, class_name="Immune", rgb=(0, 0, 255))
    src = write_qupath_geojson(tmp_path / "aperio.geojson", [*cell_features(30, (3000, 4000)), dots])
    layers = viewer.open(src, plugin="napari-wsi-io")
    viewer.layers.selection = set(layers)
    out = viewer.layers.save(str(tmp_path / "saved.geojson"), selected=True, plugin="napari-wsi-io")
    assert out == [str(tmp_path / "saved.geojson")]
    before, after = read_geojson(src), read_geojson(out[0])
    assert len(after.rings) == len(before.rings) == 30
    assert max(np.abs(a - b).max() for a, b in zip(before.rings, after.rings)) < 0.5
    np.testing.assert_allclose(after.points, before.points, atol=0.5)
    assert [o.class_name for o in after.objects] == [o.class_name for o in before.objects]
    written = json.loads((tmp_path / "saved.geojson").read_text())["features"]
    assert written[0]["properties"]["objectType"] == "cell"
    assert written[0]["properties"]["classification"] == {"name": "Tumor", "color": [200, 0, 0]}
    assert written[-1]["geometry"] == {"type": "Point", "coordinates": [123.25, 456.75]}


def test_shapes_drawn_in_the_viewer_are_saved_in_slide_pixels(make_napari_viewer, slides, tmp_path):
    viewer = make_napari_viewer()
    slide = _slide(viewer, slides["svs"])
    mpp = slide.scale[0]
    # A rectangle drawn in µm (a new Shapes layer has scale 1) around level-0 pixels x 100-300, y 40-90.
    top_left = np.asarray(slide.data_to_world([40 - 0.5, 100 - 0.5]))
    size = np.array([50, 200]) * mpp
    box = np.array([top_left, top_left + [0, size[1]], top_left + size, top_left + [size[0], 0]])
    drawn = viewer.add_shapes([box], shape_type="rectangle", features={"class": ["Stroma"]})
    viewer.layers.selection = {drawn}
    out = viewer.layers.save(str(tmp_path / "aperio-drawn.geojson"), selected=True)  # writer chosen by extension
    ann = read_geojson(out[0])
    np.testing.assert_allclose(ann.rings[0], [[40, 100], [40, 300], [90, 300], [90, 100]], atol=1e-3)
    assert ann.objects[0].class_name == "Stroma"


def test_bad_files_in_the_viewer(make_napari_viewer, slides, tmp_path):
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    _slide(viewer, slides["svs"])
    broken = tmp_path / "aperio.geojson"
    broken.write_text("{not json")
    with pytest.raises(Exception, match=f"cannot read {broken}: not valid JSON"):
        viewer.open(str(broken), plugin="napari-wsi-io")
    far = write_qupath_geojson(tmp_path / "far.geojson", [qupath_feature({"type": "Point", "coordinates": [9e5, 9e5]})])
    with pytest.raises(Exception, match="none of its 1 objects lie on slide 'aperio' \\(4000 x 3000 px\\)"):
        viewer.open(far, plugin="napari-wsi-io")
    assert len(viewer.layers) == 1  # nothing half-loaded
    odd = {"type": "Feature", "geometry": {"type": "Circle", "coordinates": [5, 5]}, "properties": {}}
    viewer.open(_region_file(tmp_path, "aperio", [odd, odd]), plugin="napari-wsi-io")
    assert any("2 objects left out (2 Circle geometry (not supported))" in str(n.message)
               for n in notification_manager.records)  # fmt: skip


def test_two_thousand_cells_open_and_draw(make_napari_viewer, slides, tmp_path, qtbot):
    # How long this takes is measured by benchmarks/annotations.py (the 3 s), not here.
    viewer = make_napari_viewer(show=True)
    _slide(viewer, slides["svs"])
    path = write_qupath_geojson(tmp_path / "aperio.geojson", cell_features(2000, (3000, 4000), radius=6))
    canvas = viewer.window._qt_viewer.canvas._scene_canvas
    drawn = []
    canvas.events.draw.connect(lambda _e: drawn.append(True), position="last")
    layer = viewer.open(path, plugin="napari-wsi-io")[0]
    seen = len(drawn)
    viewer.window._qt_viewer.canvas.native.update()
    qtbot.waitUntil(lambda: len(drawn) > seen, timeout=10000)
    assert len(layer.data) == 2000
    assert layer.features["class"].value_counts().to_dict() == {"Tumor": 1000, "Stroma": 1000}
