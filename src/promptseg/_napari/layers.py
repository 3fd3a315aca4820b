"""The four layers the annotator owns for one image, and the prompts they hold.

* ``<image> prompts``  — Points: clicks, green positive / magenta negative;
* ``<image> shapes``   — Shapes: rectangles (box), polygons, paths (scribbles);
* ``<image> preview``  — Labels: the live mask of the current object (painting
  in it is a mask prompt), in a red no object has;
* ``<image> objects``  — Labels: committed objects, one id each, in the
  colours of :mod:`.colours`.

They are added from the last to the first, so the layer list shows them in
that order: the prompts on top, the preview above the committed objects (a
correction on a slice full of objects stays visible).

They share the image layer's scale and translate, so layer data coordinates
are image pixel coordinates: a row of Points data is ``(*slice_key, row, col)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd
from napari.layers import Image, Labels, Layer, Points, Shapes

from ..prompts import Prompts
from ..session import SliceKey
from .colours import object_colormap, preview_colormap
from .labels_region import RegionWriter

if TYPE_CHECKING:
    from napari import Viewer

POSITIVE_COLOR = np.array([0.1, 0.9, 0.2, 1.0])
NEGATIVE_COLOR = np.array([1.0, 0.1, 0.8, 1.0])
#: Metadata key of an owned layer: its role (one of :data:`ROLES`).
ROLE_KEY = "promptseg_role"
#: Metadata key of an image layer opened by the series mode: the image file's path.
SERIES_KEY = "promptseg_series"
ROLES = ("prompts", "shapes", "preview", "objects")


def _ellipse_polygon(corners: np.ndarray, n: int = 32) -> np.ndarray:
    """A napari ellipse (its 4 bounding-box corners, (row, col)) as an n-gon."""
    center = corners.mean(axis=0)
    radii = (corners.max(axis=0) - corners.min(axis=0)) / 2
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return center + np.stack([radii[0] * np.sin(t), radii[1] * np.cos(t)], axis=1)


class PromptLayers:
    """Creates (once) or finds the owned layers of ``image`` and converts prompts to and from them."""

    def __init__(self, viewer: Viewer, image: Image, label_shape: tuple[int, ...]) -> None:
        self.viewer = viewer
        self.image = image
        self.label_shape = label_shape
        self.lead = len(label_shape) - 2
        # bottom to top: the committed objects, the current object over them, its prompts over both
        self.objects: Labels = self._find_or_add("objects", lambda n: self._new_labels(n, np.int32, 0.7, object_colormap))
        self.preview: Labels = self._find_or_add("preview", lambda n: self._new_labels(n, np.uint8, 0.6, preview_colormap))
        self.shapes: Shapes = self._find_or_add("shapes", self._new_shapes)
        self.points: Points = self._find_or_add("prompts", self._new_points)
        self.preview.selected_label = 1
        self._preview_writer = RegionWriter(self.preview)
        self._next_positive: bool | None = None
        self._preview_key: SliceKey | None = None  # slice currently drawn in the preview
        self._preview_mask: np.ndarray | None = None

    # ----------------------------------------------------------- creation
    def _geometry(self) -> dict[str, Any]:
        return {"scale": self.image.scale, "translate": self.image.translate}

    def _find_or_add(self, role: str, make: Callable[[str], Layer]) -> Layer:
        for layer in self.viewer.layers:
            meta = layer.metadata
            if meta.get(ROLE_KEY) == role and meta.get("promptseg_image") == self.image.unique_id:
                return layer
        layer = make(f"{self.image.name} {role}")
        layer.metadata[ROLE_KEY] = role
        layer.metadata["promptseg_image"] = self.image.unique_id
        return self.viewer.add_layer(layer)

    def _new_points(self, name: str) -> Points:
        layer = Points(
            np.zeros((0, len(self.label_shape))), ndim=len(self.label_shape), name=name, size=8,
            features=pd.DataFrame({"positive": np.zeros(0, bool)}), face_color=POSITIVE_COLOR,
            border_color="white", border_width=0.1, **self._geometry(),
        )
        layer.feature_defaults = {"positive": True}
        return layer

    def _new_shapes(self, name: str) -> Shapes:
        return Shapes(ndim=len(self.label_shape), name=name, edge_color="yellow", edge_width=1.5,
                      face_color=[1, 1, 0, 0.1], **self._geometry())

    def _new_labels(self, name: str, dtype: type, opacity: float, colormap) -> Labels:
        return Labels(np.zeros(self.label_shape, dtype), name=name, opacity=opacity, colormap=colormap(),
                      **self._geometry())

    # ------------------------------------------------------ points colour
    def set_click_positive(self, positive: bool) -> None:
        """Label (and colour) of the next clicks; cheap when nothing changes."""
        positive = bool(positive)
        defaults = self.points.feature_defaults
        if positive == self._next_positive and "positive" in defaults and bool(defaults["positive"][0]) == positive:
            return
        self._next_positive = positive
        # napari also recolours the selected points when the current colour changes: deselect first.
        if self.points.selected_data:
            self.points.selected_data = set()
        self.points.feature_defaults = {"positive": positive}
        self.points.current_face_color = _hex(POSITIVE_COLOR if positive else NEGATIVE_COLOR)

    def recolor_points(self) -> None:
        """Colour every point by its label (green positive, magenta negative)."""
        positive = self._positive()
        if len(positive):
            colors = np.where(positive[:, None], POSITIVE_COLOR, NEGATIVE_COLOR)
            if not np.allclose(self.points.face_color, colors, atol=0.01):
                self.points.face_color = colors

    def _positive(self) -> np.ndarray:
        feats = self.points.features
        if "positive" not in feats or len(feats) != len(self.points.data):
            return np.ones(len(self.points.data), bool)
        return feats["positive"].to_numpy(dtype=bool)

    # --------------------------------------------------- layers -> prompts
    def _on_slice(self, coords: np.ndarray, key: SliceKey) -> np.ndarray:
        """Which rows of (N, ndim) ``coords`` lie on slice ``key``."""
        if self.lead == 0:
            return np.ones(len(coords), bool)
        return np.all(np.rint(coords[:, : self.lead]) == np.asarray(key), axis=1)

    def on_slice(self, coords: np.ndarray, key: SliceKey) -> bool:
        """Whether one point's (ndim,) ``coords`` lie on slice ``key``."""
        return bool(self._on_slice(np.asarray(coords, dtype=np.float64).reshape(1, -1), key)[0])

    def read(self, key: SliceKey, painted: np.ndarray | None = None) -> Prompts:
        """The prompts drawn on slice ``key`` (plus a painted mask kept elsewhere)."""
        data = np.asarray(self.points.data)
        on = self._on_slice(data, key) if len(data) else np.zeros(0, bool)
        points = data[on][:, -2:] if len(data) else np.zeros((0, 2))
        labels = self._positive()[on].astype(np.int64) if len(data) else np.zeros(0, np.int64)
        box, polygons, scribbles = None, [], []
        for verts, kind in zip(self.shapes.data, self.shapes.shape_type):
            verts = np.asarray(verts)
            if not len(verts) or not self._on_slice(verts, key).all():
                continue
            rc = verts[:, -2:]
            if kind == "rectangle":
                box = np.concatenate([rc.min(axis=0), rc.max(axis=0)])  # the last rectangle wins
            elif kind == "polygon" and len(rc) >= 3:
                polygons.append(rc)
            elif kind == "ellipse":
                polygons.append(_ellipse_polygon(rc))
            elif kind in ("path", "line"):
                scribbles.append(rc)
        return Prompts(points=points, labels=labels, box=box, polygons=polygons, scribbles=scribbles, mask=painted)

    # --------------------------------------------------- prompts -> layers
    def write(self, key: SliceKey, prompts: Prompts | None) -> None:
        """Replace what the points and shapes layers hold on slice ``key`` by ``prompts`` (None: nothing).

        Emits no data events (the caller blocks them).
        """
        prompts = prompts or Prompts()
        data = np.asarray(self.points.data).reshape(-1, len(self.label_shape))
        keep = ~self._on_slice(data, key) if len(data) else np.zeros(0, bool)
        lead = np.broadcast_to(np.asarray(key, float), (len(prompts.points), self.lead))
        new_data = np.concatenate([data[keep], np.concatenate([lead, prompts.points], axis=1)])
        positive = np.concatenate([self._positive()[keep], prompts.labels.astype(bool)])
        with self.points.events.data.blocker():
            self.points.data = new_data
            self.points.features = pd.DataFrame({"positive": positive})
        self.points.selected_data = set()
        self._force_defaults()  # setting features resets the defaults
        self.recolor_points()
        self._write_shapes(key, prompts)

    def _write_shapes(self, key: SliceKey, prompts: Prompts) -> None:
        shapes = self.shapes
        drop = {i for i, v in enumerate(shapes.data) if len(v) and self._on_slice(np.asarray(v), key).all()}
        new, kinds = [], []
        if prompts.box is not None:
            r0, c0, r1, c1 = prompts.box
            new.append(np.array([(r0, c0), (r0, c1), (r1, c1), (r1, c0)]))
            kinds.append("rectangle")
        new += list(prompts.polygons)
        kinds += ["polygon"] * len(prompts.polygons)
        new += list(prompts.scribbles)
        kinds += ["path"] * len(prompts.scribbles)
        lead = np.asarray(key, float)
        new = [np.concatenate([np.broadcast_to(lead, (len(v), self.lead)), v], axis=1) for v in new]
        with shapes.events.data.blocker():
            if drop:
                shapes.selected_data = drop
                shapes.remove_selected()
            if new:
                shapes.add(new, shape_type=kinds)
        shapes.selected_data = set()

    def _force_defaults(self) -> None:
        positive, self._next_positive = self._next_positive, None
        self.set_click_positive(True if positive is None else positive)

    # ------------------------------------------------------------ preview
    def show_preview(self, key: SliceKey | None, mask: np.ndarray | None) -> None:
        """Draw ``mask`` on slice ``key`` of the preview (None: nothing), touching only the changed rectangle."""
        if self._preview_key is not None and self._preview_key != key and self._preview_mask is not None:
            self._set_pixels(self._preview_key, self._preview_mask, np.zeros_like(self._preview_mask))
            self._preview_mask = None
        if key is None:
            self._preview_key = None
            return
        old = self._preview_mask
        if old is None:
            old = np.asarray(self.preview.data[key]) > 0
        new = np.zeros(self.label_shape[-2:], bool) if mask is None else mask
        self._set_pixels(key, old, new)
        self._preview_key, self._preview_mask = key, new

    def forget_preview_cache(self) -> None:
        """The user painted in the preview: re-read it next time."""
        self._preview_mask = None

    def _set_pixels(self, key: SliceKey, old: np.ndarray, new: np.ndarray) -> None:
        """Write ``new`` over ``old`` on slice ``key`` of the preview.

        Only the changed pixels are written and redrawn
        (:class:`.labels_region.RegionWriter`); the preview keeps little
        napari undo history (prompts and commits have their own).
        """
        changed = old != new
        rows = np.flatnonzero(changed.any(axis=1))
        if not rows.size:
            return
        cols = np.flatnonzero(changed[rows[0] : rows[-1] + 1].any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        self._preview_writer.write(key, box, new[box].astype(self.preview.data.dtype))

    def refresh_objects(self) -> None:
        self.objects.refresh()


def _hex(rgba: np.ndarray) -> str:
    return "#" + "".join(f"{int(round(v * 255)):02x}" for v in rgba[:3])
