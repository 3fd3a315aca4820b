"""Open napari with images and the annotator docked: what ``promptseg annotate`` runs.

The sub-command's options are parsed by :mod:`promptseg.cli.annotate`, which
imports this module only when the command runs (the other sub-commands never
import napari).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from napari import Viewer

    from .annotator import AnnotatorWidget


def open_annotator(
    images: Sequence[str | Path] = (), *, backend: str | None = None, viewer: Viewer | None = None,
    sample: str | None = None,
) -> tuple[Viewer, AnnotatorWidget]:
    """Open ``images`` in ``viewer`` (default a new napari viewer) and dock the annotator.

    Returns
    -------
    (viewer, widget)
    """
    import napari

    from .annotator import AnnotatorWidget

    viewer = viewer if viewer is not None else napari.Viewer(title="PromptSeg annotator")
    for image in images:
        path = Path(image)
        if not path.exists():
            from ..errors import PromptsegError

            raise PromptsegError(f"{path} does not exist.")
        viewer.open(str(path))
    if sample:
        viewer.open_sample("napari-promptseg", sample)
    widget = AnnotatorWidget(viewer, backend=backend)
    viewer.window.add_dock_widget(widget, name="PromptSeg annotator", area="right")
    return viewer, widget


def run_annotate(args: argparse.Namespace) -> int:
    """Open the images of ``promptseg annotate`` (an OME-Zarr image lazily) and run napari until it is closed."""
    import napari

    from ..store.multiscale import is_zarr_folder, open_multiscale

    if len(args.images) == 1 and is_zarr_folder(args.images[0]):  # larger than memory: the dock annotates it lazily
        from .large_image import add_large_layer, open_labels

        viewer, widget = open_annotator((), backend=args.backend)
        image = open_multiscale(args.images[0])
        widget.large.configure(labels=open_labels(args.labels, image.shape), level=args.level,
                               tile_store=args.tile_store)
        add_large_layer(viewer, image)  # picked by the dock, whose LargeDock takes it
        napari.run()
        return 0
    open_annotator(args.images, backend=args.backend, sample=args.sample)
    napari.run()
    return 0
