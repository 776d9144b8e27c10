"""QuPath GeoJSON without a viewer: parsing both QuPath layouts, colours, holes, bad input, placement, writing."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import numpy as np
import pytest
from qt_free import run_without_qt

from napari_wsi_io.annotations import layers as ann_layers
from napari_wsi_io.annotations.colors import decode_color
from napari_wsi_io.annotations.geojson_read import AnnotationReadError, read_geojson
from napari_wsi_io.annotations.napari_io import annotation_layers, napari_get_reader, write_annotations
from napari_wsi_io.annotations.placement import SlideFrame, drop_outside, pick_slide_layer
from napari_wsi_io.annotations.synthetic import cell_features, qupath_feature, write_qupath_geojson

SQUARE = [[10, 20], [110, 20], [110, 70], [10, 70], [10, 20]]
HOLE = [[30, 30], [40, 30], [40, 40], [30, 30]]


def _objects(layout: str) -> list[dict]:
    return [
        qupath_feature({"type": "Polygon", "coordinates": [SQUARE, HOLE]}, name="region", class_name="Tumor",
                       rgb=(200, 0, 0), measurements={"Area px": 4950.0, "class": 3.0}, layout=layout, uid="u-1"),
        qupath_feature({"type": "LineString", "coordinates": [[0, 0], [50, 5.5]]}, class_name="Stroma",
                       rgb=(0, 150, 0), layout=layout),
        qupath_feature({"type": "MultiPoint", "coordinates": [[1, 2], [3.25, 4]]}, name="dots", layout=layout),
        qupath_feature({"type": "MultiPolygon", "coordinates": [[SQUARE], [[[200, 0], [210, 0], [205, 8]]]]},
                       object_type="detection", layout=layout),
    ]  # fmt: skip


def _shape_layer(layers):
    return next((d, k) for d, k, t in layers if t == "shapes")


@pytest.mark.parametrize("layout", ["0.4", "0.2"])
def test_both_qupath_layouts_give_rings_classes_colours_and_measurements(tmp_path, layout):
    path = write_qupath_geojson(tmp_path / f"s-{layout}.geojson", _objects(layout), layout=layout)
    ann = read_geojson(path)
    assert [o.class_name for o in ann.objects] == ["Tumor", "Stroma", "", ""]
    assert [o.class_rgb for o in ann.objects] == [(200, 0, 0), (0, 150, 0), None, None]
    assert [o.object_type for o in ann.objects] == ["annotation", "annotation", "annotation", "detection"]
    assert ann.objects[0].measurements == {"Area px": 4950.0, "class": 3.0}
    assert ann.objects[0].name == "region" and ann.objects[2].name == "dots"
    assert ann.ring_part == ["outer", "hole", "line", "outer", "outer"]
    assert ann.ring_object == [0, 0, 1, 3, 3]
    # (y, x), the closing vertex dropped.
    np.testing.assert_array_equal(ann.rings[0], [[20, 10], [20, 110], [70, 110], [70, 10]])
    np.testing.assert_array_equal(ann.points, [[2, 1], [4, 3.25]])
    assert not ann.skipped


def test_packed_and_list_colours():
    assert decode_color(-65536) == (255, 0, 0)  # QuPath's red, alpha byte set
    assert decode_color(-16711936) == (0, 255, 0)
    assert decode_color(0x0000FF) == (0, 0, 255)
    assert decode_color([12, 34, 56]) == (12, 34, 56)
    assert decode_color([12, 34, 56, 255]) == (12, 34, 56)
    assert decode_color("red") is None and decode_color(True) is None and decode_color([300, 0, 0]) is None


def test_features_colours_and_holes_in_the_layer_data(tmp_path):
    path = write_qupath_geojson(tmp_path / "s.geojson", _objects("0.4"))
    layers = annotation_layers(path, [])
    assert [t for _, _, t in layers] == ["shapes", "points"]
    data, kwargs = _shape_layer(layers)
    features = kwargs["features"]
    assert list(features["class"]) == ["Tumor", "Tumor", "Stroma", "", ""]
    assert list(features["part"]) == ["outer", "hole", "line", "outer", "outer"]
    assert features["Area px"][0] == 4950.0 and np.isnan(features["Area px"][2])
    assert features["measurement: class"][0] == 3.0  # a measurement named like a reserved column
    assert kwargs["shape_type"] == ["polygon", "polygon", "path", "polygon", "polygon"]
    np.testing.assert_allclose(kwargs["edge_color"][0], [200 / 255, 0, 0, 1])
    np.testing.assert_allclose(kwargs["face_color"][0], [200 / 255, 0, 0, ann_layers.FACE_ALPHA])
    assert kwargs["face_color"][1][3] == 0  # the hole is not filled
    assert kwargs["face_color"][2][3] == 0  # nor the line
    np.testing.assert_allclose(kwargs["edge_color"][4], [1, 0, 0, 1])  # no class: QuPath's default red


def test_invalid_json_names_file_and_place(tmp_path):
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [\n  {"type": "Feature",, }]}')
    with pytest.raises(AnnotationReadError, match=r"cannot read .*broken.geojson: not valid JSON .*line 2"):
        read_geojson(path)
    (tmp_path / "other.geojson").write_text('{"hello": 1}')
    with pytest.raises(AnnotationReadError, match="not GeoJSON"):
        read_geojson(tmp_path / "other.geojson")
    (tmp_path / "binary.geojson").write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(AnnotationReadError, match="not a text file"):
        read_geojson(tmp_path / "binary.geojson")


def test_unknown_and_malformed_geometries_are_counted_not_silently_dropped(tmp_path, monkeypatch):
    good = qupath_feature({"type": "Polygon", "coordinates": [SQUARE]})
    bad = [
        {"type": "Feature", "geometry": {"type": "Circle", "coordinates": [5, 5], "radius": 3}, "properties": {}},
        {"type": "Feature", "geometry": {"type": "Circle", "coordinates": [9, 9]}, "properties": {}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], ["a", 1]]]}, "properties": {}},
        {"type": "Feature", "geometry": None, "properties": {}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[1, 1]]}, "properties": {}},
    ]
    path = write_qupath_geojson(tmp_path / "mixed.geojson", [good, *bad])
    ann = read_geojson(path)
    assert len(ann.objects) == 1
    assert ann.skipped == {"Circle geometry (not supported)": 2, "malformed coordinates": 1, "no geometry": 1,
                           "degenerate geometry (too few vertices)": 1}  # fmt: skip
    notices = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", notices.append)
    annotation_layers(path, [])
    assert len(notices) == 1
    assert "1 objects" in notices[0] and "5 objects left out (2 Circle geometry (not supported)" in notices[0]
    assert "no slide open" in notices[0]
    only_bad = write_qupath_geojson(tmp_path / "bad.geojson", bad)
    with pytest.raises(AnnotationReadError, match="no objects napari can show: 5 objects left out"):
        annotation_layers(only_bad, [])


def test_a_huge_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "cells.geojson"
    with open(path, "wb") as f:  # 500 MB, sparse: nothing is written, nothing may be read
        f.truncate(500 * 10**6)
    start = time.perf_counter()
    with pytest.raises(AnnotationReadError, match=r"cells.geojson: the file is 500 MB, more than the 256 MB"):
        read_geojson(path)
    assert time.perf_counter() - start < 0.5


def _slide(name, path, shape=(1000, 2000), scale=(0.5, 0.5), translate=(0.0, 0.0)):
    """What placement reads of a slide layer."""
    return SimpleNamespace(
        name=name, metadata={"path": path, "mpp": (scale[1], scale[0])}, multiscale=True,
        level_shapes=[np.array(shape)], scale=np.array(scale), translate=np.array(translate),
        units=("micrometer", "micrometer"),
    )  # fmt: skip


def test_the_slide_with_the_same_stem_is_chosen_else_the_topmost():
    a, b = _slide("CMU-1", "/d/CMU-1.svs"), _slide("other", "/d/other.ndpi")
    assoc = SimpleNamespace(name="CMU-1 label", metadata={"path": "/d/CMU-1.svs", "associated_image": "label"})
    assert pick_slide_layer([a, b, assoc], "/x/CMU-1.geojson") is a
    assert pick_slide_layer([a, b], "/x/CMU-1.svs.geojson") is a
    assert pick_slide_layer([b, a], "/x/CMU-1_annotations.geojson") is a
    assert pick_slide_layer([a, b], "/x/unrelated.geojson") is b
    assert pick_slide_layer([assoc], "/x/CMU-1.geojson") is None


def test_objects_off_the_slide_are_left_out_with_a_word(tmp_path):
    features = [
        qupath_feature({"type": "Polygon", "coordinates": [SQUARE]}),
        qupath_feature({"type": "Polygon", "coordinates": [[[1990, 10], [2050, 10], [2000, 30], [1990, 10]]]}),
        qupath_feature({"type": "Polygon", "coordinates": [[[3000, 10], [3050, 10], [3000, 30], [3000, 10]]]}),
        qupath_feature({"type": "Point", "coordinates": [-5, -5]}),
    ]
    ann = read_geojson(write_qupath_geojson(tmp_path / "s.geojson", features))
    frame = SlideFrame(shape=(1000, 2000), name="s")
    kept, notes = drop_outside(ann, frame)
    assert len(kept.objects) == 2 and len(kept.rings) == 2 and not kept.points
    assert notes == ["2 objects wholly outside slide 's' (2000 x 1000 px) left out",
                     "1 objects extend beyond the edge of slide 's' (2000 x 1000 px)"]  # fmt: skip
    far = read_geojson(write_qupath_geojson(tmp_path / "far.geojson", features[2:]))
    with pytest.raises(AnnotationReadError, match="none of its 2 objects lie on slide 's'"):
        drop_outside(far, frame)


def test_placement_puts_qupath_pixel_edges_on_napari_pixel_edges(tmp_path):
    slide = _slide("s", "/d/s.svs", scale=(0.25, 0.5), translate=(100.0, 40.0))
    path = write_qupath_geojson(tmp_path / "s.geojson", _objects("0.4"))
    (data, kwargs, _), _ = annotation_layers(path, [slide])
    assert kwargs["scale"] == (0.25, 0.5)
    # napari centres pixel i at data coordinate i, so QuPath's edge at pixel 10 lies at 9.5.
    assert kwargs["translate"] == (100.0 - 0.125, 40.0 - 0.25)
    assert kwargs["units"] == ("micrometer", "micrometer")
    world = data[0] * kwargs["scale"] + kwargs["translate"]
    np.testing.assert_allclose(world[0], (100 + (20 - 0.5) * 0.25, 40 + (10 - 0.5) * 0.5))


def _layers(layer_data):
    from napari.layers import Layer

    return [Layer.create(*d) for d in layer_data]


def test_round_trip_keeps_coordinates_classes_and_objects(tmp_path):
    slide = _slide("s", "/d/s.svs", scale=(0.2520, 0.2520), translate=(3.0, -7.0))
    src = write_qupath_geojson(tmp_path / "s.geojson", _objects("0.4") + cell_features(50, (1000, 2000)))
    layers = _layers(annotation_layers(src, [slide]))
    out = write_annotations(str(tmp_path / "out.geojson"), [layer.as_layer_data_tuple() for layer in layers])
    before, after = read_geojson(src), read_geojson(out[0])
    assert len(after.objects) == len(before.objects) == 54
    assert after.ring_part == before.ring_part and after.ring_object == before.ring_object
    for a, b in zip(before.rings, after.rings):
        np.testing.assert_allclose(a, b, atol=1e-3)
    np.testing.assert_allclose(before.points, after.points, atol=1e-3)
    assert [o.class_name for o in after.objects] == [o.class_name for o in before.objects]
    assert [o.class_rgb for o in after.objects] == [o.class_rgb for o in before.objects]
    assert [o.measurements for o in after.objects] == [o.measurements for o in before.objects]
    assert [o.object_type for o in after.objects] == [o.object_type for o in before.objects]
    written = json.loads((tmp_path / "out.geojson").read_text())
    assert written["type"] == "FeatureCollection"
    first = written["features"][0]
    assert first["id"] == "u-1" and first["geometry"]["type"] == "Polygon"
    assert first["geometry"]["coordinates"][0][0] == first["geometry"]["coordinates"][0][-1]  # closed rings
    assert first["properties"]["classification"] == {"name": "Tumor", "color": [200, 0, 0]}


def test_shapes_drawn_by_hand_in_micrometres_are_written_in_slide_pixels(tmp_path):
    from napari.layers import Shapes

    frame = SlideFrame(scale=(0.5, 0.25), translate=(10.0, 20.0))
    # world = translate + scale * (pixel - 0.5): QuPath pixel (y=40, x=80) is world (29.75, 39.875).
    corner = np.array([29.75, 39.875])
    drawn = Shapes(
        [
            np.array([corner, corner + [5, 0], corner + [5, 2.5], corner + [0, 2.5]]),
            np.array([corner, corner + [1, 1]]),
        ],
        shape_type=["rectangle", "line"],
    )
    from napari_wsi_io.annotations.geojson_write import write_geojson

    write_geojson(tmp_path / "drawn.geojson", [drawn.as_layer_data_tuple()], lambda meta: frame)
    ann = read_geojson(tmp_path / "drawn.geojson")
    assert ann.ring_part == ["outer", "line"] and ann.ring_object == [0, 1]
    np.testing.assert_allclose(ann.rings[0], [[40, 80], [50, 80], [50, 90], [40, 90]], atol=1e-6)
    np.testing.assert_allclose(ann.rings[1], [[40, 80], [42, 84]], atol=1e-6)
    assert [o.object_type for o in ann.objects] == ["annotation", "annotation"]


def test_many_large_polygons_are_outlines_without_a_compiled_triangulator(tmp_path, monkeypatch):
    monkeypatch.setattr(ann_layers, "compiled_triangulation", lambda: False)
    theta = np.linspace(0, 2 * np.pi, 3000, endpoint=False)
    ring = np.stack([500 + 400 * np.cos(theta), 500 + 300 * np.sin(theta)], axis=1).round(2).tolist()
    path = write_qupath_geojson(
        tmp_path / "big.geojson", [qupath_feature({"type": "Polygon", "coordinates": [ring + ring[:1]]})]
    )
    notices = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", notices.append)
    data, kwargs = _shape_layer(annotation_layers(path, []))
    assert kwargs["shape_type"] == "path" and len(data[0]) == 3001  # closed outline
    assert "drawn as outlines" in notices[0] and "bermuda" in notices[0]
    layers = _layers(annotation_layers(path, []))
    write_annotations(str(tmp_path / "out.geojson"), [layers[0].as_layer_data_tuple()])
    again = read_geojson(tmp_path / "out.geojson")
    assert again.ring_part == ["outer"] and len(again.rings[0]) == 3000  # a polygon again


def test_reader_claims_geojson_only():
    assert napari_get_reader("a.geojson") is not None and napari_get_reader(["a.GeoJSON"]) is not None
    assert napari_get_reader("a.svs") is None and napari_get_reader(["a.geojson", "b.tif"]) is None


def test_reading_and_writing_in_a_script_imports_no_qt(tmp_path):
    path = write_qupath_geojson(tmp_path / "s.geojson", _objects("0.4"))
    printed = run_without_qt(
        "import npe2; npe2.PluginManager.instance().discover();"
        f"layers = npe2.read([{path!r}], stack=False, plugin_name='napari-wsi-io');"
        "from napari.layers import Layer;"
        "from napari_wsi_io._qt.annotation_io import write_annotations;"
        f"write_annotations({str(tmp_path / 'out.geojson')!r}, [Layer.create(*d).as_layer_data_tuple() for d in layers]);"
        "print('layers:', len(layers))",
        also=(),  # napari.layers imports magicgui (without Qt), as any script making layers does
    )
    assert printed.startswith("layers: 2\nloaded: []")
    assert len(read_geojson(tmp_path / "out.geojson").objects) == 4


def test_detections_past_the_shape_limit_are_centroids_and_save_as_outlines(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_WSI_IO_ANNOTATIONS_MAX_SHAPES", "100")
    region = qupath_feature({"type": "Polygon", "coordinates": [SQUARE]}, class_name="Tumor", rgb=(200, 0, 0))
    src = write_qupath_geojson(tmp_path / "s.geojson", [region, *cell_features(300, (1000, 2000))])
    notices = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", notices.append)
    layer_data = annotation_layers(src, [])
    assert [(t, k["name"]) for _, k, t in layer_data] == [("shapes", "s"), ("points", "s detections")]
    shapes, cells = layer_data[0], layer_data[1]
    assert len(shapes[0]) == 1 and list(shapes[1]["features"]["object_type"]) == ["annotation"]
    assert len(cells[0]) == 300 and set(cells[1]["features"]["class"]) == {"Tumor", "Stroma"}
    ann = read_geojson(src)
    np.testing.assert_allclose(cells[0][0], ann.rings[1].mean(axis=0))  # the first cell's vertex mean
    assert "300 detections shown as centroids" in notices[0]
    out = write_annotations(
        str(tmp_path / "out.geojson"), [layer.as_layer_data_tuple() for layer in _layers(layer_data)]
    )
    again = read_geojson(out[0])
    assert len(again.objects) == 301 and again.ring_part == ann.ring_part
    for a, b in zip(ann.rings, again.rings):
        np.testing.assert_allclose(a, b, atol=1e-3)
    assert [o.object_type for o in again.objects] == [o.object_type for o in ann.objects]


def test_empty_layers_write_an_empty_collection(tmp_path):
    from napari.layers import Points, Shapes

    layers = [Shapes().as_layer_data_tuple(), Points().as_layer_data_tuple()]
    write_annotations(str(tmp_path / "empty.geojson"), layers)
    assert json.loads((tmp_path / "empty.geojson").read_text()) == {"type": "FeatureCollection", "features": []}
