"""``promptseg segment-all``: every object of an image, a stack or a folder of images, written as labels."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..errors import PromptsegError
from ..store.multiscale import is_ome_zarr
from .large import add_segment_all_large_options, run_segment_all_large

__all__ = ["add_segment_all_parser"]


def add_segment_all_parser(sub) -> None:
    p = sub.add_parser(
        "segment-all",
        help="segment every object automatically and write a label image (no GUI)",
        description="Run the automatic pass of the backend (SAM's automatic mask generator for SAM-family "
        "models, the weight-free pass for `classic`) on IMAGE and write one label image per input: a 2D "
        "labels image for a 2D image or one slice, a labels stack for a stack, and for a folder one "
        "<name>_labels.tif per image into the --out folder.",
    )
    p.add_argument("image", type=Path, help="image file, (Z, H, W[, C]) stack, or a folder of images")
    p.add_argument("--backend", default="classic", help="classic (default), a registry name or a checkpoint path")
    p.add_argument("--out", type=Path, required=True,
                   help="label image to write (TIFF: uint32; PNG: uint16), or a folder for a folder input")
    p.add_argument("--store", type=Path, help="embedding store written by `promptseg embed` for this image")
    p.add_argument("--slice", type=int, metavar="Z", help="for a stack: segment only this slice")
    p.add_argument("--points-per-side", type=int, help="SAM-family: grid points per side (default 32)")
    p.add_argument("--device", default=None, help="torch device for SAM-family backends")
    add_segment_all_large_options(p)
    p.set_defaults(func=run_segment_all)


def _inputs(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    from ..eval.datasets import IMAGE_SUFFIXES

    files = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise PromptsegError(f"{path} holds no image file ({', '.join(IMAGE_SUFFIXES)}).")
    return files


def _planes(image: np.ndarray, z: int | None, name: str):
    """(keys, plane getter, label shape) of a 2D image or a stack."""
    from ..session.image_stack import ImageStack

    rgb = image.ndim == 4 or (image.ndim == 3 and image.shape[-1] in (3, 4))
    stack = ImageStack(image, rgb=rgb)
    if len(stack.leading_shape) > 1:
        raise PromptsegError(f"{name} has shape {image.shape}; give a 2D image or one (Z, H, W[, C]) stack.")
    keys = [()] if not stack.leading_shape else [(k,) for k in range(stack.leading_shape[0])]
    if z is not None:
        if not stack.leading_shape:
            raise PromptsegError(f"--slice {z}: {name} is a single 2D image, not a stack.")
        keys = [stack.check_key((z,))]
    shape = stack.plane_shape if z is not None or not stack.leading_shape else stack.label_shape
    return keys, stack.plane, shape


def _progress(event, name: str) -> None:
    tile = f" tile {event.tile + 1}/{event.tiles}" if event.tiles > 1 else ""
    sys.stderr.write(f"\r  {name}{tile}: {event.stage} {event.done}/{event.total}   ")
    sys.stderr.flush()


def write_labels(path: Path, labels: np.ndarray) -> Path:
    """Write labels losslessly: TIFF as uint32, PNG as uint16 (refused above 65535 objects)."""
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if suffix not in (".tif", ".tiff", ".png"):
        raise PromptsegError(f"cannot write labels as {p.name!r}: use a .tif/.tiff or .png name.")
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        if labels.max(initial=0) > np.iinfo(np.uint16).max:
            raise PromptsegError(f"{int(labels.max())} objects do not fit a 16-bit PNG; write a .tif instead.")
        from skimage import io as skio

        skio.imsave(p, labels.astype(np.uint16), check_contrast=False)
    else:
        import tifffile

        tifffile.imwrite(p, labels.astype(np.uint32), compression="zlib")
    return p


def run_segment_all(args: argparse.Namespace) -> int:
    from ..backends import load_backend
    from ..io import read_image
    from ..auto.segment_all import segment_all

    if is_ome_zarr(args.image):  # larger than memory: tile by tile into sparse zarr labels
        return run_segment_all_large(args)
    inputs = _inputs(args.image)
    folder = args.image.is_dir()
    if folder and args.out.suffix:
        raise PromptsegError(f"{args.image} is a folder: --out must be a folder too, got {args.out}.")
    backend = load_backend(args.backend, device=args.device)
    limits = None
    if args.store is not None:
        from ..store import StoredBackend

        if folder:
            raise PromptsegError("--store holds the embeddings of one image or stack; it cannot serve a folder.")
        backend = StoredBackend.open(args.store, backend)
        limits = backend.contrast_limits
    options = {} if args.points_per_side is None else {"points_per_side": args.points_per_side}
    for path in inputs:
        image = read_image(path)
        keys, plane, shape = _planes(image, args.slice, path.name)
        labels = np.zeros(shape, np.uint32)
        count, seconds = 0, 0.0
        for key in keys:
            gen = segment_all(backend, plane(key), contrast_limits=limits, **options)
            while True:
                try:
                    _progress(next(gen), path.name + (f" slice {key[0]}" if key else ""))
                except StopIteration as stop:
                    result = stop.value
                    break
            labels[key if len(shape) > 2 else ()] = result.labels
            count, seconds = count + result.count, seconds + result.seconds
        sys.stderr.write("\n")
        out = args.out / f"{path.stem}_labels.tif" if folder else args.out
        out = write_labels(out, labels)
        print(f"{out}: {count} objects in {len(keys)} slice(s) ({seconds:.1f} s, {result.method}, "
              f"backend {backend.name})")
    return 0
