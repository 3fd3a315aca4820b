"""Count what one canvas click runs, from the press to the drawn mask (issue 17's "path of a click").

Opens the annotator on a synthetic 2D image with the classic backend, lets
it encode, then sends one left-button press and release through napari's
canvas (vispy events, as ``tests/napari/canvas_events.py`` does) and records,
with ``sys.setprofile``, every function of ``promptseg`` called until the
preview shows the mask.  Prints: the promptseg files visited, how often the
prompt layers were read (``PromptLayers.read``), prompts were validated
(``Prompts.__post_init__``; ``check_prompts`` in trees before the prompts
package) and ``set_prompts`` ran, and the model files among the files.

Run: ``xvfb-run -a python benchmarks/click_path.py``; set PYTHONPATH to
another tree's ``src`` to count there (same script).
"""

from __future__ import annotations

import collections
import os
import sys
import time

import numpy as np


def main() -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    import promptseg
    from promptseg._napari.annotator import AnnotatorWidget
    from promptseg.backends.classic import ClassicBackend

    root = os.path.dirname(promptseg.__file__)
    image = np.full((128, 128), 30, np.uint8)
    image[40:90, 40:90] = 200
    viewer = napari.Viewer(show=True)
    viewer.add_image(image, name="img")
    widget = AnnotatorWidget(viewer, backend=ClassicBackend())
    viewer.window.add_dock_widget(widget, name="PromptSeg")
    app = QApplication.instance()
    key = widget.displayed_slice()
    deadline = time.time() + 60
    while widget.session.embedding(key) is None or widget.encoder.busy:
        app.processEvents()
        time.sleep(0.01)
        if time.time() > deadline:
            raise SystemExit("the slice was not encoded within 60 s")
    viewer.scene.camera.center = (65, 65)
    app.processEvents()
    scene = viewer.window._qt_viewer.canvas._scene_canvas
    w, h = scene.size
    pos = (w / 2, h / 2)

    calls: collections.Counter = collections.Counter()
    files: set[str] = set()

    def profile(frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        path = code.co_filename
        if path.startswith(root):
            rel = os.path.relpath(path, root)
            files.add(rel)
            calls[(rel, code.co_name)] += 1

    sys.setprofile(profile)
    scene.events.mouse_press(pos=pos, modifiers=(), button=1)
    scene.events.mouse_release(pos=pos, modifiers=(), button=1)
    for _ in range(20):
        app.processEvents()
    sys.setprofile(None)
    drawn = bool((np.asarray(widget.layers.preview.data) > 0)[65, 65])

    def count(name: str, where: str = "") -> int:
        return sum(n for (f, fn), n in calls.items() if fn == name and where in f)

    layers_file = next((f for f in files if f.endswith("layers.py") and f.startswith("_napari")), "_napari/layers.py")
    print(f"promptseg at {root}; mask drawn under the click: {drawn}")
    inside = [f for f in files if f.startswith(("model", "backends/classic/"))]
    print(f"files visited: {len(files)}; {len(files) - len(inside)} outside the classic backend's package and model/")
    for f in sorted(files):
        print(f"  {f}")
    print(f"layer reads (PromptLayers.read in {layers_file}): {count('read', layers_file)}")
    print(f"prompt validations: Prompts.__post_init__ {count('__post_init__', 'prompts')}, "
          f"check_prompts {count('check_prompts')}")
    print(f"set_prompts: {count('set_prompts')}; backend predict calls: {count('predict', 'backends')}")
    viewer.close()


if __name__ == "__main__":
    main()
