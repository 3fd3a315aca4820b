"""``promptseg annotate``: open napari with images and the annotator docked.

Registered by :func:`promptseg.cli.build_parser`, which imports this module
lazily so that the other sub-commands never import napari.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence


def add_annotate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``annotate`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "annotate",
        help="open napari with the PromptSeg annotator (click an object, see its mask, C commits it)",
        description="Open IMAGE(s) in napari with the PromptSeg annotator docked. "
        "Without an image, open File > Open Sample > PromptSeg to try it.",
    )
    p.add_argument("images", nargs="*", type=Path, metavar="IMAGE", help="image files (TIFF, PNG, ...) or folders napari can read")
    p.add_argument("--backend", default=None, metavar="NAME_OR_PATH",
                   help="classic (default), a registry name (see `promptseg models`) or a checkpoint file")
    p.add_argument("--sample", choices=("nuclei_2d", "nuclei_3d"), default=None, help="open a synthetic sample image")
    p.add_argument("--labels", type=Path, default=None, metavar="LABELS.zarr",
                   help="for an OME-Zarr image: sparse zarr labels to write into (opened with their objects when "
                        "they exist); default in memory")
    p.add_argument("--level", type=int, default=0,
                   help="for an OME-Zarr image: the resolution level clicks are answered at (0: full resolution)")
    p.add_argument("--tile-store", type=Path, default=None, metavar="TILES.zarr",
                   help="for an OME-Zarr image: tile embeddings kept on disk (as `promptseg embed` writes them)")
    p.set_defaults(func=run_annotate)
    return p


def open_annotator(
    images: Sequence[str | Path] = (), *, backend: str | None = None, viewer: Any = None, sample: str | None = None
) -> tuple[Any, Any]:
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
    import napari

    from ..store.multiscale import is_zarr_folder

    if len(args.images) == 1 and is_zarr_folder(args.images[0]):  # larger than memory: annotated lazily
        from ..backends import load_backend
        from .large_image import open_large

        viewer = napari.Viewer(title="PromptSeg annotator")
        open_large(viewer, args.images[0], load_backend(args.backend or "classic"), labels=args.labels,
                   level=args.level, tile_store=args.tile_store)
        napari.run()
        return 0
    open_annotator(args.images, backend=args.backend, sample=args.sample)
    napari.run()
    return 0
