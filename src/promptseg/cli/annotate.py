"""``promptseg annotate``: open napari with images and the annotator docked.

The options are parsed here; the napari side is :mod:`promptseg._napari.launch`,
imported only when the command runs, so that the other sub-commands never
import napari.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_annotate_parser", "run_annotate"]


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


def run_annotate(args: argparse.Namespace) -> int:
    """Run ``promptseg annotate`` (napari is imported here, not before)."""
    from .._napari.launch import run_annotate as launch

    return launch(args)
