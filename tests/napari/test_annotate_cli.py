"""`promptseg annotate` and the widget's npe2 contribution."""

from __future__ import annotations

import subprocess
import sys

import npe2
import numpy as np
import pytest
import tifffile

from disk_backend import DiskBackend
from promptseg.cli import build_parser


def test_annotate_parser() -> None:
    args = build_parser().parse_args(["annotate", "a.tif", "b.tif", "--backend", "random_walker"])
    assert [str(p) for p in args.images] == ["a.tif", "b.tif"] and args.backend == "random_walker"
    assert args.func.__name__ == "run_annotate"


def test_other_commands_do_not_import_napari() -> None:
    code = "import sys; from promptseg.cli import build_parser; build_parser(); print('napari' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_widget_is_contributed() -> None:
    manager = npe2.PluginManager()
    manager.discover(include_npe1=False)
    widgets = [w.display_name for w in manager.get_manifest("napari-promptseg").contributions.widgets]
    assert widgets == ["PromptSeg annotator"]


@pytest.mark.gui
def test_open_annotator_docks_the_widget(make_napari_viewer, tmp_path, qtbot) -> None:
    from promptseg._napari.launch import open_annotator

    path = tmp_path / "img.tif"
    tifffile.imwrite(path, (np.arange(64 * 64).reshape(64, 64) % 250).astype(np.uint8))
    viewer = make_napari_viewer()
    viewer, widget = open_annotator([path], backend=None, viewer=viewer)
    widget.set_backend(DiskBackend())
    assert widget.image_layer is viewer.layers["img"]
    assert "img objects" in [layer.name for layer in viewer.layers]
    widget.encoder.cancel()
    qtbot.waitUntil(lambda: not widget.encoder.busy, timeout=20000)


@pytest.mark.gui
def test_plugin_menu_widget_loads_the_default_backend(make_napari_viewer, qtbot) -> None:
    from promptseg.backends import BUILTIN_BACKENDS
    from promptseg.data import synthetic_nuclei_2d

    viewer = make_napari_viewer()
    viewer.add_image(synthetic_nuclei_2d((64, 64), n_nuclei=3, seed=2).image, name="cells")
    _, widget = viewer.window.add_plugin_dock_widget("napari-promptseg", "PromptSeg annotator")
    expected = "classic" if "classic" in BUILTIN_BACKENDS else "random_walker"
    qtbot.waitUntil(lambda: widget.backend is not None, timeout=30000)
    assert widget.backend.name == expected
    qtbot.waitUntil(lambda: widget.session.embedding(()) is not None and not widget.encoder.busy, timeout=30000)
    widget.layers.points.add([32, 32])
    assert widget.session.prediction is not None
    widget.encoder.cancel()
