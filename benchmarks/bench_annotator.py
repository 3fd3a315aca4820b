"""Annotator click-to-preview latency in a real napari viewer.

For each backend, an image is opened in napari with the PromptSeg annotator
docked, its embedding is computed and then clicks are added to the Points
layer, as a mouse click would (``Points.add``, which emits the layer's data
event).  Latency is measured from that data event to the preview Labels
layer refreshed with the new mask (its ``labels_update`` event, emitted when
the changed rectangle reaches the layer's texture, or ``set_data`` where the
layer is refreshed whole instead), and, separately, to the
canvas redrawn (``processEvents`` after the click).  Each object gets two
positive clicks (the second feeds the first prediction back) and is then
cleared, as when annotating; nuclei positions come from the synthetic
image's ground truth.

Backends: ``classic`` (when installed) and a random-weight vit_t
(``build_sam("vit_t")`` in a ``SamBackend``); ``hiera_t`` is a random-weight
SAM 2.1 tiny (``build_sam2("hiera_t")`` in a ``Sam2Backend``), any other name
goes to ``load_backend``.  Needs a display: run under Xvfb on headless machines::

    xvfb-run -a python benchmarks/bench_annotator.py [--size 512] [--objects 30] [--backends classic vit_t hiera_t] [--pause 0.3]

Prints p50 / p95 / max per backend (milliseconds), also split into each
object's first and second clicks (a SAM first click weighs three candidate
masks, a second one feeds the first answer back as a mask prompt), plus the bare
``backend.predict`` time for the same prompts for comparison, and how long
each click blocks the GUI thread (until ``Points.add`` returns): slow
backends (random_walker, grabcut, anything measured above 100 ms) predict in
a worker, so the viewer stays responsive while they compute.
``--predict-in gui`` keeps every prediction in the GUI thread, for
comparison::

    xvfb-run -a python benchmarks/bench_annotator.py --backends random_walker --predict-in gui

``--mouse`` clicks through the canvas instead, with vispy mouse events as a
person's hand makes them: the pointer moves onto the spot, rests there for
``--dwell`` ms, the button is pressed and released ``--hold`` ms later (napari
adds the point at the release).  Latency is then measured from the release
event (so it includes napari's own work of adding the point, which the
default mode leaves out).  The annotator answers a click ahead when the
pointer rests (60 ms) or at the press, so this mode also prints the time from
the press to the preview refreshed, and how many clicks were answered ahead::

    xvfb-run -a python benchmarks/bench_annotator.py --mouse --dwell 0 --hold 0     # no time to look ahead
    xvfb-run -a python benchmarks/bench_annotator.py --mouse --dwell 0 --hold 100   # a quick click
    xvfb-run -a python benchmarks/bench_annotator.py --mouse --dwell 200 --hold 100
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np


def _percentiles(values: list[float]) -> str:
    a = np.asarray(values) * 1000
    return f"p50 {np.percentile(a, 50):6.1f}  p95 {np.percentile(a, 95):6.1f}  max {a.max():6.1f}  (n={len(a)})"


def _load() -> str:
    try:
        import os

        return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unknown"


def make_backend(name: str):
    if name == "vit_t":
        import torch

        from promptseg.backends.sam import SamBackend
        from promptseg.model.build import build_sam

        torch.manual_seed(0)
        return SamBackend(build_sam("vit_t"), name="vit_t-random", checkpoint_hash="random")
    if name == "hiera_t":
        import torch

        from promptseg.backends.sam2 import Sam2Backend
        from promptseg.model.sam2.build import build_sam2

        torch.manual_seed(0)
        return Sam2Backend(build_sam2("hiera_t"), name="hiera_t-random", checkpoint_hash="random", architecture="hiera_t")
    from promptseg.backends import load_backend

    return load_backend(name)


def click_targets(labels: np.ndarray, n_objects: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Two clicks inside each of the first ``n_objects`` nuclei: its centre and a point off-centre."""
    from scipy import ndimage

    out = []
    ids = [i for i in np.unique(labels) if i][:n_objects]
    for i in ids:
        inside = labels == i
        r, c = (int(round(v)) for v in ndimage.center_of_mass(inside))
        rows, cols = np.nonzero(inside)
        far = int(np.argmax((rows - r) ** 2 + (cols - c) ** 2))
        second = (int((r + rows[far]) // 2), int((c + cols[far]) // 2))
        out.append(((r, c), second))
    return out


def _idle(qapp, seconds: float) -> None:
    """Let the viewer idle (events processed, nothing clicked) for ``seconds``."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        qapp.processEvents()
        time.sleep(0.005)


def _idle_until(qapp, end: float) -> None:
    while time.perf_counter() < end:
        qapp.processEvents()
        time.sleep(0.001)


class MouseHand:
    """Clicks on image pixels through the canvas's vispy events (move, rest, press, hold, release).

    The camera stays put: canvas positions come from inverting napari's own
    canvas-to-world mapping, which is affine in a 2D view.
    """

    def __init__(self, viewer, qapp, dwell: float, hold: float) -> None:
        canvas = viewer.window._qt_viewer.canvas
        self.scene, self.qapp, self.dwell, self.hold = canvas._scene_canvas, qapp, dwell, hold
        corners = np.array([(0.0, 0.0), (100.0, 0.0), (0.0, 100.0)])
        world = np.array([canvas._map_canvas2world(tuple(c), canvas.view)[-2:] for c in corners])
        self.origin = world[0]
        self.axes = np.stack([world[1] - world[0], world[2] - world[0]], axis=1) / 100.0  # d world / d canvas

    def canvas_position(self, row: float, col: float) -> tuple[float, float]:
        x, y = np.linalg.solve(self.axes, np.array([row, col]) - self.origin)
        return float(x), float(y)

    def click(self, row: float, col: float, before_release=lambda: None) -> tuple[float, float]:
        """Click on pixel (row, col); returns when the button was pressed and released (``perf_counter``)."""
        pos = self.canvas_position(row, col)
        self.scene.events.mouse_move(pos=(pos[0] - 6, pos[1] - 4), modifiers=(), button=None)
        self.scene.events.mouse_move(pos=pos, modifiers=(), button=None)
        _idle_until(self.qapp, time.perf_counter() + self.dwell)
        pressed = time.perf_counter()
        self.scene.events.mouse_press(pos=pos, modifiers=(), button=1)
        _idle_until(self.qapp, pressed + self.hold)
        before_release()
        released = time.perf_counter()
        self.scene.events.mouse_release(pos=pos, modifiers=(), button=1)
        return pressed, released


def bench_backend(
    name: str, image: np.ndarray, targets, *, qapp, predict_in: str = "auto", pause: float = 0.0,
    hand: tuple[float, float] | None = None,
) -> dict[str, list[float]]:
    import napari

    from promptseg._napari.annotator import AnnotatorWidget

    backend = make_backend(name)
    viewer = napari.Viewer(show=True)
    viewer.add_image(image, name="nuclei")
    widget = AnnotatorWidget(viewer, backend=backend)
    widget.encoder.prefetch_enabled = False
    if predict_in == "gui":
        widget.predict_times.threshold = float("inf")
    viewer.window.add_dock_widget(widget, name="PromptSeg")
    t0 = time.perf_counter()
    while widget.session.embedding(()) is None or widget.encoder.busy:
        qapp.processEvents()
        time.sleep(0.01)
    encode_s = time.perf_counter() - t0
    for _ in range(20):
        qapp.processEvents()
    points, preview = widget.layers.points, widget.layers.preview
    marks: dict[str, float] = {}

    def on_points(event):  # the moment napari emits the click
        if str(getattr(event, "action", "")) == "added":
            marks["event"] = time.perf_counter()

    def on_preview(event):
        marks.setdefault("refreshed", time.perf_counter())  # the first refresh after the click

    points.events.data.connect(on_points, position="first")  # before the annotator hears of it
    preview.events.labels_update.connect(on_preview)  # changed pixels reached the texture
    preview.events.set_data.connect(on_preview)  # or the layer was refreshed whole (fallback)
    refreshed, drawn, bare, blocked, in_worker, unchanged = [], [], [], [], [], []
    emb = widget.session.embedding(())
    mouse = None if hand is None else MouseHand(viewer, qapp, *hand)
    predicted = [0]
    plain_predict = backend.predict

    def counted_predict(*args, **kwargs):
        predicted[0] += 1
        return plain_predict(*args, **kwargs)

    backend.predict = counted_predict  # the instance's own attribute: counts the annotator's calls
    from_press, ahead = [], []
    for first, second in targets:
        previous = None
        clicks = []
        for click in (first, second):
            clicks.append(click)
            if pause:
                _idle(qapp, pause)
            marks.clear()
            if mouse is None:
                points.add(list(click))
            else:
                calls = []
                pressed, released = mouse.click(*click, before_release=lambda: calls.append(predicted[0]))
            done = time.perf_counter()
            in_worker.append(float(widget.session.predicting))
            qapp.processEvents()
            while widget.session.predicting:  # a slow backend answers in a worker
                time.sleep(0.001)
                qapp.processEvents()
            drawn_at = time.perf_counter()
            start = released if mouse is not None else marks.get("event", done)
            blocked.append(done - start)
            refreshed.append(marks.get("refreshed", done) - start)
            unchanged.append(float("refreshed" not in marks))
            drawn.append(drawn_at - start)
            if mouse is not None:
                from_press.append(marks.get("refreshed", done) - pressed)
                ahead.append(float(predicted[0] == calls[0]))
            t = time.perf_counter()
            previous = plain_predict(emb, points=clicks, labels=[1] * len(clicks), previous=previous)
            bare.append(time.perf_counter() - t)
        widget.clear()
        qapp.processEvents()
    viewer.close()
    # the closed viewer is thousands of reference cycles: collect them now, not in the next backend's clicks
    gc.collect()
    return {"refreshed": refreshed, "drawn": drawn, "bare": bare, "blocked": blocked, "encode": [encode_s],
            "in_worker": in_worker, "from_press": from_press, "ahead": ahead, "unchanged": unchanged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    parser.add_argument("--objects", type=int, default=30, help="objects clicked (two clicks each)")
    parser.add_argument("--backends", nargs="+", default=None, help="default: classic (if installed) and vit_t; also hiera_t (random SAM 2.1 tiny) or any load_backend name")
    parser.add_argument("--predict-in", choices=("auto", "gui"), default="auto",
                        help="auto: slow backends predict in a worker (the widget's default); gui: always in the GUI thread")
    parser.add_argument("--pause", type=float, default=0.0, metavar="S",
                        help="seconds the viewer idles before each click, as between a person's clicks "
                             "(default 0: clicks back to back, while the previous frame may still be drawing)")
    parser.add_argument("--mouse", action="store_true",
                        help="click through the canvas with mouse events (move, rest, press, hold, release)")
    parser.add_argument("--dwell", type=float, default=0.0, metavar="MS",
                        help="with --mouse: ms the pointer rests on the spot before the press (default 0)")
    parser.add_argument("--hold", type=float, default=100.0, metavar="MS",
                        help="with --mouse: ms from the press to the release (default 100)")
    args = parser.parse_args()
    hand = (args.dwell / 1000, args.hold / 1000) if args.mouse else None

    import torch
    from napari.qt import get_qapp

    from promptseg.backends import BUILTIN_BACKENDS
    from promptseg.data import synthetic_nuclei_2d

    backends = args.backends or ([n for n in ("classic",) if n in BUILTIN_BACKENDS] + ["vit_t"])
    sample = synthetic_nuclei_2d((args.size, args.size), n_nuclei=max(args.objects + 10, 24), seed=0)
    targets = click_targets(sample.labels, args.objects)
    qapp = get_qapp()
    print(f"image {args.size}x{args.size} uint16, {len(targets)} objects x 2 clicks, torch threads {torch.get_num_threads()}, "
          f"{args.pause:g} s idle before each click")
    if hand:
        print(f"mouse clicks on the canvas: pointer rests {args.dwell:g} ms, button held {args.hold:g} ms")
    print(_load(), "(other processes slow every figure down)")
    for name in backends:
        result = bench_backend(name, sample.image, targets, qapp=qapp, predict_in=args.predict_in, pause=args.pause,
                               hand=hand)
        print(f"\n{name}: encode {result['encode'][0]:.2f} s")
        print(f"  click -> preview layer refreshed   {_percentiles(result['refreshed'])} ms")
        refreshed = np.asarray(result["refreshed"])
        print(f"    of which first clicks on an object       {_percentiles(list(refreshed[0::2]))} ms")
        print(f"    of which second clicks (answer fed back) {_percentiles(list(refreshed[1::2]))} ms")
        if sum(result["unchanged"]):
            print(f"    ({int(sum(result['unchanged']))} of {len(refreshed)} clicks changed no preview pixel: "
                  "timed to the end of the click's handling)")
        if hand:
            print(f"  press -> preview layer refreshed   {_percentiles(result['from_press'])} ms "
                  f"({int(sum(result['ahead']))} of {len(result['ahead'])} clicks answered ahead)")
        print(f"  click -> canvas redrawn            {_percentiles(result['drawn'])} ms")
        print(f"  bare backend.predict (same clicks) {_percentiles(result['bare'])} ms")
        print(f"  GUI thread blocked by the click    {_percentiles(result['blocked'])} ms (predict in: {args.predict_in}; "
              f"{int(sum(result['in_worker']))} of {len(result['in_worker'])} clicks answered by a worker)")
        overhead = list(np.subtract(result["refreshed"], result["bare"]))
        print(f"  annotator overhead (refreshed - bare, per click) {_percentiles(overhead)} ms")


if __name__ == "__main__":
    main()
